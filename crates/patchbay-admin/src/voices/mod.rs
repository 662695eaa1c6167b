//! Voices: checking a connector's `voiceName` and deriving its `ttsLangCode`. The reference
//! platform asks Google Cloud Text-to-Speech whether a voice exists; patchbay instead
//! checks names against an offline [`VoiceCatalog`], by default the one built from
//! `data/voices.txt` (an approximation of Google's voice list as of 2025, whose header
//! documents the line format). An integrator can parse a catalog of their own with
//! [`VoiceCatalog::parse`], or supply any other [`VoiceValidator`]. [`tts_lang_code`]
//! derives the TTS language code from a voice name (`en-US-Neural2-A` gives `en-US`).

//!
//! `error.rs` holds the errors ([`VoiceError`], [`CatalogError`]), `format.rs` the catalog's
//! line format.

mod error;
mod format;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

pub use error::{CatalogDefect, CatalogError, VoiceError};
use format::parse_line;

/// The catalog shipped with patchbay, parsed by [`VoiceCatalog::builtin`].
const BUILTIN_CATALOG: &str = include_str!("../../data/voices.txt");

/// Longest part of a rejected input repeated back in an error message, in characters.
const MAX_ECHO_CHARS: usize = 80;

/// An example voice name for error messages.
const EXAMPLE: &str = "en-US-Neural2-A";

/// Decides whether a voice name may be used as a connector's `voiceName`.
///
/// [`VoiceCatalog`] is the offline implementation; an integrator may supply another, for
/// example one backed by their own list or by a cached probe of the live service.
pub trait VoiceValidator: Send + Sync {
    /// Returns `Ok(())` when `voice_name` is a usable voice.
    ///
    /// # Errors
    ///
    /// A [`VoiceError`] a person can act on: what is wrong with the name and, where
    /// possible, the close matches or the alternatives that do exist. A validator other
    /// than the catalog that has no better variant returns [`VoiceError::Refused`] with
    /// its reason.
    fn check(&self, voice_name: &str) -> Result<(), VoiceError>;
}

impl<T: VoiceValidator + ?Sized> VoiceValidator for &T {
    fn check(&self, voice_name: &str) -> Result<(), VoiceError> {
        (**self).check(voice_name)
    }
}

impl<T: VoiceValidator + ?Sized> VoiceValidator for Box<T> {
    fn check(&self, voice_name: &str) -> Result<(), VoiceError> {
        (**self).check(voice_name)
    }
}

impl<T: VoiceValidator + ?Sized> VoiceValidator for Arc<T> {
    fn check(&self, voice_name: &str) -> Result<(), VoiceError> {
        (**self).check(voice_name)
    }
}

/// A set of voice names, matched exactly and case-sensitively.
///
/// Built from text in the `data/voices.txt` format by [`VoiceCatalog::parse`]; the catalog
/// shipped with patchbay is [`VoiceCatalog::builtin`]. Every name in a catalog has the
/// shape `<locale>-<family>-<variant>`, and its locale is its [`tts_lang_code`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct VoiceCatalog {
    names: BTreeSet<Box<str>>,
}

