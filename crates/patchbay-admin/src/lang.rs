//! Language tags: the structural check applied to a connector's ASR language code (and to
//! the locales of the voice catalog). [`check_language_tag`] accepts the BCP 47 shape
//! `language[-Script][-REGION][-variant...]` (`en`, `en-US`, `es-419`, `cmn-Hans-CN`,
//! `de-CH-1996`) case-insensitively, and rejects everything else with a message that says
//! which part is wrong and shows a valid tag. It checks form only, not whether a subtag is
//! registered: `qq-QQ` passes, as it would reach the speech service and fail there.

/// The longest tag accepted, in bytes (all accepted tags are ASCII).
const MAX_TAG_LEN: usize = 35;

/// Longest part of a rejected input repeated back in an error message, in characters.
const MAX_ECHO_CHARS: usize = 40;

/// Why [`check_language_tag`] rejected a tag.
///
/// Each variant names one defect and carries the input it was found in; its `Display` is a
/// message for the person who typed the tag, repeating at most 40 characters of it and
/// showing a valid tag. In every case the fix is to supply a tag of the shape
/// `language[-Script][-REGION][-variant...]`, such as `en-US`, `cmn-Hans-CN` or
/// `de-CH-1996`; the variant says which part to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LanguageTagError {
    /// The tag is empty: supply one, such as `en-US`.
    #[error("language tag is empty; expected a tag such as `en-US`")]
    Empty,
    /// The tag holds a character other than an ASCII letter, digit or `-`: remove it, or
    /// for `_` write `-` instead (`en-US`, not `en_US`).
    #[error(
        "language tag {} contains {found:?}{}",
        quote(.tag, MAX_ECHO_CHARS),
        .kind.hint()
    )]
    ForbiddenChar {
        /// The tag as given.
        tag: String,
        /// The first forbidden character in it.
        found: char,
        /// What kind of character it is.
        kind: ForbiddenCharKind,
    },
    /// The tag is longer than 35 characters: shorten it (drop variants), or check that the
    /// field holds a language tag at all.
    #[error(
        "language tag {} is {len} characters long; at most {MAX_TAG_LEN} are allowed \
         (a tag looks like `en-US` or `cmn-Hans-CN`)",
        quote(.tag, MAX_ECHO_CHARS)
    )]
    TooLong {
        /// The tag as given.
        tag: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The tag has an empty subtag (a leading, trailing or doubled `-`): remove the extra
    /// hyphen.
    #[error(
        "language tag {} has an empty subtag (a leading, trailing or doubled `-`); \
         expected a tag such as `en-US`",
        quote(.tag, MAX_ECHO_CHARS)
    )]
    EmptySubtag {
        /// The tag as given.
        tag: String,
    },
    /// The first subtag is not a language subtag of 2 or 3 letters: start the tag with one
    /// (`en`, `cmn`).
    #[error(
        "language tag {} must start with a language subtag of 2 or 3 letters \
         (`en`, `cmn`), as in `en-US`",
        quote(.tag, MAX_ECHO_CHARS)
    )]
    BadLanguage {
        /// The tag as given.
        tag: String,
    },
    /// A subtag after the language is not a script, a region or a variant: correct or
    /// remove it (extended language subtags, extensions and private use are not accepted).
    #[error(
        "language tag {}: subtag {} is not a script (4 letters, `Hans`), a region \
         (2 letters or 3 digits, `US`, `419`) or a variant (5-8 letters and digits, \
         or 4 starting with a digit, `1996`); expected a tag such as `en-US`",
        quote(.tag, MAX_ECHO_CHARS),
        quote(.subtag, MAX_ECHO_CHARS)
    )]
    UnrecognizedSubtag {
        /// The tag as given.
        tag: String,
        /// The subtag that is none of the known kinds.
        subtag: String,
    },
    /// A subtag comes after one that must follow it (a script after a region, two
    /// regions): reorder the subtags as language-Script-REGION-variant, or drop the extra
    /// one.
    #[error(
        "language tag {}: {kind} subtag {} is out of place; the order is \
         language-Script-REGION-variant, as in `sr-Latn-RS` or `de-CH-1996`",
        quote(.tag, MAX_ECHO_CHARS),
        quote(.subtag, MAX_ECHO_CHARS)
    )]
    OutOfPlace {
        /// The tag as given.
        tag: String,
        /// The misplaced subtag.
        subtag: String,
        /// What kind of subtag it is.
        kind: SubtagKind,
    },
    /// The same variant appears twice (compared without regard to case): list it once.
    #[error(
        "language tag {} repeats the variant {}; list each variant once, as in \
         `de-CH-1996`",
        quote(.tag, MAX_ECHO_CHARS),
        quote(.variant, MAX_ECHO_CHARS)
    )]
    RepeatedVariant {
        /// The tag as given.
        tag: String,
        /// The second occurrence of the variant, as written.
        variant: String,
    },
}

