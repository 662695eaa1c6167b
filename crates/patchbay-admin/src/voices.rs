//! Voices: checking a connector's `voiceName` and deriving its `ttsLangCode`. The reference
//! platform asks Google Cloud Text-to-Speech whether a voice exists; patchbay instead
//! checks names against an offline [`VoiceCatalog`], by default the one built from
//! `data/voices.txt` (an approximation of Google's voice list as of 2025, whose header
//! documents the line format). An integrator can parse a catalog of their own with
//! [`VoiceCatalog::parse`], or supply any other [`VoiceValidator`]. [`tts_lang_code`]
//! derives the TTS language code from a voice name (`en-US-Neural2-A` gives `en-US`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use crate::lang::{check_language_tag, quote};

/// The catalog shipped with patchbay, parsed by [`VoiceCatalog::builtin`].
const BUILTIN_CATALOG: &str = include_str!("../data/voices.txt");

/// The Chirp3-HD voice names, which the catalog format abbreviates as `@chirp3`.
const CHIRP3_NAMES: [&str; 30] = [
    "Achernar",
    "Achird",
    "Algenib",
    "Algieba",
    "Alnilam",
    "Aoede",
    "Autonoe",
    "Callirrhoe",
    "Charon",
    "Despina",
    "Enceladus",
    "Erinome",
    "Fenrir",
    "Gacrux",
    "Iapetus",
    "Kore",
    "Laomedeia",
    "Leda",
    "Orus",
    "Puck",
    "Pulcherrima",
    "Rasalgethi",
    "Sadachbia",
    "Sadaltager",
    "Schedar",
    "Sulafat",
    "Umbriel",
    "Vindemiatrix",
    "Zephyr",
    "Zubenelgenubi",
];

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
    /// A message a person can act on: what is wrong with the name and, where possible,
    /// the close matches or the alternatives that do exist.
    fn check(&self, voice_name: &str) -> Result<(), String>;
}

impl<T: VoiceValidator + ?Sized> VoiceValidator for &T {
    fn check(&self, voice_name: &str) -> Result<(), String> {
        (**self).check(voice_name)
    }
}

impl<T: VoiceValidator + ?Sized> VoiceValidator for Box<T> {
    fn check(&self, voice_name: &str) -> Result<(), String> {
        (**self).check(voice_name)
    }
}

