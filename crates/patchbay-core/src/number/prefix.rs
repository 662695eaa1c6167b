//! Number prefixes: `+` and 1 to 14 digits starting with an assigned country code, the key
//! of a prefix route (a DID block such as `+4420794600`, or a whole country such as `+44`).
//!
//! A prefix's key packs its digits four bits each, digit `i` (from 1) at bit `4i`, and its
//! length in bits 0-3, so it is never zero. The prefix of length `L` of a number is then its
//! digits as nibbles ([`super::key::digit_nibbles`]) masked to `L` digits, shifted and or'ed
//! with `L`: no division and no per-digit work, which is what longest-prefix matching does
//! once per candidate length.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use super::{country, key, slow, NormalizeError, E164, MAX_DIGITS, MAX_INPUT_LEN};

/// The most digits a prefix has: one less than a number, so a prefix always leaves at
/// least one digit to the numbers it covers.
pub const MAX_PREFIX_DIGITS: usize = MAX_DIGITS - 1;

/// A number prefix: `+` and 1 to 14 digits that start with an assigned country calling code
/// (`+44` alone is a country-wide prefix). It matches every number whose digits start with
/// its own, the number of the same digits included.
///
/// Parsing accepts what [`normalize`](crate::normalize) accepts for an international number,
/// plus a trailing wildcard: `x` or `X` once per digit, or one `*` (`+44 20 7946 00xx`,
/// `+4420794600*` and `+4420794600` are the same prefix). It displays and serializes as
/// `+digits`, and orders as its digits do as text (`+44` < `+440` < `+45`).
///
/// ```
/// use patchbay_core::{Prefix, E164};
/// let block: Prefix = "+44 20 7946 00xx".parse()?;
/// assert_eq!(block.to_string(), "+4420794600");
/// assert_eq!(block, "+4420794600*".parse()?);
/// assert!(block.matches("+442079460058".parse::<E164>()?));
/// assert!(!block.matches("+442079460158".parse::<E164>()?));
/// # Ok::<(), patchbay_core::NormalizeError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix(NonZeroU64);

impl Prefix {
    /// Parses `input` (see the type's documentation).
    pub fn parse(input: &str) -> Result<Prefix, NormalizeError> {
        if input.len() > MAX_INPUT_LEN {
            return Err(NormalizeError::TooLong { len: input.len() });
        }
        let (body, wildcards) = split_wildcards(input)?;
        let digits = slow::international_digits(body)?;
        if digits.len() + wildcards > MAX_DIGITS {
            return Err(NormalizeError::TooManyDigits {
                digits: digits.len() + wildcards,
            });
        }
        Prefix::from_ascii(&digits)
    }

    /// The prefix of ASCII `digits` (no `+`), checked.
    fn from_ascii(digits: &[u8]) -> Result<Prefix, NormalizeError> {
        if digits.is_empty() {
            return Err(NormalizeError::Empty);
        }
        if digits.len() > MAX_PREFIX_DIGITS {
            return Err(NormalizeError::PrefixTooLong {
                digits: digits.len(),
            });
        }
        let mut packed = digits.len() as u64;
        for (at, &digit) in digits.iter().enumerate() {
            let value = digit.wrapping_sub(b'0');
            if value > 9 {
                return Err(NormalizeError::NotCanonical);
            }
            packed |= u64::from(value) << (4 * (at + 1));
        }
        Prefix::checked(packed).map_err(|reason| reason.error())
    }

    /// A prefix from its key, checked: length 1 to 14, digits 0-9 and nothing past them, a
    /// first digit other than 0 and an assigned country code first.
    fn checked(key: u64) -> Result<Prefix, KeyFault> {
        let len = key_len(key);
        if !(1..=MAX_PREFIX_DIGITS as u32).contains(&len) {
            return Err(KeyFault::Length);
        }
        if key >> (4 * (len + 1)) != 0 || (1..=len).any(|at| digit(key, at) > 9) {
            return Err(KeyFault::Digits);
        }
        if digit(key, 1) == 0 {
            return Err(KeyFault::LeadingZero);
        }
        let (a, b, c) = (digit(key, 1), digit(key, 2), digit(key, 3));
        if country::code_len([a, a * 10 + b, a * 100 + b * 10 + c], len as usize).is_none() {
            return Err(KeyFault::CountryCode);
        }
        NonZeroU64::new(key).map(Prefix).ok_or(KeyFault::Length)
    }

