//! The key form of a number: its digits packed four bits each into one `u64`, laid out so
//! that canonical text becomes a key in a handful of word operations.
//!
//! A number with `n` digits (2 to 15) has the key:
//!
//! - bits 0-3: `n`;
//! - `n` ≥ 8: the low half of byte `i` (1 to 7) holds digit `i`, and the high half of byte
//!   `j` (0 to 7) holds digit `n - 7 + j` (the last eight digits). When `n` < 15 the two
//!   ranges overlap and the shared digits are stored twice;
//! - `n` ≤ 7: the four bits from bit `4i` hold digit `i` (1 to `n`), the rest is zero.
//!
//! Digits count from 1. The key is never zero (`n` ≥ 2), and it is one-to-one: the count
//! and every digit can be read back. Its point is [`probe`]: the text `+digits` with 8 or
//! more digits, read as its first and its last eight bytes, has the low halves of its
//! bytes in exactly these places. ASCII digits are `0x30` to `0x39`, so a key is the
//! low halves of the two words merged, with no multiplication and no per-digit work.

use super::swar::{eight_values, ONES, ZEROS};

/// The low half of every byte.
const LOW: u64 = ONES * 0x0F;
/// The high half of every byte.
const HIGH: u64 = ONES * 0xF0;

/// The key of canonical `+digits` text with 8 to 15 digits, or `None` if `input` is not
/// 9 to 16 bytes, does not start with `+`, or has a byte outside `0x30..=0x3F` after it.
///
/// Those checks are all it makes, so the key of a non-canonical input (a `:` among the
/// digits, a first digit `0`) is no number's key: it holds a digit half outside 0-9 or a
/// leading zero. A key found in an index of numbers' keys therefore proves the input was
/// that number's canonical text, and only a miss needs the full rules to say why.
///
/// This is the per-call lookup path, so it is a few instructions: two loads, two masked
/// compares and three operations to merge the halves.
#[inline(always)]
pub(crate) fn probe(input: &[u8]) -> Option<u64> {
    let len = input.len();
    if !(9..=16).contains(&len) {
        return None;
    }
    let word = |from: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            input.get(from..from + 8)?.try_into().ok()?,
        ))
    };
    let (first, last) = (word(0)?, word(len - 8)?);
    if first & (HIGH | 0xFF) != (ZEROS & !0xFF) | u64::from(b'+') || last & HIGH != ZEROS {
        return None;
    }
    // Byte 0 of `first` is the '+': its place holds the digit count, `len - 1`.
    Some((first & LOW & !0xFF) | ((last << 4) & HIGH) | (len as u64 - 1))
}

/// The key of `value`, a number of `len` digits (2 to 15, no leading zero).
pub(super) fn encode(value: u64, len: u32) -> u64 {
    let n = u64::from(len);
    let tail = digit_bytes(value % 100_000_000);
    if len >= 8 {
        let head = digit_bytes(value / 100_000_000);
        // The sixteen digits, zero-padded, first in the lowest byte; the number's first
        // digit is byte `16 - len`. Its first seven digits go to bytes 1 to 7.
        let all = u128::from(head) | (u128::from(tail) << 64);
        let first = (all >> (8 * (16 - len.min(16)))) as u64;
        return (first << 8) | (tail << 4) | n;
    }
    // Fewer than eight digits: they are the last `len` bytes of `tail`.
    let digits = tail >> (8 * (8 - len.min(8)));
    (0..len.min(8)).fold(n, |key, at| {
        key | (((digits >> (8 * at)) & 0xF) << (4 * (at + 1)))
    })
}

/// The digits of `key` read as an integer: the inverse of [`encode`]. Any `u64` gives some
/// value (a key that [`encode`] cannot make gives one it does not map back to).
#[inline]
pub(super) fn decode(key: u64) -> u64 {
    let n = (key & 0xF) as u32;
    if n >= 8 {
        let tail = eight_values((key >> 4) & LOW);
        // The `n - 8` digits before the last eight are the low halves of bytes 1 to
        // `n - 8`; moved to the top of the word, zeros below them are leading zeros.
        let head = (key & LOW & !0xFF) << (8 * (15 - n));
        return eight_values(head) * 100_000_000 + tail;
    }
    (1..=n).fold(0, |value, at| value * 10 + ((key >> (4 * at)) & 0xF))
}

/// A value whose order among keys of one digit count is the numbers' order, without
/// unpacking: for 8 or more digits, the first seven digits (low halves of bytes 1 to 7) then
/// the last eight (high halves), each byte-swapped so that the first digit is the most
/// significant. Where the two ranges overlap, the shared digits already compared equal.
#[inline]
pub(super) fn order(key: u64) -> u128 {
    if digit_count(key) >= 8 {
        let first = (key & LOW & !0xFF).swap_bytes();
        let last = (key & HIGH).swap_bytes();
        (u128::from(first) << 64) | u128::from(last)
    } else {
        u128::from(decode(key))
    }
}

