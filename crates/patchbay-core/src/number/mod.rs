//! Canonical E.164 numbers and the normalization of everything people and peers send.
//!
//! [`E164`] is a number as one `u64` (its digits packed four bits each, see `key`).
//! [`normalize`] turns an input into one, in tiers: canonical `+digits` (the per-call fast
//! path: no allocation, no metadata beyond the country-code table), visual separators,
//! `tel:`/`sip:` URIs, and only with a default [`Region`], national formats and international
//! call prefixes through libphonenumber's metadata (`rlibphonenumber`). Every rejection is a
//! [`NormalizeError`] that names its reason. See `docs/numbers.md` for the rules.
//!
//! International input is taken literally: `+44 020 7946 0958` is `+4402079460958`, not
//! `+442079460958` as libphonenumber would guess from UK metadata. Which digits follow a
//! country code never depends on a metadata version; import-time validity checks catch the
//! mistake instead of lookups silently routing to a guessed number.

mod country;
mod key;
mod prefix;
mod swar;

pub(crate) use key::{digit_nibbles, is_encoded, reversed_nibbles};
pub(crate) use prefix::key_at as prefix_key_at;
pub use prefix::{Prefix, MAX_PREFIX_DIGITS};

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use country::POW10;

/// Inputs longer than this many bytes are rejected before any other work.
pub const MAX_INPUT_LEN: usize = 64;

/// The most digits an E.164 number has (country code included).
pub const MAX_DIGITS: usize = 15;

/// A canonical E.164 number: `+` and 2 to 15 digits, starting with an assigned country code.
///
/// Stored as one `u64`, its digits packed four bits each (the index key, laid out so that
/// canonical text is turned into it with a few word operations), so it hashes and
/// compares for equality as one integer and `Option<E164>` is eight bytes. Orders by
/// value; [`E164::as_u64`] gives the digits read as an integer. Displays and serializes
/// as `+digits`.
///
/// ```
/// use patchbay_core::E164;
/// let n: E164 = "+1 (415) 555-2671".parse()?;
/// assert_eq!(n.to_string(), "+14155552671");
/// assert_eq!(n.country_code(), 1);
/// assert_eq!(n.as_u64(), 14155552671);
/// # Ok::<(), patchbay_core::NormalizeError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct E164(NonZeroU64);

impl Ord for E164 {
    /// By value: more digits is larger, and numbers of one length compare digit by digit
    /// (on the packed digits, without unpacking them: sorting and ordered sets of numbers
    /// compare often).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.len()
            .cmp(&other.len())
            .then_with(|| key::order(self.0.get()).cmp(&key::order(other.0.get())))
    }
}

impl PartialOrd for E164 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl E164 {
    /// The number from its digits read as an integer (`14155552671` for `+14155552671`),
    /// checked like any other input: 2 to 15 digits and an assigned country code.
    pub fn from_u64(digits: u64) -> Result<Self, NormalizeError> {
        let len = decimal_len(digits);
        if len as usize > MAX_DIGITS {
            return Err(NormalizeError::TooManyDigits {
                digits: len as usize,
            });
        }
        Self::checked(digits, len)
    }

    /// The digits read as an integer: `14155552671` for `+14155552671`. Lossless: the first
    /// digit is never `0`, so [`E164::from_u64`] gives the same number back.
    #[inline]
    pub fn as_u64(self) -> u64 {
        key::decode(self.0.get())
    }

    /// How many digits the number has, country code included (2 to 15).
    #[inline]
    pub fn len(self) -> usize {
        key::digit_count(self.0.get()) as usize
    }

    /// Never true: a number has at least two digits. Present because `len` is.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The country calling code: `1` for `+14155552671`, `44` for `+442079460958`.
    pub fn country_code(self) -> u16 {
        country::split(self.as_u64(), self.len() as u32).map_or(0, |(code, _)| code)
    }

    /// The digits after the country code, read as an integer (leading zeros, as in Italian
    /// numbers, are not kept: use [`E164::len`] and the country code to recover them).
    pub fn national_number(self) -> u64 {
        let (value, len) = (self.as_u64(), self.len() as u32);
        match country::split(value, len) {
            Some((_, cc_len)) => value % POW10[(len - cc_len) as usize],
            None => value,
        }
    }

