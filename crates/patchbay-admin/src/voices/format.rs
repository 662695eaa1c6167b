//! The catalog's text format (`data/voices.txt`): one line a locale and family, its
//! variants as letters, ranges and the `@chirp3` names.

use std::collections::BTreeSet;

use super::CatalogDefect;
use crate::lang::check_language_tag;

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

/// Parses one catalog line, adding its names to `names`.
pub(super) fn parse_line(raw: &str, names: &mut BTreeSet<Box<str>>) -> Result<(), CatalogDefect> {
    let content = raw.split_once('#').map_or(raw, |(before, _)| before);
    let fields: Vec<&str> = content.split_whitespace().collect();
    let (locale, family, variants) = match fields.as_slice() {
        [] => return Ok(()),
        [locale, family, variants] => (*locale, *family, *variants),
        _ => {
            return Err(CatalogDefect::FieldCount {
                found: fields.len(),
            })
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
fn check_locale(locale: &str) -> Result<(), CatalogDefect> {
    check_language_tag(locale).map_err(CatalogDefect::BadLocale)?;
    if locale.split('-').count() != 2 {
        return Err(CatalogDefect::LocaleSubtags {
            locale: locale.to_owned(),
        });
    }
    Ok(())
}

/// Checks a catalog family: hyphen-separated parts of ASCII letters and digits, starting
/// with a letter.
fn check_family(family: &str) -> Result<(), CatalogDefect> {
    let well_formed = family.starts_with(|c: char| c.is_ascii_alphabetic())
        && family
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    if well_formed {
        Ok(())
    } else {
        Err(CatalogDefect::BadFamily {
            family: family.to_owned(),
        })
    }
}

/// Expands one item of a variants list, calling `emit` for each variant it stands for.
fn expand_item(item: &str, mut emit: impl FnMut(&str)) -> Result<(), CatalogDefect> {
    if item.is_empty() {
        return Err(CatalogDefect::EmptyItem);
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
            (Some(_), Some(_)) => Err(CatalogDefect::BackwardsRange {
                range: item.to_owned(),
            }),
            _ => Err(CatalogDefect::BadRange {
                range: item.to_owned(),
            }),
        };
    }
    if item.bytes().all(|b| b.is_ascii_alphanumeric()) {
        emit(item);
        return Ok(());
    }
    Err(CatalogDefect::BadVariant {
        item: item.to_owned(),
    })
}

/// The character of `s` when `s` is exactly one ASCII uppercase letter.
fn single_uppercase(s: &str) -> Option<char> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_uppercase() => Some(c),
        _ => None,
    }
}
