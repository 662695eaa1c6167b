//! Tiers 2 to 4 of normalization: separators, URIs, and national formats in a region.
//!
//! Tiers 2 and 3 scan the input once into a stack buffer of digits; nothing allocates.
//! Tier 4 hands the digits to `rlibphonenumber` (libphonenumber's metadata), inside `catch_unwind` so that a panic
//! in its parser becomes [`NormalizeError::ParserFailure`] rather than a crash.

use super::{NormalizeError, Region, E164, MAX_INPUT_LEN};

/// The digits of an input, in order, as ASCII, and whether a leading `+` was seen.
struct Digits {
    buf: [u8; MAX_INPUT_LEN],
    len: usize,
    plus: bool,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

pub(super) fn normalize(input: &str, region: Option<Region>) -> Result<E164, NormalizeError> {
    let trimmed = input.trim_matches(is_space);
    let unwrapped = trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed);
    if let Some(rest) = strip_scheme(unwrapped, "tel:") {
        return tel(rest, offset_of(input, rest));
    }
    if let Some(rest) = strip_scheme(unwrapped, "sip:").or_else(|| strip_scheme(unwrapped, "sips:"))
    {
        return sip(rest, offset_of(input, rest));
    }
    let digits = scan(trimmed, offset_of(input, trimmed))?;
    finish(&digits, region)
}

/// How `input` writes its number, by the branch [`normalize`] reads it with.
pub(super) fn form(input: &str) -> super::InputForm {
    use super::InputForm;
    let trimmed = input.trim_matches(is_space);
    let unwrapped = trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed);
    if strip_scheme(unwrapped, "tel:").is_some() {
        return InputForm::TelUri;
    }
    if strip_scheme(unwrapped, "sip:")
        .or_else(|| strip_scheme(unwrapped, "sips:"))
        .is_some()
    {
        return InputForm::SipUri;
    }
    if let Some(rest) = trimmed.strip_prefix('+') {
        return if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            InputForm::E164
        } else {
            InputForm::International
        };
    }
    // A `+` after an opening bracket or other separators: `(+44) 20 7946 0958`.
    let first = trimmed
        .chars()
        .find(|&c| c == '+' || digit_value(c).is_some());
    if first == Some('+') {
        return InputForm::International;
    }
    let mut digits = trimmed.chars().filter_map(digit_value);
    match (digits.next(), digits.next(), digits.next()) {
        (Some(0), Some(0), _) | (Some(0), Some(1), Some(1)) => InputForm::International,
        _ => InputForm::National,
    }
}

/// The digits of an international number (`+`, digits, separators, or a `tel:`/`sip:` URI
/// of a global number) as ASCII, checked for nothing else: number prefixes are read this
/// way and checked by their own rules.
pub(super) fn international_digits(input: &str) -> Result<DigitsOf, NormalizeError> {
    let trimmed = input.trim_matches(is_space);
    let unwrapped = trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed);
    let digits = if let Some(rest) = strip_scheme(unwrapped, "tel:") {
        let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
        check_params(params)?;
        scan(number, offset_of(input, number))?
    } else if let Some(rest) =
        strip_scheme(unwrapped, "sip:").or_else(|| strip_scheme(unwrapped, "sips:"))
    {
        let Some((userinfo, _host)) = rest.split_once('@') else {
            return Err(NormalizeError::NotGlobal);
        };
        let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
        let mut buf = [0u8; MAX_INPUT_LEN];
        let decoded = percent_decode(user, &mut buf)?;
        let (number, params) = decoded.split_once(';').unwrap_or((decoded, ""));
        check_params(params)?;
        scan(number, 0)?
    } else {
        scan(trimmed, offset_of(input, trimmed))?
    };
    if digits.len > 0 && !digits.plus {
        return Err(NormalizeError::NotInternational);
    }
    Ok(DigitsOf(digits))
}

/// The digits [`international_digits`] read.
pub(super) struct DigitsOf(Digits);

impl std::ops::Deref for DigitsOf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// Byte offset of `part` (a subslice) within `whole`, for error messages.
fn offset_of(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| s.get(scheme.len()..))
        .flatten()
}