impl VoiceCatalog {
    /// The catalog shipped with patchbay (`data/voices.txt`, compiled into the binary).
    ///
    /// It is parsed on first use and shared afterwards, so this returns a `&'static`
    /// reference; clone it to get an owned catalog to extend.
    ///
    /// # Panics
    ///
    /// Only if the shipped file is malformed, which a unit test rules out; no input
    /// reaches this.
    pub fn builtin() -> &'static VoiceCatalog {
        static BUILTIN: OnceLock<VoiceCatalog> = OnceLock::new();
        BUILTIN.get_or_init(|| match VoiceCatalog::parse(BUILTIN_CATALOG) {
            Ok(catalog) => catalog,
            Err(e) => panic!("the built-in voice catalog data/voices.txt is malformed: {e}"),
        })
    }

    /// Parses a catalog in the `data/voices.txt` format.
    ///
    /// Each non-blank line is `<locale> <family> <variants>` (whitespace-separated; `#`
    /// starts a comment), and stands for the names `<locale>-<family>-<variant>`:
    ///
    /// - `<locale>`: two hyphen-separated subtags forming a valid language tag (`en-US`,
    ///   `cmn-CN`); see [`check_language_tag`](crate::check_language_tag).
    /// - `<family>`: ASCII letters and digits in hyphen-separated parts, starting with a
    ///   letter (`Neural2`, `Chirp3-HD`).
    /// - `<variants>`: comma-separated items, no spaces: `A-J` (an inclusive range of
    ///   uppercase letters), a literal variant of ASCII letters and digits (`A`, `1`,
    ///   `Kore`), or `@chirp3` (the 30 Chirp3-HD star names, `Achernar` to
    ///   `Zubenelgenubi`).
    ///
    /// A name listed more than once is kept once. Empty text gives an empty catalog.
    ///
    /// # Errors
    ///
    /// A [`CatalogError`] naming the first malformed line by number (from 1) and what is
    /// wrong with it.
    pub fn parse(text: &str) -> Result<VoiceCatalog, CatalogError> {
        let mut names = BTreeSet::new();
        for (index, raw) in text.lines().enumerate() {
            parse_line(raw, &mut names).map_err(|defect| CatalogError {
                line_number: index + 1,
                line: raw.to_owned(),
                defect,
            })?;
        }
        Ok(VoiceCatalog { names })
    }

    /// Whether `name` is in the catalog (exact, case-sensitive match).
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// The number of names in the catalog.
    #[must_use]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the catalog has no names.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names, in ascending byte order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(|name| &**name)
    }

    /// The names that start with `prefix`, in ascending order.
    fn with_prefix(&self, prefix: &str) -> Vec<&str> {
        self.names
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|name| &**name)
            .take_while(|name| name.starts_with(prefix))
            .collect()
    }

    /// The families of `locale` and the variants of each, from the names in the catalog.
    fn families(&self, locale: &str) -> BTreeMap<&str, Vec<&str>> {
        let mut families: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let prefix = format!("{locale}-");
        for name in self.with_prefix(&prefix) {
            let rest = name.get(prefix.len()..).unwrap_or_default();
            if let Some((family, variant)) = rest.rsplit_once('-') {
                families.entry(family).or_default().push(variant);
            }
        }
        families
    }

    /// The locales in the catalog, in ascending order.
    fn locales(&self) -> BTreeSet<&str> {
        self.iter().filter_map(tts_lang_code).collect()
    }

    /// Why `voice_name`, which is not in the catalog, is rejected, with what to use instead.
    fn explain_unknown(&self, voice_name: &str) -> VoiceError {
        if voice_name.is_empty() {
            return VoiceError::Empty;
        }
        if let Some(exact) = self.iter().find(|n| n.eq_ignore_ascii_case(voice_name)) {
            return VoiceError::WrongCase {
                name: voice_name.to_owned(),
                meant: exact.to_owned(),
            };
        }
        let Some(locale) = tts_lang_code(voice_name) else {
            return VoiceError::Malformed {
                name: voice_name.to_owned(),
            };
        };
        let families = self.families(locale);
        if families.is_empty() {
            return self.explain_unknown_locale(voice_name, locale);
        }
        let rest = voice_name.get(locale.len() + 1..).unwrap_or_default();
        // The longest family that the rest of the name is, or starts with.
        let family = families
            .iter()
            .filter(|(family, _)| {
                rest == **family
                    || rest
                        .strip_prefix(**family)
                        .is_some_and(|tail| tail.starts_with('-'))
            })
            .max_by_key(|(family, _)| family.len());
        match family {
            Some((family, variants)) => VoiceError::UnknownVariant {
                name: voice_name.to_owned(),
                locale: locale.to_owned(),
                family: (*family).to_owned(),
                variants: owned(variants.iter().copied()),
                missing: rest == *family,
            },
            None => VoiceError::UnknownFamily {
                name: voice_name.to_owned(),
                locale: locale.to_owned(),
                families: owned(families.keys().copied()),
                example: families
                    .iter()
                    .next()
                    .and_then(|(family, variants)| {
                        variants.first().map(|v| format!("{locale}-{family}-{v}"))
                    })
                    .unwrap_or_else(|| EXAMPLE.to_owned()),
            },
        }
    }

    /// The rejection of `voice_name`, whose locale has no voices in the catalog.
    fn explain_unknown_locale(&self, voice_name: &str, locale: &str) -> VoiceError {
        let locales = self.locales();
        if locales.is_empty() {
            return VoiceError::EmptyCatalog {
                name: voice_name.to_owned(),
            };
        }
        let language = locale.split('-').next().unwrap_or_default();
        let same_language: Vec<&str> = locales
            .iter()
            .copied()
            .filter(|l| {
                l.split('-')
                    .next()
                    .is_some_and(|lang| lang.eq_ignore_ascii_case(language))
            })
            .collect();
        let (locales, same_language) = if same_language.is_empty() {
            (owned(locales), false)
        } else {
            (owned(same_language), true)
        };
        VoiceError::UnknownLocale {
            name: voice_name.to_owned(),
            locale: locale.to_owned(),
            locales,
            same_language,
        }
    }
}

/// `items` as owned strings, for an error that outlives the catalog.
fn owned<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items.into_iter().map(str::to_owned).collect()
}

impl fmt::Debug for VoiceCatalog {
    /// Shows the size, not the (thousands of) names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoiceCatalog")
            .field("len", &self.names.len())
            .finish_non_exhaustive()
    }
}

impl VoiceValidator for VoiceCatalog {
    /// Accepts exactly the names in the catalog. A rejection suggests the same name in
    /// the right case, the variants of the family, the families of the locale, or the
    /// locales of the language, whichever applies.
    fn check(&self, voice_name: &str) -> Result<(), VoiceError> {
        if self.contains(voice_name) {
            Ok(())
        } else {
            Err(self.explain_unknown(voice_name))
        }
    }
}

/// The TTS language code of a voice: its first two hyphen-separated segments
/// (`en-US-Neural2-A` gives `en-US`, `cmn-CN-Wavenet-A` gives `cmn-CN`).
///
/// Returns `None` unless the name has at least three segments and the first two are
/// non-empty. It checks shape only: the name need not be in any catalog, and the result
/// need not be a valid language tag (see [`check_language_tag`](crate::check_language_tag)).
#[must_use]
pub fn tts_lang_code(voice_name: &str) -> Option<&str> {
    let (language, rest) = voice_name.split_once('-')?;
    let (region, _) = rest.split_once('-')?;
    if language.is_empty() || region.is_empty() {
        return None;
    }
    voice_name.get(..language.len() + 1 + region.len())
}