    /// Parses only the canonical form `+digits`, with no separators. For everything else
    /// use [`normalize`] or `str::parse`.
    pub fn parse_canonical(input: &str) -> Result<Self, NormalizeError> {
        match input.as_bytes() {
            [b'+', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => Self::from_ascii(rest),
            _ if input.is_empty() => Err(NormalizeError::Empty),
            _ => Err(NormalizeError::NotCanonical),
        }
    }

    /// Writes `+digits` into `buf` and returns it as a string, without allocating.
    pub fn write_to(self, buf: &mut [u8; 16]) -> &str {
        let mut n = self.as_u64();
        let len = self.len();
        buf[0] = b'+';
        for slot in buf[1..=len].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        // Only ASCII digits and '+' were written.
        std::str::from_utf8(&buf[..=len]).unwrap_or("+")
    }

    /// The number in its packed form: its digits four bits each, as snapshot files and
    /// checkpoints store it. [`E164::from_packed`] gives the number back, without the
    /// arithmetic [`E164::as_u64`] and [`E164::from_u64`] need.
    #[inline]
    pub fn to_packed(self) -> u64 {
        self.0.get()
    }

    /// The number whose packed form ([`E164::to_packed`]) is `packed`, checked: `None`
    /// unless it is the packed form of a valid number (digits only, an assigned country
    /// code, 2 to 15 digits).
    pub fn from_packed(packed: u64) -> Option<E164> {
        E164::from_untrusted_key(packed).ok()
    }

    /// The number behind an index key (keys are only ever made from numbers).
    #[inline(always)]
    pub(crate) fn from_index_key(key: u64) -> Option<E164> {
        NonZeroU64::new(key).map(E164)
    }

    /// The number behind `key` if it is the index key of a valid number; what is wrong
    /// with it otherwise. For keys read from outside (a snapshot file).
    pub(crate) fn from_untrusted_key(key: u64) -> Result<E164, String> {
        if !key::is_encoded(key) {
            return Err("not the packed digits of a number".into());
        }
        let len = key::digit_count(key) as usize;
        match country::code_len(key::leading_prefixes(key), len) {
            Some(cc_len) if len > cc_len => {
                E164::from_index_key(key).ok_or_else(|| "the key is zero".into())
            }
            Some(_) => Err(NormalizeError::TooShort.to_string()),
            None => Err(NormalizeError::UnknownCountryCode.to_string()),
        }
    }

    /// Whether `key`, already known to be digits only with a first digit other than 0
    /// (`key::is_encoded`), starts with an assigned country code: then it is a valid
    /// number's key (8 or more digits are never too short).
    #[inline]
    pub(crate) fn is_valid_key(key: u64) -> bool {
        let len = key::digit_count(key) as usize;
        country::code_len(key::leading_prefixes(key), len).is_some_and(|cc| len > cc)
    }

    /// The index key: the packed digits this number is stored as.
    #[inline(always)]
    pub(crate) fn index_key(self) -> u64 {
        self.0.get()
    }

    /// The number with `len` digits whose value is `value`, checked already. (`encode`
    /// never gives 0, having the digit count in its low bits: the error is not reached.)
    #[inline]
    fn from_checked(value: NonZeroU64, len: u32) -> Result<E164, NormalizeError> {
        NonZeroU64::new(key::encode(value.get(), len))
            .map(E164)
            .ok_or(NormalizeError::LeadingZero)
    }

    /// A number from ASCII digits (no `+`).
    #[inline]
    fn from_ascii(digits: &[u8]) -> Result<Self, NormalizeError> {
        if digits.len() > MAX_DIGITS {
            return Err(NormalizeError::TooManyDigits {
                digits: digits.len(),
            });
        }
        Self::from_short_ascii(digits).unwrap_or(Err(NormalizeError::NotCanonical))
    }

    /// The canonical fast path: at most [`MAX_DIGITS`] bytes that should be ASCII digits.
    /// `None` when one is not (the caller falls back to the slower tiers). No branch per
    /// digit and no division: the digits are checked and converted eight at a time, and the
    /// country code is read from the first three bytes.
    #[inline]
    fn from_short_ascii(digits: &[u8]) -> Option<Result<Self, NormalizeError>> {
        let value = swar::parse_digits(digits)?;
        let len = digits.len();
        let digit = |at: usize| {
            digits
                .get(at)
                .map_or(0, |&b| u64::from(b.wrapping_sub(b'0')))
        };
        let (d0, d1, d2) = (digit(0), digit(1), digit(2));
        let prefixes = [d0, d0 * 10 + d1, d0 * 100 + d1 * 10 + d2];
        Some(match (digits.first(), NonZeroU64::new(value)) {
            (None, _) => Err(NormalizeError::Empty),
            (Some(b'0'), _) | (_, None) => Err(NormalizeError::LeadingZero),
            (Some(_), Some(nonzero)) => match country::code_len(prefixes, len) {
                Some(cc_len) if len > cc_len => E164::from_checked(nonzero, len as u32),
                Some(_) => Err(NormalizeError::TooShort),
                None if len < 2 => Err(NormalizeError::TooShort),
                None => Err(NormalizeError::UnknownCountryCode),
            },
        })
    }

    /// Checks a value with `len` digits (1..=15, no leading zero) against the E.164 rules.
    #[inline]
    fn checked(value: u64, len: u32) -> Result<Self, NormalizeError> {
        let Some(nonzero) = NonZeroU64::new(value) else {
            return Err(NormalizeError::LeadingZero);
        };
        match country::split(value, len) {
            Some((_, cc_len)) if len > cc_len => E164::from_checked(nonzero, len),
            Some(_) => Err(NormalizeError::TooShort),
            None if len < 2 => Err(NormalizeError::TooShort),
            None => Err(NormalizeError::UnknownCountryCode),
        }
    }
}

/// Whether ASCII `digits` are exactly one assigned country calling code.
fn is_country_code(digits: &[u8]) -> bool {
    if digits.is_empty() || digits.len() > 3 || digits.first() == Some(&b'0') {
        return false;
    }
    let value = digits
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d.wrapping_sub(b'0')));
    country::split(value, digits.len() as u32).is_some_and(|(_, len)| len as usize == digits.len())
}