impl<T: VoiceValidator + ?Sized> VoiceValidator for Arc<T> {
    fn check(&self, voice_name: &str) -> Result<(), String> {
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
    ///   `cmn-CN`); see [`check_language_tag`].
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
    /// A message naming the first malformed line by number (from 1) and what is wrong
    /// with it.
    pub fn parse(text: &str) -> Result<VoiceCatalog, String> {
        let mut names = BTreeSet::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            parse_line(raw, &mut names).map_err(|e| {
                format!(
                    "voice catalog line {line_no}: {e} (line: {})",
                    quote(raw.trim(), MAX_ECHO_CHARS)
                )
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
    fn explain_unknown(&self, voice_name: &str) -> String {
        let shown = quote(voice_name, MAX_ECHO_CHARS);
        if voice_name.is_empty() {
            return format!(
                "voice name is empty; expected a Google Cloud Text-to-Speech voice name such \
                 as `{EXAMPLE}`"
            );
        }
        if let Some(exact) = self.iter().find(|n| n.eq_ignore_ascii_case(voice_name)) {
            return format!(
                "unknown voice {shown}: voice names are case-sensitive; did you mean `{exact}`?"
            );
        }
        let Some(locale) = tts_lang_code(voice_name) else {
            return format!(
                "voice name {shown} is not of the form <locale>-<family>-<variant>, such as \
                 `{EXAMPLE}`"
            );
        };
        let families = self.families(locale);
        if families.is_empty() {
            return self.explain_unknown_locale(&shown, locale);
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
            Some((family, variants)) => format!(
                "unknown voice {shown}: {}{locale} {family} voices have the variants {} \
                 (as in `{locale}-{family}-{}`)",
                if rest == *family {
                    "the variant is missing; "
                } else {
                    ""
                },
                variants.join(", "),
                variants.first().copied().unwrap_or_default()
            ),
            None => format!(
                "unknown voice {shown}: {locale} has no such voice family; its families are {} \
                 (for example `{}`)",
                families.keys().copied().collect::<Vec<_>>().join(", "),
                families
                    .iter()
                    .next()
                    .and_then(|(family, variants)| variants
                        .first()
                        .map(|v| format!("{locale}-{family}-{v}")))
                    .unwrap_or_else(|| EXAMPLE.to_owned())
            ),
        }
    }

    /// The message for a voice whose locale has no voices in the catalog.
    fn explain_unknown_locale(&self, shown: &str, locale: &str) -> String {
        let locales = self.locales();
        if locales.is_empty() {
            return format!("unknown voice {shown}: the voice catalog is empty");
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
        let locale_shown = quote(locale, MAX_ECHO_CHARS);
        if same_language.is_empty() {
            format!(
                "unknown voice {shown}: the voice catalog has no voices for locale \
                 {locale_shown}; it covers {}",
                locales.into_iter().collect::<Vec<_>>().join(", ")
            )
        } else {
            format!(
                "unknown voice {shown}: the voice catalog has no voices for locale \
                 {locale_shown}; for that language it has {}",
                same_language.join(", ")
            )
        }
    }
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
    fn check(&self, voice_name: &str) -> Result<(), String> {
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
/// need not be a valid language tag (see [`check_language_tag`]).
#[must_use]
pub fn tts_lang_code(voice_name: &str) -> Option<&str> {
    let (language, rest) = voice_name.split_once('-')?;
    let (region, _) = rest.split_once('-')?;
    if language.is_empty() || region.is_empty() {
        return None;
    }
    voice_name.get(..language.len() + 1 + region.len())
}

/// Parses one catalog line, adding its names to `names`.
fn parse_line(raw: &str, names: &mut BTreeSet<Box<str>>) -> Result<(), String> {
    let content = raw.split_once('#').map_or(raw, |(before, _)| before);
    let fields: Vec<&str> = content.split_whitespace().collect();
    let (locale, family, variants) = match fields.as_slice() {
        [] => return Ok(()),
        [locale, family, variants] => (*locale, *family, *variants),
        _ => {
            return Err(format!(
                "expected three fields `<locale> <family> <variants>`, such as \
                 `en-US Neural2 A,C-J`, found {}",
                fields.len()
            ))
        }
    };
    check_locale(locale)?;
    check_family(family)?;
    let prefix = format!("{locale}-{family}-");
    for item in variants.split(',') {
        expand_item(item, |variant| {
            names.insert(format!("{prefix}{variant}").into_boxed_str());
        })?;
    }
    Ok(())
}

/// Checks a catalog locale: two subtags forming a valid language tag.
fn check_locale(locale: &str) -> Result<(), String> {
    check_language_tag(locale).map_err(|e| format!("bad locale: {e}"))?;
    if locale.split('-').count() != 2 {
        return Err(format!(
            "locale {} must be exactly two subtags, such as `en-US` or `cmn-CN`, because a \
             voice's TTS language code is the first two segments of its name",
            quote(locale, MAX_ECHO_CHARS)
        ));
    }
    Ok(())
}

/// Checks a catalog family: hyphen-separated parts of ASCII letters and digits, starting
/// with a letter.
fn check_family(family: &str) -> Result<(), String> {
    let well_formed = family.starts_with(|c: char| c.is_ascii_alphabetic())
        && family
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "family {} must be ASCII letters and digits in hyphen-separated parts, starting \
             with a letter, such as `Neural2` or `Chirp3-HD`",
            quote(family, MAX_ECHO_CHARS)
        ))
    }
}

/// Expands one item of a variants list, calling `emit` for each variant it stands for.
fn expand_item(item: &str, mut emit: impl FnMut(&str)) -> Result<(), String> {
    if item.is_empty() {
        return Err(
            "empty item in the variants list (a leading, trailing or doubled `,`)".to_owned(),
        );
    }
    if item == "@chirp3" {
        for name in CHIRP3_NAMES {
            emit(name);
        }
        return Ok(());
    }
    if let Some((first, last)) = item.split_once('-') {
        return match (single_uppercase(first), single_uppercase(last)) {
            (Some(first), Some(last)) if first <= last => {
                let mut buf = [0u8; 4];
                for c in first..=last {
                    emit(c.encode_utf8(&mut buf));
                }
                Ok(())
            }
            (Some(_), Some(_)) => Err(format!(
                "range {} runs backwards; write it as `A-J`",
                quote(item, MAX_ECHO_CHARS)
            )),
            _ => Err(format!(
                "range {} must join two uppercase letters, such as `A-J`",
                quote(item, MAX_ECHO_CHARS)
            )),
        };
    }
    if item.bytes().all(|b| b.is_ascii_alphanumeric()) {
        emit(item);
        return Ok(());
    }
    Err(format!(
        "variant {} is not a letter range (`A-J`), a run of ASCII letters and digits \
         (`A`, `1`, `Kore`) or `@chirp3`",
        quote(item, MAX_ECHO_CHARS)
    ))
}

/// The character of `s` when `s` is exactly one ASCII uppercase letter.
fn single_uppercase(s: &str) -> Option<char> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_uppercase() => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: [&str; 5] = [
        "en-US-Neural2-A",
        "cmn-CN-Wavenet-A",
        "yue-HK-Standard-A",
        "en-US-Chirp3-HD-Kore",
        "fil-PH-Standard-A",
    ];

    #[test]
    fn builtin_parses_and_is_large() {
        assert_eq!(
            VoiceCatalog::parse(BUILTIN_CATALOG).map(|c| c.len()),
            Ok(VoiceCatalog::builtin().len())
        );
        assert!(VoiceCatalog::builtin().len() > 1000);
        assert!(!VoiceCatalog::builtin().is_empty());
    }

    #[test]
    fn builtin_contains_the_examples() {
        let catalog = VoiceCatalog::builtin();
        for name in EXAMPLES {
            assert!(catalog.contains(name), "{name}");
            assert_eq!(catalog.check(name), Ok(()), "{name}");
        }
        for name in ["en-US-Chirp-HD-D", "en-US-Polyglot-1", "en-US-Casual-K"] {
            assert!(catalog.contains(name), "{name}");
        }
    }

    #[test]
    fn builtin_covers_the_required_locales() {
        let locales = VoiceCatalog::builtin().locales();
        for locale in [
            "af-ZA", "ar-XA", "bg-BG", "bn-IN", "ca-ES", "cmn-CN", "cmn-TW", "cs-CZ", "da-DK",
            "de-DE", "el-GR", "en-AU", "en-GB", "en-IN", "en-US", "es-ES", "es-US", "et-EE",
            "eu-ES", "fi-FI", "fil-PH", "fr-CA", "fr-FR", "gl-ES", "gu-IN", "he-IL", "hi-IN",
            "hu-HU", "id-ID", "is-IS", "it-IT", "ja-JP", "kn-IN", "ko-KR", "lt-LT", "lv-LV",
            "ml-IN", "mr-IN", "ms-MY", "nb-NO", "nl-BE", "nl-NL", "pa-IN", "pl-PL", "pt-BR",
            "pt-PT", "ro-RO", "ru-RU", "sk-SK", "sr-RS", "sv-SE", "ta-IN", "te-IN", "th-TH",
            "tr-TR", "uk-UA", "ur-IN", "vi-VN", "yue-HK",
        ] {
            assert!(locales.contains(locale), "{locale}");
        }
    }

    #[test]
    fn builtin_rejects_unknown_names() {
        let catalog = VoiceCatalog::builtin();
        for name in [
            "en-US-Neural2-Z",
            "en-us-neural2-a",
            "",
            "xx-XX-Standard-A",
            "en-US-Neural2-a",
            "en-US-Neural2",
            "en-US-Neural2-A ",
            " en-US-Neural2-A",
            "en-US-Chirp3-HD-kore",
        ] {
            assert!(!catalog.contains(name), "{name:?}");
            assert!(catalog.check(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn every_name_has_a_valid_tts_lang_code() {
        for name in VoiceCatalog::builtin().iter() {
            let code = tts_lang_code(name);
            assert!(code.is_some(), "{name}");
            let code = code.unwrap_or_default();
            assert_eq!(check_language_tag(code), Ok(()), "{name}");
        }
    }

    #[test]
    fn iter_is_sorted_and_complete() {
        let catalog = VoiceCatalog::builtin();
        let names: Vec<&str> = catalog.iter().collect();
        assert_eq!(names.len(), catalog.len());
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn tts_lang_code_takes_the_first_two_segments() {
        assert_eq!(tts_lang_code("en-US-Neural2-A"), Some("en-US"));
        assert_eq!(tts_lang_code("cmn-CN-Wavenet-A"), Some("cmn-CN"));
        assert_eq!(tts_lang_code("yue-HK-Standard-A"), Some("yue-HK"));
        assert_eq!(tts_lang_code("en-US-Chirp3-HD-Kore"), Some("en-US"));
        assert_eq!(tts_lang_code("fil-PH-Standard-A"), Some("fil-PH"));
        assert_eq!(tts_lang_code("a-b-"), Some("a-b"));
        for name in [
            "",
            "en",
            "en-US",
            "-US-Neural2-A",
            "en--Neural2-A",
            "--",
            "---",
        ] {
            assert_eq!(tts_lang_code(name), None, "{name:?}");
        }
        assert_eq!(tts_lang_code("\u{e9}-\u{e9}-x"), Some("\u{e9}-\u{e9}"));
    }

    #[test]
    fn parse_expands_the_format() {
        let text = "\
# a comment

en-US Neural2 A,C-E,1 # trailing comment
  de-DE\tChirp3-HD  @chirp3
en-US Neural2 A
xx-YY Custom-Family-2 Kore,Z-Z
";
        let catalog = VoiceCatalog::parse(text).unwrap();
        let names: Vec<&str> = catalog.iter().collect();
        assert_eq!(names.len(), 5 + 30 + 2);
        for name in [
            "en-US-Neural2-A",
            "en-US-Neural2-C",
            "en-US-Neural2-D",
            "en-US-Neural2-E",
            "en-US-Neural2-1",
            "de-DE-Chirp3-HD-Achernar",
            "de-DE-Chirp3-HD-Zubenelgenubi",
            "xx-YY-Custom-Family-2-Kore",
            "xx-YY-Custom-Family-2-Z",
        ] {
            assert!(catalog.contains(name), "{name}");
        }
        assert!(!catalog.contains("en-US-Neural2-B"));
        assert!(VoiceCatalog::parse("").unwrap().is_empty());
        assert!(VoiceCatalog::parse("# only\n\n   \n").unwrap().is_empty());
    }

    #[test]
    fn parse_errors_name_the_line() {
        let cases = [
            ("en-US Neural2", "line 1:", "three fields"),
            ("\n\nen-US Neural2 A B", "line 3:", "three fields"),
            ("# ok\nen_US Neural2 A", "line 2:", "bad locale"),
            ("en Neural2 A", "line 1:", "exactly two subtags"),
            ("cmn-Hans-CN Neural2 A", "line 1:", "exactly two subtags"),
            ("en-US 2Neural A", "line 1:", "family"),
            ("en-US Neural2- A", "line 1:", "family"),
            ("en-US Neural2 A,,B", "line 1:", "empty item"),
            ("en-US Neural2 A,", "line 1:", "empty item"),
            ("en-US Neural2 J-A", "line 1:", "backwards"),
            ("en-US Neural2 a-j", "line 1:", "two uppercase letters"),
            ("en-US Neural2 A-", "line 1:", "two uppercase letters"),
            ("en-US Neural2 @chirp4", "line 1:", "not a letter range"),
            (
                "x\nen-US Standard A\nen-US Neural2 \u{c4}",
                "line 1:",
                "three fields",
            ),
            (
                "en-US Standard A\nen-US Neural2 \u{c4}",
                "line 2:",
                "not a letter range",
            ),
        ];
        for (text, line, reason) in cases {
            let err = VoiceCatalog::parse(text).unwrap_err();
            assert!(err.contains(line), "{text:?}: {err}");
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn rejections_suggest_what_to_use() {
        let catalog = VoiceCatalog::builtin();
        let check = |name: &str| catalog.check(name).unwrap_err();

        let err = check("");
        assert!(err.contains("empty") && err.contains(EXAMPLE), "{err}");

        let err = check("en-us-neural2-a");
        assert!(
            err.contains("case-sensitive") && err.contains("`en-US-Neural2-A`"),
            "{err}"
        );

        let err = check("en-US-Neural2-Z");
        assert!(err.contains("A, C, D, E"), "{err}");
        assert!(!err.contains("A, B"), "{err}");

        let err = check("en-US-Chirp3-HD-Nova");
        assert!(err.contains("Kore") && err.contains("Zephyr"), "{err}");

        let err = check("en-US-Chirp-HD-A");
        assert!(err.contains("Chirp-HD") && err.contains("D, F, O"), "{err}");

        let err = check("en-US-Neural2");
        assert!(err.contains("missing") && err.contains("A, C"), "{err}");

        let err = check("en-US-Journey-D");
        assert!(
            err.contains("Standard") && err.contains("Chirp3-HD"),
            "{err}"
        );
        assert!(err.contains("en-US-Casual-K"), "{err}");

        let err = check("xx-XX-Standard-A");
        assert!(
            err.contains("no voices for locale") && err.contains("en-US"),
            "{err}"
        );

        let err = check("en-NZ-Standard-A");
        assert!(err.contains("en-AU, en-GB, en-IN, en-US"), "{err}");
        assert!(!err.contains("de-DE"), "{err}");

        let err = check("Kore");
        assert!(err.contains("<locale>-<family>-<variant>"), "{err}");
    }

    #[test]
    fn rejections_of_huge_names_are_bounded() {
        let huge = format!("en-US-{}", "x".repeat(100_000));
        let err = VoiceCatalog::builtin().check(&huge).unwrap_err();
        assert!(err.len() < 1000, "{}", err.len());
        let huge_locale = format!("{}-US-Standard-A", "x".repeat(100_000));
        let err = VoiceCatalog::builtin().check(&huge_locale).unwrap_err();
        assert!(err.len() < 2000, "{}", err.len());
    }

    #[test]
    fn an_empty_catalog_rejects_everything() {
        let empty = VoiceCatalog::default();
        assert!(empty.is_empty());
        let err = empty.check("en-US-Neural2-A").unwrap_err();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn validators_compose() {
        let boxed: Box<dyn VoiceValidator> = Box::new(VoiceCatalog::builtin());
        assert_eq!(boxed.check("en-US-Neural2-A"), Ok(()));
        let shared: Arc<dyn VoiceValidator> = Arc::new(VoiceCatalog::builtin().clone());
        assert!(shared.check("en-US-Neural2-Z").is_err());
        assert_eq!(
            format!("{:?}", VoiceCatalog::default()),
            "VoiceCatalog { len: 0, .. }"
        );
    }
}
