//! Whether an imported number is assignable: valid per the numbering metadata, or (relaxed)
//! of a possible length for its country, for ranges newer than the metadata.
//!
//! Normalization decides which number was meant; this decides whether to accept it into the
//! system. Lookups never re-validate.

use patchbay_core::E164;
use phonenumber::Mode;

use crate::error::{AdminError, ErrorCode};

/// How strictly imports check numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumberCheck {
    /// Valid per the metadata (the default).
    #[default]
    Valid,
    /// Of a possible length for the country code.
    Possible,
}

/// The metadata's reading of `number`, if it reads the same digits (`phonenumber` rewrites
/// some inputs, such as a trunk `0` after the country code, and would validate the rewrite).
fn parse(number: E164) -> Option<phonenumber::PhoneNumber> {
    let text = number.to_string();
    std::panic::catch_unwind(move || {
        let parsed = phonenumber::parse(None, &text).ok()?;
        (parsed.format().mode(Mode::E164).to_string() == text).then_some(parsed)
    })
    .ok()
    .flatten()
}

fn is_valid(number: E164) -> bool {
    parse(number)
        .is_some_and(|parsed| std::panic::catch_unwind(move || parsed.is_valid()).unwrap_or(false))
}

/// Whether the national number's length is one that some kind of number (fixed line,
/// mobile, toll free, ...) has in a region of the country code. The general descriptor's
/// lengths are not filled in by the metadata loader, so the union is taken here.
fn is_possible(number: E164) -> bool {
    let national_len = number.len() - number.country_code().to_string().len();
    let Ok(national_len) = u16::try_from(national_len) else {
        return false;
    };
    let metas = phonenumber::metadata::DATABASE
        .by_code(&number.country_code())
        .unwrap_or_default();
    metas.iter().any(|meta| {
        let d = meta.descriptors();
        [
            Some(d.general()),
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .any(|desc| desc.possible_length().contains(&national_len))
    })
}

/// Checks `number` at `level`; the error says what to do.
pub(crate) fn check(number: E164, level: NumberCheck) -> Result<(), AdminError> {
    let ok = match level {
        NumberCheck::Valid => is_valid(number),
        NumberCheck::Possible => is_possible(number),
    };
    if ok {
        return Ok(());
    }
    let hint = trunk_prefix_hint(number)
        .map(|fixed| {
            format!(
                " (did you mean {fixed}? drop the national trunk prefix after the country code)"
            )
        })
        .unwrap_or_default();
    let what = match level {
        NumberCheck::Valid => "is not a valid number in its country's numbering plan",
        NumberCheck::Possible => "does not have a possible length for its country",
    };
    Err(AdminError::new(
        ErrorCode::InvalidPhoneNumber,
        format!("{number} {what}{hint}"),
    ))
}

/// `+44 0 20 ...` written as `+44020...`: the number without the `0`, when that is valid.
fn trunk_prefix_hint(number: E164) -> Option<String> {
    let text = number.to_string();
    let cc = number.country_code().to_string();
    let national = text.get(1 + cc.len()..)?;
    let stripped = national.strip_prefix('0')?;
    let candidate = E164::parse_canonical(&format!("+{cc}{stripped}")).ok()?;
    is_valid(candidate).then(|| {
        let parsed = parse(candidate);
        parsed.map_or_else(
            || candidate.to_string(),
            |p| p.format().mode(Mode::E164).to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164 {
        E164::parse_canonical(s).expect("canonical")
    }

    #[test]
    fn valid_and_possible_numbers() {
        check(n("+442079460958"), NumberCheck::Valid).expect("valid London number");
        check(n("+14155552671"), NumberCheck::Valid).expect("valid US number");
        let err = check(n("+4402079460958"), NumberCheck::Valid).expect_err("trunk prefix");
        assert_eq!(err.code(), ErrorCode::InvalidPhoneNumber);
        assert!(err.message().contains("+442079460958"), "{}", err.message());
        // 12 digits after +1 are never possible; a fictional 555-01xx is possible but invalid.
        assert!(check(n("+1415555267123"), NumberCheck::Possible).is_err());
        assert!(check(n("+14155550100"), NumberCheck::Possible).is_ok());
    }
}