/// The kind of a character that may not appear in a language tag
/// ([`LanguageTagError::ForbiddenChar`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForbiddenCharKind {
    /// `_`, a common mistake for `-` (`en_US`): write `-`.
    Underscore,
    /// Whitespace, anywhere in the tag: trim or remove it.
    Whitespace,
    /// Any other character that is not an ASCII letter, digit or `-`: remove it.
    Other,
}

impl ForbiddenCharKind {
    /// The kind of `c`, which is not an ASCII letter, digit or `-`.
    fn of(c: char) -> ForbiddenCharKind {
        if c == '_' {
            ForbiddenCharKind::Underscore
        } else if c.is_whitespace() {
            ForbiddenCharKind::Whitespace
        } else {
            ForbiddenCharKind::Other
        }
    }

    /// The end of the error message for a character of this kind.
    fn hint(self) -> &'static str {
        match self {
            ForbiddenCharKind::Underscore => {
                "; separate subtags with `-`, not `_` (`en-US`, not `en_US`)"
            }
            ForbiddenCharKind::Whitespace => {
                ": whitespace is not allowed anywhere in a tag such as `en-US`"
            }
            ForbiddenCharKind::Other => {
                ": only ASCII letters, digits and `-` may appear, as in `en-US`"
            }
        }
    }
}

/// The kind of a subtag after the language subtag, in the order the kinds must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubtagKind {
    /// A script: 4 letters (`Hans`, `Latn`).
    Script,
    /// A region: 2 letters or 3 digits (`US`, `419`).
    Region,
    /// A variant: 5 to 8 letters and digits, or 4 starting with a digit (`1996`).
    Variant,
}

impl SubtagKind {
    /// The kind of `subtag`, or `None` when it is none of them.
    fn of(subtag: &str) -> Option<SubtagKind> {
        if is_script(subtag) {
            Some(SubtagKind::Script)
        } else if is_region(subtag) {
            Some(SubtagKind::Region)
        } else if is_variant(subtag) {
            Some(SubtagKind::Variant)
        } else {
            None
        }
    }

    /// Whether a subtag of this kind may follow `previous` (`None`: the language subtag).
    fn may_follow(self, previous: Option<SubtagKind>) -> bool {
        match self {
            SubtagKind::Script => previous.is_none(),
            SubtagKind::Region => matches!(previous, None | Some(SubtagKind::Script)),
            SubtagKind::Variant => true,
        }
    }
}

impl std::fmt::Display for SubtagKind {
    /// The kind in lower case, as in error messages: `script`, `region`, `variant`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SubtagKind::Script => "script",
            SubtagKind::Region => "region",
            SubtagKind::Variant => "variant",
        })
    }
}