/// Number of decimal digits of `n` (1 for 0).
#[inline]
fn decimal_len(n: u64) -> u32 {
    n.checked_ilog10().map_or(1, |log| log + 1)
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.as_u64())
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164(+{})", self.as_u64())
    }
}

impl FromStr for E164 {
    type Err = NormalizeError;

    /// Any form [`normalize`] accepts without a default region.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        normalize(s)
    }
}

impl serde::Serialize for E164 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 16];
        serializer.serialize_str(self.write_to(&mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = E164;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an E.164 phone number such as \"+14155552671\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<E164, E> {
                normalize(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for E164 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^\+[1-9][0-9]{1,14}$"))
            .description(Some(
                "A phone number in canonical E.164: '+' and 2 to 15 digits.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for E164 {}

/// A default region for national formats: an ISO 3166-1 alpha-2 code such as `GB` or `US`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Region {
    id: rlibphonenumber::Region,
    code: [u8; 2],
}

impl Region {
    /// The two-letter code, upper case.
    pub fn code(&self) -> &str {
        // Built from two ASCII letters in `from_str`.
        std::str::from_utf8(&self.code).unwrap_or("??")
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Region {
    type Err = NormalizeError;

    /// Two ASCII letters, either case: `gb`, `GB`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                [a.to_ascii_uppercase(), b.to_ascii_uppercase()]
            }
            _ => return Err(NormalizeError::UnknownRegion),
        };
        let code = std::str::from_utf8(&upper).map_err(|_| NormalizeError::UnknownRegion)?;
        let id =
            rlibphonenumber::Region::from_code(code).map_err(|_| NormalizeError::UnknownRegion)?;
        // Only regions with numbering metadata can interpret national formats.
        if rlibphonenumber::PHONE_NUMBER_UTIL
            .get_country_code_for_region(id)
            .is_none()
        {
            return Err(NormalizeError::UnknownRegion);
        }
        Ok(Region { id, code: upper })
    }
}

/// Why an input is not a phone number patchbay accepts. Every variant says what to send
/// instead; [`NormalizeError::reason`] gives a stable machine-readable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NormalizeError {
    /// Nothing but white space or separators.
    #[error("the number is empty: send a number such as +14155552671")]
    Empty,
    /// Longer than [`MAX_INPUT_LEN`] bytes; checked before anything else.
    #[error("the input is {len} bytes long; a phone number is at most 64 bytes")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// The bytes are not UTF-8.
    #[error("the input is not valid UTF-8")]
    InvalidUtf8,
    /// A control character (tab, newline, NUL, ...).
    #[error("control character at byte {offset}: remove it")]
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
    },
    /// Letters, as in vanity numbers (`1-800-FLOWERS`).
    #[error("letters are not accepted: spell vanity numbers such as 1-800-FLOWERS as digits")]
    Letters,
    /// An extension (`ext. 12`, `x12`, `#12`, `;ext=12`): extensions are not routable.
    #[error("extensions are not routable: send the number without the extension")]
    Extension,
    /// A character that has no place in a phone number.
    #[error("unexpected character {ch:?} at byte {offset}")]
    InvalidCharacter {
        /// The character.
        ch: char,
        /// Its byte offset.
        offset: usize,
    },
    /// `+` after a digit, or more than one `+`.
    #[error("'+' may appear only once, before the first digit")]
    MisplacedPlus,
    /// `(0)` right after the country code (`+44 (0)20 ...`): people read it as optional,
    /// digits do not, and for some countries (Italy) the `0` belongs to the number; the two
    /// readings name different numbers.
    #[error("'(0)' after the country code is ambiguous: drop it and send +<country code><number>")]
    TrunkPrefix,
    /// More than 15 digits.
    #[error("{digits} digits is more than the 15 an E.164 number may have")]
    TooManyDigits {
        /// How many digits the input has.
        digits: usize,
    },
    /// A country code with no digits after it, or fewer than two digits in all.
    #[error("too short: an E.164 number is a country code and at least one more digit")]
    TooShort,
    /// `+0...`: country codes start with 1 to 9.
    #[error("'+0' cannot start a number: country codes start with 1-9")]
    LeadingZero,
    /// The first one to three digits are not an assigned country calling code.
    #[error("unknown country calling code: the digits after '+' start with no assigned code")]
    UnknownCountryCode,
    /// A national number (no `+`) and no default region to read it in.
    #[error("national format needs a default region: send +<country code><number>, or give a region such as GB")]
    NationalWithoutRegion,
    /// A local `tel:` number (`;phone-context=`), or a `tel:` number without `+`.
    #[error("local numbers (tel: with ;phone-context=, or without '+') are not routable: send the global number")]
    LocalNumber,
    /// A `sip:`/`sips:` URI whose user part is not a global number.
    #[error(
        "the SIP URI's user part is not a global number: use sip:+<country code><number>@host"
    )]
    NotGlobal,
    /// The input is not in the canonical `+digits` form ([`E164::parse_canonical`] only).
    #[error("not canonical E.164: expected '+' followed by digits only")]
    NotCanonical,
    /// A region code that is not a two-letter ISO 3166 code with numbering metadata.
    #[error("unknown region: give a two-letter ISO 3166 code such as GB or US")]
    UnknownRegion,
    /// The national number could not be read in the default region.
    #[error("not a phone number in region {region}: {reason}")]
    NotANumber {
        /// The default region the number was read in.
        region: Region,
        /// What the metadata said.
        reason: &'static str,
    },
    /// A prefix (not a number) has more than [`MAX_PREFIX_DIGITS`] digits.
    #[error("{digits} digits is more than the 14 a prefix may have: a prefix leaves at least one digit of a number")]
    PrefixTooLong {
        /// How many digits the prefix has.
        digits: usize,
    },
    /// A prefix without `+`: prefixes are international, a country code first.
    #[error(
        "a prefix starts with '+' and a country code: send +<country code><digits>, as +4420794600"
    )]
    NotInternational,
    /// A wildcard that is not the prefix's end: `x` once per digit or one `*`, last.
    #[error("wildcard at byte {offset}: write x per digit or one * at the end, as +4420794600xx or +4420794600*")]
    InvalidWildcard {
        /// Byte offset of the wildcard.
        offset: usize,
    },
    /// The metadata parser failed on this input (a fault of the parser, caught); the input
    /// is rejected and nothing else is affected.
    #[error("the number could not be parsed")]
    ParserFailure,
}