    /// The prefix with this key, as a snapshot file holds it, or why it is not one.
    pub(crate) fn from_untrusted_key(key: u64) -> Result<Prefix, String> {
        Prefix::checked(key).map_err(|fault| fault.error().to_string())
    }

    /// The prefix of this key, which must come from [`Prefix::key`] or [`Prefix::checked`].
    pub(crate) fn from_key(key: u64) -> Option<Prefix> {
        NonZeroU64::new(key).map(Prefix)
    }

    /// The key a prefix index stores.
    #[inline]
    pub(crate) fn key(self) -> u64 {
        self.0.get()
    }

    /// The first `len` digits of `number`, if they are a prefix: `len` is 1 to 14, at most
    /// the number's length, and takes in its whole country code.
    pub fn of(number: E164, len: usize) -> Option<Prefix> {
        if len == 0 || len > number.len() || len > MAX_PREFIX_DIGITS {
            return None;
        }
        let nibbles = key::digit_nibbles(number.index_key());
        Prefix::checked(key_at(nibbles, len as u32)).ok()
    }

    /// How many digits it has (1 to 14).
    pub fn len(self) -> usize {
        key_len(self.0.get()) as usize
    }

    /// Never true: a prefix has at least one digit. Present because `len` is.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Its digits read as an integer: `4420794600` for `+4420794600`.
    pub fn as_u64(self) -> u64 {
        let key = self.0.get();
        (1..=key_len(key)).fold(0, |value, at| value * 10 + digit(key, at))
    }

    /// Whether `number`'s digits start with this prefix's.
    pub fn matches(self, number: E164) -> bool {
        let len = key_len(self.0.get());
        len as usize <= number.len()
            && key_at(key::digit_nibbles(number.index_key()), len) == self.0.get()
    }

    /// Its digits as text order them: the first digit in the top four bits, zeros after
    /// the last (a shorter prefix sorts before its extensions through the length).
    fn order(self) -> (u64, u32) {
        let key = self.0.get();
        (key::reversed_nibbles(key >> 4), key_len(key))
    }

    /// Writes `+digits` into `buf` and returns it, without allocating.
    pub fn write_to(self, buf: &mut [u8; 16]) -> &str {
        let key = self.0.get();
        let len = key_len(key) as usize;
        buf[0] = b'+';
        for (at, slot) in buf.iter_mut().enumerate().skip(1).take(len) {
            *slot = b'0' + digit(key, at as u32) as u8;
        }
        // Only ASCII digits and '+' were written.
        std::str::from_utf8(buf.get(..=len).unwrap_or_default()).unwrap_or_default()
    }
}

/// The key of the first `len` digits of a number whose digits are `nibbles` (digit 1 in the
/// lowest four bits). Not checked: it is a prefix's key only if a prefix index has it.
#[inline(always)]
pub(crate) fn key_at(nibbles: u64, len: u32) -> u64 {
    let mask = (1u64 << (4 * len)) - 1;
    ((nibbles & mask) << 4) | u64::from(len)
}

/// The length a prefix key records.
#[inline]
fn key_len(key: u64) -> u32 {
    (key & 0xF) as u32
}

/// Digit `at` (from 1) of a prefix key.
#[inline]
fn digit(key: u64, at: u32) -> u64 {
    key.checked_shr(4 * at).map_or(0, |shifted| shifted & 0xF)
}

/// What is wrong with a prefix key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFault {
    Length,
    Digits,
    LeadingZero,
    CountryCode,
}