/// Checks that `tag` is a well-formed language tag such as `en-US`.
///
/// The accepted shape is a language subtag of 2 or 3 letters, then optionally a script of
/// 4 letters (`Hans`), then optionally a region of 2 letters or 3 digits (`US`, `419`),
/// then any number of distinct variants of 5 to 8 letters and digits, or of 4 starting with
/// a digit (`1996`). Subtags are separated by single hyphens, letters may be in any case,
/// and the whole tag is at most 35 characters. Extended language subtags (`zh-yue`),
/// extensions (`-u-...`) and private use (`-x-...`) are not accepted.
///
/// # Errors
///
/// A [`LanguageTagError`] naming what is wrong (an empty or misplaced subtag, a character
/// that is not an ASCII letter, digit or hyphen, an over-long tag); its message gives a
/// valid example.
pub fn check_language_tag(tag: &str) -> Result<(), LanguageTagError> {
    if tag.is_empty() {
        return Err(LanguageTagError::Empty);
    }
    if let Some(found) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(LanguageTagError::ForbiddenChar {
            tag: tag.to_owned(),
            found,
            kind: ForbiddenCharKind::of(found),
        });
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(LanguageTagError::TooLong {
            tag: tag.to_owned(),
            len: tag.len(),
        });
    }
    if tag.split('-').any(str::is_empty) {
        return Err(LanguageTagError::EmptySubtag {
            tag: tag.to_owned(),
        });
    }

    let mut subtags = tag.split('-');
    let language = subtags.next().unwrap_or_default();
    if !(2..=3).contains(&language.len()) || !is_alpha(language) {
        return Err(LanguageTagError::BadLanguage {
            tag: tag.to_owned(),
        });
    }

    // Script, region and variants may each appear only after the ones before them.
    let mut previous: Option<SubtagKind> = None;
    let mut variants: Vec<&str> = Vec::new();
    for subtag in subtags {
        let Some(kind) = SubtagKind::of(subtag) else {
            return Err(LanguageTagError::UnrecognizedSubtag {
                tag: tag.to_owned(),
                subtag: subtag.to_owned(),
            });
        };
        if !kind.may_follow(previous) {
            return Err(LanguageTagError::OutOfPlace {
                tag: tag.to_owned(),
                subtag: subtag.to_owned(),
                kind,
            });
        }
        if kind == SubtagKind::Variant {
            if variants.iter().any(|v| v.eq_ignore_ascii_case(subtag)) {
                return Err(LanguageTagError::RepeatedVariant {
                    tag: tag.to_owned(),
                    variant: subtag.to_owned(),
                });
            }
            variants.push(subtag);
        }
        previous = Some(kind);
    }
    Ok(())
}

