//! Parsing up to sixteen ASCII digits eight at a time in a `u64` ("SIMD within a register").
//!
//! Normalization parses the digits of every canonical input; a byte loop costs a dependent
//! multiply and a branch per digit. Here the digits are read as two (possibly overlapping)
//! words straight from the input, the leading ones shifted to the top of their word over
//! '0's, validated with word-wide tests, and converted with three multiplications per eight
//! digits (the method of Lemire's `parse_eight_digits_unrolled`).

/// The value of `digits` (at most 16 bytes), or `None` if one is not an ASCII digit or
/// there are more than 16.
///
/// Eight or more digits are read as two overlapping words straight from the input (no
/// copy: a copy to a stack buffer read back as words defeats store forwarding and
/// serializes consecutive lookups behind each other's cache misses). Shorter inputs take a
/// byte loop.
#[inline]
pub(super) fn parse_digits(digits: &[u8]) -> Option<u64> {
    let len = digits.len();
    if !(8..=16).contains(&len) {
        return loop_digits(digits);
    }
    let word = |from: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            digits.get(from..from + 8)?.try_into().ok()?,
        ))
    };
    // The last eight digits.
    let low = word(len - 8)?;
    // The first `len - 8` digits, moved to the top of a word whose other bytes are '0'.
    let high_count = (len - 8) as u32;
    let high = word(0)?.checked_shl(8 * (8 - high_count)).unwrap_or(0)
        | (ONES * u64::from(b'0'))
            .checked_shr(8 * high_count)
            .unwrap_or(0);
    if !all_digits(high) || !all_digits(low) {
        return None;
    }
    Some(eight(high) * 100_000_000 + eight(low))
}

/// The byte loop, for fewer than eight digits.
#[inline]
fn loop_digits(digits: &[u8]) -> Option<u64> {
    if digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &byte| {
        let digit = byte.wrapping_sub(b'0');
        (digit <= 9).then(|| acc * 10 + u64::from(digit))
    })
}

/// One in every byte.
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
/// Eight ASCII '0's.
pub(super) const ZEROS: u64 = ONES * b'0' as u64;

/// Whether all eight bytes of `word` are ASCII digits.
#[inline]
fn all_digits(word: u64) -> bool {
    // After subtracting '0', a digit is below 10. A byte below '0' wraps to a value with
    // its top bit set; a byte from ':' up reaches the top bit when 0x76 is added.
    let x = word.wrapping_sub(ONES * u64::from(b'0'));
    (x | x.wrapping_add(ONES * 0x76)) & (ONES * 0x80) == 0
}

/// The value of eight ASCII digits, first digit in the lowest byte.
#[inline]
fn eight(word: u64) -> u64 {
    eight_values(word.wrapping_sub(ZEROS))
}

/// The value of eight digit values (0-9, one per byte), first digit in the lowest byte.
#[inline(always)]
pub(super) fn eight_values(mut x: u64) -> u64 {
    // Pairs: each 16-bit lane holds a two-digit value.
    x = x.wrapping_mul(10).wrapping_add(x >> 8);
    // Quads, then the eight-digit value in the upper half.
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    ((x & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((x >> 16) & MASK).wrapping_mul(MUL2)))
        >> 32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(digits: &[u8]) -> Option<u64> {
        if digits.len() > 16 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0, |acc, &d| acc * 10 + u64::from(d - b'0')),
        )
    }

    #[test]
    fn agrees_with_a_byte_loop_on_every_length_and_every_byte() {
        let base = b"9876543210123456";
        for len in 0..=16 {
            let digits = &base[..len];
            assert_eq!(parse_digits(digits), reference(digits), "{len}");
            // Every byte value at every position: only digits may pass.
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut changed = digits.to_vec();
                    changed[at] = byte;
                    assert_eq!(parse_digits(&changed), reference(&changed), "{changed:?}");
                }
            }
        }
        assert_eq!(parse_digits(b"12345678901234567"), None);
    }

    #[test]
    fn sixteen_nines() {
        assert_eq!(
            parse_digits(b"9999999999999999"),
            Some(9_999_999_999_999_999)
        );
    }
}
