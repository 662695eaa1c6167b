//! Why a voice name, or a line of a voice catalog, is refused.

use std::fmt;

use super::{EXAMPLE, MAX_ECHO_CHARS};
use crate::lang::{quote, LanguageTagError};

/// Why a [`VoiceValidator`](crate::VoiceValidator) rejected a voice name.
///
/// The variants other than [`VoiceError::Refused`] are the rejections of a
/// [`VoiceCatalog`](crate::VoiceCatalog): each carries the name and what the catalog offers instead, and its
/// `Display` is a message for the person who chose the voice (repeating at most 80
/// characters of the name). The fix is to pick a name the message suggests, or, when the
/// voice does exist, to use a catalog that lists it ([`VoiceCatalog::parse`](crate::VoiceCatalog::parse)) or a
/// validator of your own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoiceError {
    /// The name is empty: supply a voice name such as `en-US-Neural2-A`.
    Empty,
    /// The name differs from a voice of the catalog only in case: voice names are
    /// case-sensitive, so use `meant` as written.
    WrongCase {
        /// The name as given.
        name: String,
        /// The voice of the catalog with the same letters.
        meant: String,
    },
    /// The name is not of the form `<locale>-<family>-<variant>`: supply a whole voice
    /// name such as `en-US-Neural2-A`, not a family, a variant or a language code.
    Malformed {
        /// The name as given.
        name: String,
    },
    /// The catalog has no voices for the name's locale: pick one of `locales`, or add the
    /// locale's voices to the catalog if the service has them.
    UnknownLocale {
        /// The name as given.
        name: String,
        /// Its locale (its first two segments).
        locale: String,
        /// The locales suggested instead, in ascending order.
        locales: Vec<String>,
        /// Whether `locales` are the catalog's locales of the same language (`true`), or
        /// all of its locales because it has none of that language (`false`).
        same_language: bool,
    },
    /// The locale has voices, but none of the name's family: pick one of `families`, as
    /// in `example`.
    UnknownFamily {
        /// The name as given.
        name: String,
        /// Its locale (its first two segments).
        locale: String,
        /// The families of the locale, in ascending order.
        families: Vec<String>,
        /// A voice of the locale (the first variant of its first family).
        example: String,
    },
    /// The family exists in the locale but not with the name's variant (or the name stops
    /// after the family): append one of `variants`.
    UnknownVariant {
        /// The name as given.
        name: String,
        /// Its locale (its first two segments).
        locale: String,
        /// The family the name starts with (the longest that matches).
        family: String,
        /// The variants of the family in the locale, in ascending order.
        variants: Vec<String>,
        /// Whether the name has no variant at all (it ends with the family).
        missing: bool,
    },
    /// The catalog has no voices at all, so every name is rejected: configure a catalog
    /// with voices, such as [`VoiceCatalog::builtin`](crate::VoiceCatalog::builtin).
    EmptyCatalog {
        /// The name as given.
        name: String,
    },
    /// Rejected by a validator other than [`VoiceCatalog`](crate::VoiceCatalog), for `reason` (shown as given):
    /// act on the reason, such as retrying when a live probe could not be made.
    Refused {
        /// Why the voice cannot be used, as a sentence for the person who chose it.
        reason: String,
    },
}

impl VoiceError {
    /// A [`VoiceError::Refused`] with `reason`, for validators other than the catalog.
    pub fn refused(reason: impl Into<String>) -> VoiceError {
        VoiceError::Refused {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for VoiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |name: &str| quote(name, MAX_ECHO_CHARS);
        match self {
            VoiceError::Empty => write!(
                f,
                "voice name is empty; expected a Google Cloud Text-to-Speech voice name such \
                 as `{EXAMPLE}`"
            ),
            VoiceError::WrongCase { name, meant } => write!(
                f,
                "unknown voice {}: voice names are case-sensitive; did you mean `{meant}`?",
                shown(name)
            ),
            VoiceError::Malformed { name } => write!(
                f,
                "voice name {} is not of the form <locale>-<family>-<variant>, such as \
                 `{EXAMPLE}`",
                shown(name)
            ),
            VoiceError::UnknownLocale {
                name,
                locale,
                locales,
                same_language,
            } => write!(
                f,
                "unknown voice {}: the voice catalog has no voices for locale {}; {} {}",
                shown(name),
                shown(locale),
                if *same_language {
                    "for that language it has"
                } else {
                    "it covers"
                },
                locales.join(", ")
            ),
            VoiceError::UnknownFamily {
                name,
                locale,
                families,
                example,
            } => write!(
                f,
                "unknown voice {}: {locale} has no such voice family; its families are {} \
                 (for example `{example}`)",
                shown(name),
                families.join(", ")
            ),
            VoiceError::UnknownVariant {
                name,
                locale,
                family,
                variants,
                missing,
            } => write!(
                f,
                "unknown voice {}: {}{locale} {family} voices have the variants {} \
                 (as in `{locale}-{family}-{}`)",
                shown(name),
                if *missing {
                    "the variant is missing; "
                } else {
                    ""
                },
                variants.join(", "),
                variants.first().map_or("", String::as_str)
            ),
            VoiceError::EmptyCatalog { name } => write!(
                f,
                "unknown voice {}: the voice catalog is empty",
                shown(name)
            ),
            VoiceError::Refused { reason } => f.write_str(reason),
        }
    }
}

impl std::error::Error for VoiceError {}

/// Why [`VoiceCatalog::parse`](crate::VoiceCatalog::parse) rejected a catalog: the first malformed line, by number.
///
/// `Display` gives `voice catalog line {n}: {defect} (line: {the line, quoted})`. Fix the
/// line as [`CatalogError::defect`] says (the format is documented on
/// [`VoiceCatalog::parse`](crate::VoiceCatalog::parse) and in the header of `data/voices.txt`) and parse again; later
/// lines are checked only once this one is well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    pub(super) line_number: usize,
    pub(super) line: String,
    pub(super) defect: CatalogDefect,
}