/// Whether `key` is the key of some string of 2 to 15 digits with a first digit other than
/// `0` (that is, whether [`encode`] makes it): every digit place holds 0-9, the digits stored
/// twice agree, and unused places are zero. Word-wide tests, no loop over the digits: files
/// are checked key by key when they are opened.
pub(crate) fn is_encoded(key: u64) -> bool {
    let n = digit_count(key);
    if n >= 8 {
        let low = key & LOW & !0xFF;
        let high = (key >> 4) & LOW;
        // Digit `p` (from `n - 7` to 7) is in the low half of byte `p` and in the high half
        // of byte `p - (n - 7)`.
        let shift = 8 * (n - 7);
        let shared = LOW.checked_shl(shift).unwrap_or(0);
        let agree = (low ^ high.checked_shl(shift).unwrap_or(0)) & shared == 0;
        return at_most_nine(low) && at_most_nine(high) && agree && key & 0xF00 != 0;
    }
    n >= 2
        && key >> (4 * (n + 1)) == 0
        && (1..=n).all(|at| (key >> (4 * at)) & 0xF <= 9)
        && key & 0xF0 != 0
}

/// Whether every byte of `x` (each at most 15) is at most 9: adding 6 carries into bit 4
/// of exactly the bytes above 9.
fn at_most_nine(x: u64) -> bool {
    (x + ONES * 6) & (ONES * 0x10) == 0
}

/// The first one, two and three digits of an encoded key read as integers (digits past
/// its length read as 0), as `country::code_len` takes them.
pub(super) fn leading_prefixes(key: u64) -> [u64; 3] {
    let step = if digit_count(key) >= 8 { 8 } else { 4 };
    let [a, b, c] = [1, 2, 3].map(|at| (key >> (step * at)) & 0xF);
    [a, a * 10 + b, a * 100 + b * 10 + c]
}

/// The digits of `key` packed four bits each in order, digit 1 in the lowest four bits:
/// what prefix keys are cut from (`prefix::key_at`). Two compactions of the key's two
/// digit ranges and a shift, no per-digit work. Any `u64` gives some value.
#[inline]
pub(crate) fn digit_nibbles(key: u64) -> u64 {
    let n = digit_count(key);
    if n < 8 {
        return key >> 4;
    }
    // Digits 1 to 7 are the low halves of bytes 1 to 7; the last eight digits, from digit
    // `n - 7`, the high halves of bytes 0 to 7. Where they overlap they agree.
    let first = compact((key >> 8) & LOW);
    let last = compact((key >> 4) & LOW);
    first | last.checked_shl(4 * (n - 8)).unwrap_or(0)
}

/// `nibbles` with the order of its sixteen four-bit places reversed: digits kept first digit
/// lowest (as [`digit_nibbles`] and prefix keys hold them) come out first digit on top, so
/// that they compare as their text does.
#[inline(always)]
pub(crate) fn reversed_nibbles(nibbles: u64) -> u64 {
    let swapped = nibbles.swap_bytes();
    ((swapped & 0x0F0F_0F0F_0F0F_0F0F) << 4) | ((swapped >> 4) & 0x0F0F_0F0F_0F0F_0F0F)
}

/// The low halves of the eight bytes of `x` (whose high halves are zero), packed into its
/// low 32 bits, byte 0's first.
#[inline]
fn compact(x: u64) -> u64 {
    let x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    let x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    (x | (x >> 16)) & 0xFFFF_FFFF
}

/// The digit count a key records (not checked against its digits).
#[inline]
pub(super) fn digit_count(key: u64) -> u32 {
    (key & 0xF) as u32
}