impl KeyFault {
    fn error(self) -> NormalizeError {
        match self {
            KeyFault::Length => NormalizeError::PrefixTooLong {
                digits: MAX_PREFIX_DIGITS + 1,
            },
            KeyFault::Digits => NormalizeError::NotCanonical,
            KeyFault::LeadingZero => NormalizeError::LeadingZero,
            KeyFault::CountryCode => NormalizeError::UnknownCountryCode,
        }
    }
}

/// `input` without its trailing wildcard, and how many digits the wildcard stands for
/// (`x` per digit; `*` and no wildcard stand for none in particular, counted as 0).
/// Separators between the wildcard characters are allowed (`00 xx`). A `*` anywhere else,
/// or `x` and `*` together, is refused.
fn split_wildcards(input: &str) -> Result<(&str, usize), NormalizeError> {
    let trimmed = input.trim_end_matches(|c: char| c.is_whitespace() && !c.is_control());
    let mut body = trimmed;
    let (mut xs, mut stars) = (0usize, 0usize);
    while let Some(c) = body.chars().next_back() {
        match c {
            'x' | 'X' => xs += 1,
            '*' => stars += 1,
            ' ' | '-' | '.' => {}
            _ => break,
        }
        body = body.get(..body.len() - c.len_utf8()).unwrap_or_default();
    }
    // A separator run before the wildcard belongs to the number, not the wildcard.
    if xs == 0 && stars == 0 {
        body = trimmed;
    }
    if stars > 1 || (stars == 1 && xs > 0) || body.contains('*') {
        let offset = body.find('*').unwrap_or(body.len());
        return Err(NormalizeError::InvalidWildcard { offset });
    }
    if let Some(offset) = inner_x(body) {
        return Err(NormalizeError::InvalidWildcard { offset });
    }
    Ok((body, xs))
}

/// The byte offset of an `x` or `X` standing alone among the digits of `body` (`+44 20
/// 79x6`): a wildcard before the end, not a letter of a word such as `ext`.
fn inner_x(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let letter = |at: Option<usize>| {
        at.and_then(|at| bytes.get(at))
            .is_some_and(u8::is_ascii_alphabetic)
    };
    bytes
        .iter()
        .enumerate()
        .find(|&(at, &b)| {
            matches!(b, b'x' | b'X') && !letter(at.checked_sub(1)) && !letter(Some(at + 1))
        })
        .map(|(at, _)| at)
}

/// Why the key of a prefix index entry cannot be a prefix, for tests of files.
#[cfg(test)]
pub(crate) fn key_fault(key: u64) -> Option<String> {
    Prefix::checked(key).err().map(|fault| format!("{fault:?}"))
}

impl Ord for Prefix {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for Prefix {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.write_to(&mut [0; 16]))
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prefix({self})")
    }
}

impl FromStr for Prefix {
    type Err = NormalizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Prefix::parse(s)
    }
}

impl serde::Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.write_to(&mut [0; 16]))
    }
}