/// Whether `s` is all ASCII letters.
fn is_alpha(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// A script subtag: exactly 4 letters (`Hans`, `Latn`).
fn is_script(s: &str) -> bool {
    s.len() == 4 && is_alpha(s)
}

/// A region subtag: 2 letters (`US`) or 3 digits (`419`).
fn is_region(s: &str) -> bool {
    (s.len() == 2 && is_alpha(s)) || (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
}

/// A variant subtag: 5 to 8 letters and digits, or 4 starting with a digit (`1996`).
fn is_variant(s: &str) -> bool {
    let alnum = s.bytes().all(|b| b.is_ascii_alphanumeric());
    let starts_with_digit = s.bytes().next().is_some_and(|b| b.is_ascii_digit());
    alnum && ((5..=8).contains(&s.len()) || (s.len() == 4 && starts_with_digit))
}

/// `s` quoted and escaped for an error message, cut to `max_chars` characters (marked with
/// `...`) so that a huge input does not make a huge message.
pub(crate) fn quote(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{:?}...", s.get(..cut).unwrap_or_default()),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_tags() {
        for tag in [
            "en",
            "en-US",
            "es-419",
            "cmn-Hans-CN",
            "yue-HK",
            "fil-PH",
            "sr-Latn-RS",
            "de-CH-1996",
            "EN-us",
            "zh-hant",
            "en-Latn",
            "sl-rozaj-biske",
            "de-DE-1901-1996",
            "ar-XA",
        ] {
            assert_eq!(check_language_tag(tag), Ok(()), "{tag}");
        }
    }

    #[test]
    fn rejects_malformed_tags() {
        for tag in [
            "",
            "en_US",
            "en-",
            "-US",
            "english",
            "en-USA1",
            "e",
            "en--US",
            "en US",
            " en-US",
            "en-US\n",
            "\u{e9}n-US",
            "en-\u{200b}US",
            "12-US",
            "en-US-Latn",
            "en-US-GB",
            "en-Latn-Hans",
            "en-1996-US",
            "de-CH-1996-1996",
            "en-abc",
            "en-x-private",
            "en-US-abcdefghi",
        ] {
            assert!(check_language_tag(tag).is_err(), "{tag:?} was accepted");
        }
    }

    #[test]
    fn length_limit_is_35() {
        // "en-US" plus five 5-letter variants and 5 hyphens = 35.
        let longest = "en-US-aaaaa-bbbbb-ccccc-ddddd-eeeee";
        assert_eq!(longest.len(), 35);
        assert_eq!(check_language_tag(longest), Ok(()));
        let too_long = "en-US-aaaaa-bbbbb-ccccc-ddddd-eeeeee";
        let err = check_language_tag(too_long).unwrap_err().to_string();
        assert!(err.contains("at most 35"), "{err}");
    }

    #[test]
    fn messages_say_what_is_wrong_and_show_a_valid_tag() {
        let cases = [
            ("", "empty"),
            ("en_US", "not `_`"),
            ("en-", "empty subtag"),
            ("-US", "empty subtag"),
            ("english", "2 or 3 letters"),
            ("e", "2 or 3 letters"),
            ("en-USA1", "\"USA1\" is not a script"),
            ("en US", "whitespace"),
            ("\u{e9}n", "only ASCII letters"),
            ("en-US-Latn", "script subtag \"Latn\" is out of place"),
            ("de-CH-1996-1996", "repeats the variant"),
        ];
        for (tag, needle) in cases {
            let err = check_language_tag(tag).unwrap_err().to_string();
            assert!(err.contains(needle), "{tag:?}: {err}");
            assert!(err.contains("en-US") || err.contains("de-CH-1996"), "{err}");
        }
    }

    #[test]
    fn echo_of_huge_input_is_bounded() {
        let huge = "x".repeat(100_000);
        let err = check_language_tag(&huge).unwrap_err().to_string();
        assert!(err.len() < 300, "{err}");
        let huge_bad = format!("{huge} ");
        assert!(check_language_tag(&huge_bad).unwrap_err().to_string().len() < 300);
    }

    #[test]
    fn errors_name_the_defect() {
        assert_eq!(check_language_tag(""), Err(LanguageTagError::Empty));
        assert!(matches!(
            check_language_tag("en_US"),
            Err(LanguageTagError::ForbiddenChar {
                found: '_',
                kind: ForbiddenCharKind::Underscore,
                ..
            })
        ));
        assert!(matches!(
            check_language_tag("en US"),
            Err(LanguageTagError::ForbiddenChar {
                kind: ForbiddenCharKind::Whitespace,
                ..
            })
        ));
        assert!(matches!(
            check_language_tag("\u{e9}n"),
            Err(LanguageTagError::ForbiddenChar {
                found: '\u{e9}',
                kind: ForbiddenCharKind::Other,
                ..
            })
        ));
        assert!(matches!(
            check_language_tag("en-US-aaaaa-bbbbb-ccccc-ddddd-eeeeee"),
            Err(LanguageTagError::TooLong { len: 36, .. })
        ));
        assert!(matches!(
            check_language_tag("en--US"),
            Err(LanguageTagError::EmptySubtag { .. })
        ));
        assert!(matches!(
            check_language_tag("12-US"),
            Err(LanguageTagError::BadLanguage { .. })
        ));
        assert_eq!(
            check_language_tag("en-USA1"),
            Err(LanguageTagError::UnrecognizedSubtag {
                tag: "en-USA1".into(),
                subtag: "USA1".into(),
            })
        );
        assert_eq!(
            check_language_tag("en-US-Latn"),
            Err(LanguageTagError::OutOfPlace {
                tag: "en-US-Latn".into(),
                subtag: "Latn".into(),
                kind: SubtagKind::Script,
            })
        );
        assert!(matches!(
            check_language_tag("en-1996-US"),
            Err(LanguageTagError::OutOfPlace {
                kind: SubtagKind::Region,
                ..
            })
        ));
        assert!(matches!(
            check_language_tag("de-CH-1996-1996"),
            Err(LanguageTagError::RepeatedVariant { variant, .. }) if variant == "1996"
        ));
    }

    #[test]
    fn messages_are_exact() {
        let message = |tag: &str| check_language_tag(tag).unwrap_err().to_string();
        assert_eq!(
            message(""),
            "language tag is empty; expected a tag such as `en-US`"
        );
        assert_eq!(
            message("en_US"),
            "language tag \"en_US\" contains '_'; separate subtags with `-`, not `_` \
             (`en-US`, not `en_US`)"
        );
        assert_eq!(
            message("en-US-Latn"),
            "language tag \"en-US-Latn\": script subtag \"Latn\" is out of place; the order \
             is language-Script-REGION-variant, as in `sr-Latn-RS` or `de-CH-1996`"
        );
        assert_eq!(
            message("en-US-aaaaa-bbbbb-ccccc-ddddd-eeeeee"),
            "language tag \"en-US-aaaaa-bbbbb-ccccc-ddddd-eeeeee\" is 36 characters long; at \
             most 35 are allowed (a tag looks like `en-US` or `cmn-Hans-CN`)"
        );
        let err: Box<dyn std::error::Error> = Box::new(LanguageTagError::Empty);
        assert!(err.source().is_none());
    }

    #[test]
    fn quote_cuts_on_char_boundaries() {
        assert_eq!(quote("ab", 5), "\"ab\"");
        assert_eq!(quote("\u{e9}\u{e9}\u{e9}", 2), "\"\u{e9}\u{e9}\"...");
    }
}
