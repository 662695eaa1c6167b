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
/// A message naming what is wrong (an empty or misplaced subtag, a character that is not
/// an ASCII letter, digit or hyphen, an over-long tag) and giving a valid example.
pub fn check_language_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("language tag is empty; expected a tag such as `en-US`".to_owned());
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        let hint = if c == '_' {
            "; separate subtags with `-`, not `_` (`en-US`, not `en_US`)".to_owned()
        } else if c.is_whitespace() {
            ": whitespace is not allowed anywhere in a tag such as `en-US`".to_owned()
        } else {
            ": only ASCII letters, digits and `-` may appear, as in `en-US`".to_owned()
        };
        return Err(format!(
            "language tag {} contains {c:?}{hint}",
            quote(tag, MAX_ECHO_CHARS)
        ));
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!(
            "language tag {} is {} characters long; at most {MAX_TAG_LEN} are allowed \
             (a tag looks like `en-US` or `cmn-Hans-CN`)",
            quote(tag, MAX_ECHO_CHARS),
            tag.len()
        ));
    }
    if tag.split('-').any(str::is_empty) {
        return Err(format!(
            "language tag {} has an empty subtag (a leading, trailing or doubled `-`); \
             expected a tag such as `en-US`",
            quote(tag, MAX_ECHO_CHARS)
        ));
    }

    let mut subtags = tag.split('-');
    let language = subtags.next().unwrap_or_default();
    if !(2..=3).contains(&language.len()) || !is_alpha(language) {
        return Err(format!(
            "language tag {} must start with a language subtag of 2 or 3 letters \
             (`en`, `cmn`), as in `en-US`",
            quote(tag, MAX_ECHO_CHARS)
        ));
    }

    // Script, region and variants may each appear only after the ones before them.
    let mut stage = Stage::Language;
    let mut variants: Vec<&str> = Vec::new();
    for subtag in subtags {
        let kind = if is_script(subtag) {
            Stage::Script
        } else if is_region(subtag) {
            Stage::Region
        } else if is_variant(subtag) {
            Stage::Variant
        } else {
            return Err(format!(
                "language tag {}: subtag {} is not a script (4 letters, `Hans`), a region \
                 (2 letters or 3 digits, `US`, `419`) or a variant (5-8 letters and digits, \
                 or 4 starting with a digit, `1996`); expected a tag such as `en-US`",
                quote(tag, MAX_ECHO_CHARS),
                quote(subtag, MAX_ECHO_CHARS)
            ));
        };
        let in_order = match kind {
            Stage::Language => false,
            Stage::Script => stage == Stage::Language,
            Stage::Region => matches!(stage, Stage::Language | Stage::Script),
            Stage::Variant => true,
        };
        if !in_order {
            return Err(format!(
                "language tag {}: {} subtag {} is out of place; the order is \
                 language-Script-REGION-variant, as in `sr-Latn-RS` or `de-CH-1996`",
                quote(tag, MAX_ECHO_CHARS),
                kind.name(),
                quote(subtag, MAX_ECHO_CHARS)
            ));
        }
        if kind == Stage::Variant {
            if variants.iter().any(|v| v.eq_ignore_ascii_case(subtag)) {
                return Err(format!(
                    "language tag {} repeats the variant {}; list each variant once, as in \
                     `de-CH-1996`",
                    quote(tag, MAX_ECHO_CHARS),
                    quote(subtag, MAX_ECHO_CHARS)
                ));
            }
            variants.push(subtag);
        }
        stage = kind;
    }
    Ok(())
}

/// The positions of a language tag, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Language,
    Script,
    Region,
    Variant,
}

impl Stage {
    /// The subtag kind, as named in error messages.
    fn name(self) -> &'static str {
        match self {
            Stage::Language => "language",
            Stage::Script => "script",
            Stage::Region => "region",
            Stage::Variant => "variant",
        }
    }
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
        let err = check_language_tag(too_long).unwrap_err();
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
            let err = check_language_tag(tag).unwrap_err();
            assert!(err.contains(needle), "{tag:?}: {err}");
            assert!(err.contains("en-US") || err.contains("de-CH-1996"), "{err}");
        }
    }

    #[test]
    fn echo_of_huge_input_is_bounded() {
        let huge = "x".repeat(100_000);
        let err = check_language_tag(&huge).unwrap_err();
        assert!(err.len() < 300, "{err}");
        let huge_bad = format!("{huge} ");
        assert!(check_language_tag(&huge_bad).unwrap_err().len() < 300);
    }

    #[test]
    fn quote_cuts_on_char_boundaries() {
        assert_eq!(quote("ab", 5), "\"ab\"");
        assert_eq!(quote("\u{e9}\u{e9}\u{e9}", 2), "\"\u{e9}\u{e9}\"...");
    }
}
