//! Whether an imported number is assignable: valid per the numbering metadata, or (relaxed)
//! of a possible length for its country, for ranges newer than the metadata.
//!
//! Normalization decides which number was meant; this decides whether to accept it into the
//! system. Lookups never re-validate.

use patchbay_core::E164;
use rlibphonenumber::{NumberLengthType, PhoneNumber, PHONE_NUMBER_UTIL};

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

fn decimal_len(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// `number` as libphonenumber represents it: the country code and the national significant
/// number as an integer, with the leading zeros it would drop recorded beside it (as its
/// parser does for Italian numbers). Built from the digits, not parsed from text, so the
/// check is of exactly these digits: the parser would strip a trunk `0` after the country
/// code and validate the rewrite.
fn metadata_number(number: E164) -> PhoneNumber {
    let country_code = number.country_code();
    let national_len = number
        .len()
        .saturating_sub(decimal_len(u64::from(country_code)));
    let national_number = number.national_number();
    let zeros = national_len.saturating_sub(decimal_len(national_number));
    PhoneNumber {
        country_code: i32::from(country_code),
        national_number,
        italian_leading_zero: (zeros > 0).then_some(true),
        number_of_leading_zeros: (zeros > 1).then(|| i32::try_from(zeros).unwrap_or(1)),
        ..PhoneNumber::default()
    }
}

/// Valid per the metadata. A panic inside the metadata library counts as "not valid".
fn is_valid(number: E164) -> bool {
    let parsed = metadata_number(number);
    std::panic::catch_unwind(|| PHONE_NUMBER_UTIL.is_valid_number(&parsed)).unwrap_or(false)
}

/// Of a length that some kind of number (fixed line, mobile, toll free, ...) has in the
/// country code's main region (lengths that only dial locally do not count), or valid: the
/// relaxed check never refuses what the strict one accepts (`+1 310 1200` is valid in a
/// region that shares `+1`, and too short for the US).
fn is_possible(number: E164) -> bool {
    let parsed = metadata_number(number);
    std::panic::catch_unwind(|| PHONE_NUMBER_UTIL.is_possible_number_with_reason(&parsed))
        .is_ok_and(|reason| reason == Ok(NumberLengthType::IsPossible))
        || is_valid(number)
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
fn trunk_prefix_hint(number: E164) -> Option<E164> {
    let text = number.to_string();
    let cc = number.country_code().to_string();
    let national = text.get(1 + cc.len()..)?;
    let stripped = national.strip_prefix('0')?;
    let candidate = E164::parse_canonical(&format!("+{cc}{stripped}")).ok()?;
    is_valid(candidate).then_some(candidate)
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