impl NormalizeError {
    /// A stable name for the reason: `too_long`, `letters`, `unknown_country_code`, ...
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong { .. } => "too_long",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::ControlCharacter { .. } => "control_character",
            Self::Letters => "letters",
            Self::Extension => "extension",
            Self::InvalidCharacter { .. } => "invalid_character",
            Self::MisplacedPlus => "misplaced_plus",
            Self::TrunkPrefix => "trunk_prefix",
            Self::TooManyDigits { .. } => "too_many_digits",
            Self::TooShort => "too_short",
            Self::LeadingZero => "leading_zero",
            Self::UnknownCountryCode => "unknown_country_code",
            Self::NationalWithoutRegion => "national_without_region",
            Self::LocalNumber => "local_number",
            Self::NotGlobal => "not_global",
            Self::NotCanonical => "not_canonical",
            Self::UnknownRegion => "unknown_region",
            Self::NotANumber { .. } => "not_a_number",
            Self::ParserFailure => "parser_failure",
            Self::PrefixTooLong { .. } => "prefix_too_long",
            Self::NotInternational => "not_international",
            Self::InvalidWildcard { .. } => "invalid_wildcard",
        }
    }
}

/// Normalizes `input` with no default region: canonical E.164, separators and URIs.
///
/// This is the per-call path: it never allocates and consults no metadata beyond the
/// country-code table.
///
/// ```
/// use patchbay_core::{normalize, NormalizeError};
/// assert_eq!(normalize("tel:+1-415-555-2671")?.to_string(), "+14155552671");
/// assert_eq!(normalize("020 7946 0958"), Err(NormalizeError::NationalWithoutRegion));
/// # Ok::<(), NormalizeError>(())
/// ```
#[inline]
pub fn normalize(input: &str) -> Result<E164, NormalizeError> {
    normalize_in(input, None)
}