/// The eight decimal digits of `value` (below 10⁸, zero-padded) as byte values 0-9, the
/// first in the lowest byte: split in halves, quarters and eighths by multiplying with
/// reciprocals, all lanes at once.
#[inline]
fn digit_bytes(value: u64) -> u64 {
    // Two 32-bit lanes of four digits, the leading half in the low lane.
    let x = (value / 10_000) | ((value % 10_000) << 32);
    // Four 16-bit lanes of two digits: x / 100 is (x * 10486) >> 20 for x < 10⁴.
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let x = hundreds | ((x - hundreds * 100) << 16);
    // Eight bytes of one digit: x / 10 is (x * 103) >> 10 for x < 100.
    let tens = ((x * 103) >> 10) & 0x000F_000F_000F_000F;
    tens | ((x - tens * 10) << 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key by its definition, digit by digit.
    fn by_definition(digits: &[u8]) -> u64 {
        let n = digits.len();
        let digit = |i: usize| u64::from(digits[i - 1] - b'0');
        let mut key = n as u64;
        if n >= 8 {
            for i in 1..=7 {
                key |= digit(i) << (8 * i);
            }
            for j in 0..8 {
                key |= digit(n - 7 + j) << (8 * j + 4);
            }
        } else {
            for i in 1..=n {
                key |= digit(i) << (4 * i);
            }
        }
        key
    }

    fn samples() -> Vec<u64> {
        let mut values = vec![10, 99, 123, 4_155_552, 99_999_999, 100_000_000];
        for len in 2..=15u32 {
            let low = 10u64.pow(len - 1);
            values.extend([low, low + 1, low * 10 - 1, low * 3 + 1_234_567 % low]);
        }
        // A fixed pseudo-random walk over every length.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 2 + (x % 14) as u32;
            let low = 10u64.pow(len - 1);
            values.push(low + (x >> 8) % (low * 9));
        }
        values
    }

    #[test]
    fn encode_follows_the_definition_and_decode_inverts_it() {
        for value in samples() {
            let text = value.to_string();
            let len = text.len() as u32;
            let key = encode(value, len);
            assert_eq!(key, by_definition(text.as_bytes()), "{value}");
            assert_ne!(key, 0);
            assert_eq!(decode(key), value, "{value}");
            assert_eq!(digit_count(key), len);
        }
    }

    #[test]
    fn probe_gives_the_key_of_canonical_text() {
        for value in samples() {
            let text = format!("+{value}");
            let expected = (text.len() >= 9).then(|| encode(value, text.len() as u32 - 1));
            assert_eq!(probe(text.as_bytes()), expected, "{text}");
        }
    }

    /// Every byte value at every position of canonical text of every probed length: the
    /// probe either declines, or gives a key that is the key of a number only when the
    /// text is exactly that number's canonical text.
    #[test]
    fn a_probe_key_is_a_numbers_key_only_for_its_canonical_text() {
        let base = b"+987654321012345678";
        for len in 0..=base.len() {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut input = base[..len].to_vec();
                    input[at] = byte;
                    let Some(key) = probe(&input) else {
                        let canonical = matches!(&input[..], [b'+', b'1'..=b'9', rest @ ..]
                            if rest.iter().all(u8::is_ascii_digit));
                        assert!(!canonical || !(9..=16).contains(&len), "declined {input:?}");
                        continue;
                    };
                    let value = decode(key);
                    let names_a_number = value != 0
                        && value.to_string().len() as u32 == digit_count(key)
                        && encode(value, digit_count(key)) == key;
                    let text = format!("+{value}");
                    assert_eq!(
                        names_a_number,
                        text.as_bytes() == &input[..],
                        "{input:?} gave {key:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn digit_nibbles_lists_the_digits_in_order() {
        for len in 2..=15u32 {
            let value = (1..=u64::from(len))
                .fold(0, |v, d| v * 10 + (d * 7 + 3) % 10)
                .max(1);
            let value = if value < 10u64.pow(len - 1) {
                value + 10u64.pow(len - 1)
            } else {
                value
            };
            let nibbles = digit_nibbles(encode(value, len));
            let want = value
                .to_string()
                .bytes()
                .enumerate()
                .fold(0u64, |acc, (at, b)| acc | (u64::from(b - b'0') << (4 * at)));
            assert_eq!(nibbles, want, "{value}");
        }
    }

    #[test]
    fn is_encoded_accepts_keys_and_rejects_every_single_change_that_breaks_one() {
        for value in samples().into_iter().take(2_000) {
            let len = value.to_string().len() as u32;
            let key = encode(value, len);
            assert!(is_encoded(key), "{value}");
            let text = value.to_string();
            let prefix = |digits: usize| text.get(..digits).map_or(0, |p| p.parse().unwrap_or(0));
            let expected = [1, 2, 3].map(|d| {
                if d <= len as usize {
                    prefix(d)
                } else {
                    prefix(len as usize) * 10u64.pow(d as u32 - len)
                }
            });
            assert_eq!(leading_prefixes(key), expected, "{value}");
            for bit in 0..64 {
                let changed = key ^ (1 << bit);
                let value = decode(changed);
                let digits = digit_count(changed);
                let expected = (2..=15).contains(&digits)
                    && value.to_string().len() as u32 == digits
                    && encode(value, digits) == changed;
                assert_eq!(is_encoded(changed), expected, "{changed:#x}");
            }
        }
        assert!(!is_encoded(0));
        assert!(!is_encoded(1 | (5 << 4)));
    }

    #[test]
    fn digit_bytes_spells_eight_digits() {
        for value in [0, 7, 10, 99_999_999, 12_345_678, 10_000_001, 90_000_000] {
            let spelled: Vec<u8> = format!("{value:08}").bytes().map(|b| b - b'0').collect();
            assert_eq!(
                digit_bytes(value).to_le_bytes().to_vec(),
                spelled,
                "{value}"
            );
        }
    }
}