fn finish(digits: &Digits, region: Option<Region>) -> Result<E164, NormalizeError> {
    if digits.len == 0 {
        return Err(NormalizeError::Empty);
    }
    if digits.plus {
        return E164::from_ascii(digits.as_slice());
    }
    match region {
        None => Err(NormalizeError::NationalWithoutRegion),
        Some(region) => national(digits.as_slice(), region),
    }
}

/// White space that separates digit groups: ASCII space and the Unicode space separators
/// (NBSP, thin space, ...). Control characters are not spaces here.
fn is_space(c: char) -> bool {
    c.is_whitespace() && !c.is_control()
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        '-' | '.' | '/' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}'
    ) || is_space(c)
}

/// The value of a decimal digit: ASCII, fullwidth, Arabic-Indic or Eastern Arabic-Indic.
fn digit_value(c: char) -> Option<u8> {
    let base = match c {
        '0'..='9' => '0',
        '\u{FF10}'..='\u{FF19}' => '\u{FF10}',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        _ => return None,
    };
    u8::try_from(u32::from(c) - u32::from(base)).ok()
}

/// Scans a number written with separators into its digits.
fn scan(s: &str, base_offset: usize) -> Result<Digits, NormalizeError> {
    let mut out = Digits {
        buf: [0; MAX_INPUT_LEN],
        len: 0,
        plus: false,
    };
    for (at, c) in s.char_indices() {
        let offset = base_offset + at;
        if let Some(value) = digit_value(c) {
            // At most one digit per input byte, and the input is at most MAX_INPUT_LEN bytes.
            let slot = out
                .buf
                .get_mut(out.len)
                .ok_or(NormalizeError::TooLong { len: offset })?;
            *slot = b'0' + value;
            out.len += 1;
        } else if c == '+' || c == '\u{FF0B}' {
            if out.plus || out.len > 0 {
                return Err(NormalizeError::MisplacedPlus);
            }
            out.plus = true;
        } else if c.is_control() {
            return Err(NormalizeError::ControlCharacter { offset });
        } else if is_separator(c) {
            if c == '('
                && out.plus
                && super::is_country_code(out.as_slice())
                && trunk_zero(s.get(at..).unwrap_or_default())
            {
                return Err(NormalizeError::TrunkPrefix);
            }
        } else if out.len > 0 && is_extension(s.get(at..).unwrap_or_default()) {
            return Err(NormalizeError::Extension);
        } else if c.is_alphabetic() {
            return Err(NormalizeError::Letters);
        } else {
            return Err(NormalizeError::InvalidCharacter { ch: c, offset });
        }
    }
    Ok(out)
}

/// Whether `rest` starts with `(0)`, allowing spaces inside the parentheses. Right after a
/// country code this is the "optional trunk prefix" convention (`+44 (0)20 ...`).
fn trunk_zero(rest: &str) -> bool {
    let inner = rest
        .strip_prefix('(')
        .map(|s| s.trim_start_matches(is_space));
    inner
        .and_then(|s| s.strip_prefix('0'))
        .map(|s| s.trim_start_matches(is_space))
        .is_some_and(|s| s.starts_with(')'))
}

/// Whether `rest` (which follows at least one digit) is an extension: a marker (`ext`,
/// `extn`, `extension`, `x`, `#`, `;ext=`, `,`), optional `.`/`:`/`=`/spaces, then a digit.
fn is_extension(rest: &str) -> bool {
    const MARKERS: [&str; 7] = ["extension", "extn", "ext", ";ext=", "x", "#", ","];
    let Some(after) = MARKERS.iter().find_map(|m| {
        rest.get(..m.len())
            .filter(|head| head.eq_ignore_ascii_case(m))
            .and_then(|_| rest.get(m.len()..))
    }) else {
        return false;
    };
    after
        .trim_start_matches(|c: char| matches!(c, '.' | ':' | '=') || is_space(c))
        .chars()
        .next()
        .and_then(digit_value)
        .is_some()
}