impl CatalogError {
    /// The number of the malformed line, counting from 1.
    #[must_use]
    pub fn line_number(&self) -> usize {
        self.line_number
    }

    /// The malformed line as written (without its line ending).
    #[must_use]
    pub fn line(&self) -> &str {
        &self.line
    }

    /// What is wrong with the line.
    #[must_use]
    pub fn defect(&self) -> &CatalogDefect {
        &self.defect
    }
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "voice catalog line {}: {} (line: {})",
            self.line_number,
            self.defect,
            quote(self.line.trim(), MAX_ECHO_CHARS)
        )
    }
}

impl std::error::Error for CatalogError {
    /// The [`LanguageTagError`] of a [`CatalogDefect::BadLocale`]; `None` otherwise.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.defect {
            CatalogDefect::BadLocale(err) => Some(err),
            _ => None,
        }
    }
}

/// What is wrong with a line of a voice catalog ([`CatalogError::defect`]).
///
/// A line is `<locale> <family> <variants>` (see [`VoiceCatalog::parse`](crate::VoiceCatalog::parse)); each variant
/// names the part to correct. Its `Display` is the middle of the [`CatalogError`] message,
/// repeating at most 80 characters of the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogDefect {
    /// The line does not have exactly three whitespace-separated fields: write
    /// `<locale> <family> <variants>`, with no spaces inside the variants list.
    #[error(
        "expected three fields `<locale> <family> <variants>`, such as \
         `en-US Neural2 A,C-J`, found {found}"
    )]
    FieldCount {
        /// How many fields the line has.
        found: usize,
    },
    /// The locale is not a valid language tag: correct it as the wrapped error says.
    #[error("bad locale: {0}")]
    BadLocale(LanguageTagError),
    /// The locale is a valid tag but not exactly two subtags: write language and region
    /// only (`en-US`, `cmn-CN`), since a voice's TTS language code is the first two
    /// segments of its name.
    #[error(
        "locale {} must be exactly two subtags, such as `en-US` or `cmn-CN`, because a \
         voice's TTS language code is the first two segments of its name",
        quote(.locale, MAX_ECHO_CHARS)
    )]
    LocaleSubtags {
        /// The locale as written.
        locale: String,
    },
    /// The family is not hyphen-separated parts of ASCII letters and digits starting with
    /// a letter: correct it (`Neural2`, `Chirp3-HD`).
    #[error(
        "family {} must be ASCII letters and digits in hyphen-separated parts, starting \
         with a letter, such as `Neural2` or `Chirp3-HD`",
        quote(.family, MAX_ECHO_CHARS)
    )]
    BadFamily {
        /// The family as written.
        family: String,
    },
    /// The variants list has an empty item (a leading, trailing or doubled `,`): remove
    /// the extra comma.
    #[error("empty item in the variants list (a leading, trailing or doubled `,`)")]
    EmptyItem,
    /// A range of letters ends before it starts (`J-A`): swap its ends.
    #[error("range {} runs backwards; write it as `A-J`", quote(.range, MAX_ECHO_CHARS))]
    BackwardsRange {
        /// The range as written.
        range: String,
    },
    /// An item with a `-` does not join two uppercase letters: write a range such as
    /// `A-J`, or list the variants one by one.
    #[error(
        "range {} must join two uppercase letters, such as `A-J`",
        quote(.range, MAX_ECHO_CHARS)
    )]
    BadRange {
        /// The item as written.
        range: String,
    },
    /// An item is not a range, a run of ASCII letters and digits or `@chirp3`: correct it
    /// (`A`, `1`, `Kore`, `A-J`, `@chirp3`).
    #[error(
        "variant {} is not a letter range (`A-J`), a run of ASCII letters and digits \
         (`A`, `1`, `Kore`) or `@chirp3`",
        quote(.item, MAX_ECHO_CHARS)
    )]
    BadVariant {
        /// The item as written.
        item: String,
    },
}