impl<'de> serde::Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Prefix;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number prefix such as +4420794600")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Prefix, E> {
                Prefix::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Prefix {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^\+[1-9][0-9]{0,13}$"))
            .description(Some(
                "A number prefix: '+' and 1 to 14 digits, starting with a country calling code.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Prefix {}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(s: &str) -> Prefix {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn wildcards_and_separators_name_one_prefix() {
        for input in [
            "+4420794600",
            "+44 20 7946 00xx",
            "+44 20 7946 00XX",
            "+4420794600*",
            "+44 20 7946 00 *",
            "+44-20-7946-00",
            "tel:+44-20-7946-00",
            " +44 (20) 7946 00x ",
        ] {
            assert_eq!(prefix(input).to_string(), "+4420794600", "{input}");
        }
        assert_eq!(prefix("+1").to_string(), "+1");
        assert_eq!(prefix("+44").len(), 2);
        assert_eq!(prefix("+1 415 xxx xxxx").to_string(), "+1415");
    }

    #[test]
    fn refuses_what_is_not_a_prefix() {
        let err = |s: &str| Prefix::parse(s).expect_err(s);
        assert_eq!(err(""), NormalizeError::Empty);
        assert_eq!(err("+"), NormalizeError::Empty);
        assert_eq!(err("*"), NormalizeError::Empty);
        assert_eq!(err("4420794600"), NormalizeError::NotInternational);
        assert_eq!(err("+35"), NormalizeError::UnknownCountryCode);
        assert_eq!(err("+8"), NormalizeError::UnknownCountryCode);
        assert_eq!(err("+0"), NormalizeError::LeadingZero);
        assert_eq!(
            err("+123456789012345"),
            NormalizeError::PrefixTooLong { digits: 15 }
        );
        assert_eq!(
            err("+1234567890123xxx"),
            NormalizeError::TooManyDigits { digits: 16 }
        );
        assert!(matches!(
            err("+44*20"),
            NormalizeError::InvalidWildcard { .. }
        ));
        assert!(matches!(
            err("+4420x*"),
            NormalizeError::InvalidWildcard { .. }
        ));
        assert!(matches!(
            err("+4420**"),
            NormalizeError::InvalidWildcard { .. }
        ));
        assert_eq!(
            err("+44 20 79x6"),
            NormalizeError::InvalidWildcard { offset: 9 }
        );
        assert_eq!(
            err("+4420X6xx"),
            NormalizeError::InvalidWildcard { offset: 5 }
        );
        assert_eq!(err("+44 20 7946 0000 ext 12"), NormalizeError::Extension);
        assert_eq!(err("+44 20 FLOWERS"), NormalizeError::Letters);
        assert!(matches!(
            err(&"1".repeat(65)),
            NormalizeError::TooLong { .. }
        ));
    }

    #[test]
    fn matches_numbers_that_start_with_it() {
        let number: E164 = "+442079460958".parse().expect("number");
        for len in 2..=12 {
            let p = Prefix::of(number, len).expect("prefix");
            assert_eq!(p.len(), len);
            assert!(p.matches(number));
            assert_eq!(p.as_u64(), number.as_u64() / 10u64.pow(12 - len as u32));
        }
        assert_eq!(Prefix::of(number, 1), None, "+4 is no country code");
        assert_eq!(Prefix::of(number, 13), None, "longer than the number");
        assert!(
            prefix("+442079460958").matches(number),
            "a number starts with itself"
        );
        assert!(!prefix("+4420794609581").matches(number));
        assert!(!prefix("+4420794601").matches(number));
        assert!(!prefix("+45").matches(number));
        let short: E164 = "+1234".parse().expect("number");
        assert!(prefix("+1").matches(short));
        assert!(prefix("+123").matches(short));
        assert!(!prefix("+12345").matches(short));
    }

    #[test]
    fn keys_round_trip_and_order_as_text() {
        let mut all: Vec<Prefix> = ["+45", "+4420794600", "+44", "+440", "+1", "+1415", "+4421"]
            .iter()
            .map(|s| prefix(s))
            .collect();
        for &p in &all {
            assert_eq!(Prefix::from_untrusted_key(p.key()), Ok(p));
            assert_eq!(prefix(&p.to_string()), p);
        }
        all.sort();
        let text: Vec<String> = all.iter().map(Prefix::to_string).collect();
        let mut by_text = text.clone();
        by_text.sort();
        assert_eq!(text, by_text);
    }

    #[test]
    fn untrusted_keys_are_checked() {
        let good = prefix("+4420").key();
        assert_eq!(key_fault(good), None);
        assert_eq!(key_fault(good & !0xF).as_deref(), Some("Length"));
        assert_eq!(key_fault((good & !0xF) | 15).as_deref(), Some("Length"));
        assert_eq!(key_fault(good | (1 << 40)).as_deref(), Some("Digits"));
        assert_eq!(key_fault(good | (0xA << 8)).as_deref(), Some("Digits"));
        assert_eq!(key_fault(0x0001).as_deref(), Some("LeadingZero"));
        assert_eq!(key_fault(0x0081).as_deref(), Some("CountryCode"));
    }
}