/// RFC 3966 `tel:` URI: a global number (`+...` with `-`, `.`, `(`, `)`), then parameters.
fn tel(rest: &str, base_offset: usize) -> Result<E164, NormalizeError> {
    let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
    check_params(params)?;
    let digits = scan(number, base_offset)?;
    if !digits.plus {
        return Err(NormalizeError::LocalNumber);
    }
    finish(&digits, None)
}

/// Parameters of a telephone-subscriber: `ext` and `phone-context` change which number is
/// meant, so they are rejected; the rest (`isub`, `npdi`, `rn`, ...) do not and are ignored.
fn check_params(params: &str) -> Result<(), NormalizeError> {
    for param in params.split(';') {
        let name = param.split_once('=').map_or(param, |(name, _)| name).trim();
        if name.eq_ignore_ascii_case("ext") {
            return Err(NormalizeError::Extension);
        }
        if name.eq_ignore_ascii_case("phone-context") {
            return Err(NormalizeError::LocalNumber);
        }
    }
    Ok(())
}

/// `sip:`/`sips:` URI: the user part (before `@`, without a `:password`), percent-decoded,
/// must be a global number. URI parameters after the host (`;user=phone`) are ignored.
fn sip(rest: &str, base_offset: usize) -> Result<E164, NormalizeError> {
    let Some((userinfo, _host)) = rest.split_once('@') else {
        return Err(NormalizeError::NotGlobal);
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    let mut buf = [0u8; MAX_INPUT_LEN];
    let decoded = percent_decode(user, &mut buf)?;
    let (number, params) = decoded.split_once(';').unwrap_or((decoded, ""));
    check_params(params)?;
    if !number.trim_start_matches(is_space).starts_with('+') {
        return Err(NormalizeError::NotGlobal);
    }
    finish(&scan(number, base_offset)?, None)
}

/// Decodes `%XX` escapes of `s` into `buf`. The result is never longer than the input.
fn percent_decode<'b>(
    s: &str,
    buf: &'b mut [u8; MAX_INPUT_LEN],
) -> Result<&'b str, NormalizeError> {
    let bytes = s.as_bytes();
    let mut len = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let (byte, used) = if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(NormalizeError::NotGlobal)?;
            let text = std::str::from_utf8(hex).map_err(|_| NormalizeError::NotGlobal)?;
            let value = u8::from_str_radix(text, 16).map_err(|_| NormalizeError::NotGlobal)?;
            (value, 3)
        } else {
            (b, 1)
        };
        *buf.get_mut(len)
            .ok_or(NormalizeError::TooLong { len: s.len() })? = byte;
        len += 1;
        i += used;
    }
    std::str::from_utf8(buf.get(..len).unwrap_or_default()).map_err(|_| NormalizeError::InvalidUtf8)
}

/// Tier 4: national digits (with a national or international prefix) read in `region`.
fn national(digits: &[u8], region: Region) -> Result<E164, NormalizeError> {
    use rlibphonenumber::{PhoneNumberFormat, PHONE_NUMBER_UTIL};
    let text = std::str::from_utf8(digits).map_err(|_| NormalizeError::InvalidUtf8)?;
    let read = std::panic::catch_unwind(|| {
        let number = PHONE_NUMBER_UTIL.parse(text, Some(region.id))?;
        let e164 = PHONE_NUMBER_UTIL.format(&number, PhoneNumberFormat::E164);
        Ok((number.extension.is_some(), e164.into_owned()))
    })
    .map_err(|_| NormalizeError::ParserFailure)?;
    let (extension, formatted) = read.map_err(|err| NormalizeError::NotANumber {
        region,
        reason: parse_reason(&err),
    })?;
    if extension {
        return Err(NormalizeError::Extension);
    }
    match formatted.as_bytes() {
        [b'+', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => E164::from_ascii(rest),
        _ => Err(NormalizeError::ParserFailure),
    }
}

fn parse_reason(err: &rlibphonenumber::ParseError) -> &'static str {
    use rlibphonenumber::ParseError as P;
    match err {
        P::NotANumber(_) => "no number found",
        P::InvalidCountryCode => "invalid country code",
        P::TooShortAfterIdd => "too short after the international prefix",
        P::TooShortNsn => "national number too short",
        P::TooLongNsn => "too long",
    }
}