/// Normalizes `input`, reading national formats and international call prefixes in
/// `region` when one is given.
///
/// ```
/// use patchbay_core::{normalize_in, Region};
/// let gb: Region = "GB".parse()?;
/// assert_eq!(normalize_in("020 7946 0958", Some(gb))?.to_string(), "+442079460958");
/// assert_eq!(normalize_in("00 44 20 7946 0958", Some(gb))?.to_string(), "+442079460958");
/// # Ok::<(), patchbay_core::NormalizeError>(())
/// ```
#[inline]
pub fn normalize_in(input: &str, region: Option<Region>) -> Result<E164, NormalizeError> {
    let bytes = input.as_bytes();
    if bytes.len() > MAX_INPUT_LEN {
        return Err(NormalizeError::TooLong { len: bytes.len() });
    }
    // Tier 1: canonical `+digits`.
    if let [b'+', rest @ ..] = bytes {
        if rest.len() <= MAX_DIGITS {
            if let Some(result) = E164::from_short_ascii(rest) {
                return result;
            }
        }
    }
    slow::normalize(input, region)
}

/// How an input wrote its number: the branch of [`normalize`] that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputForm {
    /// Canonical: `+` and digits only.
    E164,
    /// `+` with separators (`+1 (415) 555-2671`), or an international call prefix (`00`,
    /// `011`) read in a region.
    International,
    /// National digits, read in a region (`020 7946 0958`).
    National,
    /// An RFC 3966 `tel:` URI.
    TelUri,
    /// A `sip:` or `sips:` URI.
    SipUri,
}

impl InputForm {
    /// The form's name: `e164`, `international`, `national`, `tel_uri` or `sip_uri`.
    pub fn as_str(self) -> &'static str {
        match self {
            InputForm::E164 => "e164",
            InputForm::International => "international",
            InputForm::National => "national",
            InputForm::TelUri => "tel_uri",
            InputForm::SipUri => "sip_uri",
        }
    }
}

/// How `input` writes its number ([`InputForm`]); says nothing of whether it normalizes.
///
/// ```
/// use patchbay_core::{input_form, InputForm};
/// assert_eq!(input_form("+14155552671"), InputForm::E164);
/// assert_eq!(input_form("+1 (415) 555-2671"), InputForm::International);
/// assert_eq!(input_form("00 44 20 7946 0958"), InputForm::International);
/// assert_eq!(input_form("020 7946 0958"), InputForm::National);
/// assert_eq!(input_form("tel:+1-415-555-2671"), InputForm::TelUri);
/// assert_eq!(input_form("<sips:+14155552671@pbx>"), InputForm::SipUri);
/// ```
pub fn input_form(input: &str) -> InputForm {
    slow::form(input)
}

/// The index key `input` would have if it were canonical `+digits` (8 to 15 digits), or
/// `None` when it is not shaped like that; see `key::probe`. Lookups probe with this
/// first: the index holds only valid numbers' keys, so a hit proves the input canonical
/// and valid, and only a miss pays for [`normalize`] to say what is wrong, if anything.
#[inline(always)]
pub(crate) fn probe_key(input: &str) -> Option<u64> {
    key::probe(input.as_bytes())
}

/// Normalizes raw bytes (a SIP header value, say): UTF-8 is checked after the length.
pub fn normalize_bytes(input: &[u8], region: Option<Region>) -> Result<E164, NormalizeError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(NormalizeError::TooLong { len: input.len() });
    }
    let text = std::str::from_utf8(input).map_err(|_| NormalizeError::InvalidUtf8)?;
    normalize_in(text, region)
}

mod slow;

#[cfg(test)]
mod tests;
