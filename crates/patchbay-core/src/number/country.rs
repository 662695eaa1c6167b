//! The table of assigned country calling codes.
//!
//! This is the only metadata the canonical fast path consults: a 1000-bit set indexed by the
//! code's value. E.164 country codes form a prefix-free set (no assigned code is a prefix of
//! another), so the code of a number is the one of its first one, two or three digits that is
//! in the set. A test checks this table against libphonenumber's metadata (`rlibphonenumber`).

/// Every country calling code that the metadata knows, geographic and non-geographic
/// (800 international freephone, 808 shared cost, 870 Inmarsat, 878 UPT, 881–883 global and
/// international networks, 888 OCHA, 979 premium rate).
pub(crate) const ASSIGNED: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505, 506,
    507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675, 676,
    677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850, 852,
    853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966, 967,
    968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

const fn build_set() -> [u64; 16] {
    let mut set = [0u64; 16];
    let mut i = 0;
    while i < ASSIGNED.len() {
        let code = ASSIGNED[i] as usize;
        set[code / 64] |= 1 << (code % 64);
        i += 1;
    }
    set
}

/// Bit `c` is set when `c` is an assigned code. Codes are below 1000, so 16 words cover them.
static SET: [u64; 16] = build_set();

#[inline]
fn is_assigned(code: u64) -> bool {
    // `code` is below 1000 by construction at every call site; `get` keeps it panic-free.
    SET.get((code / 64) as usize)
        .is_some_and(|word| word & (1 << (code % 64)) != 0)
}

/// The country calling code at the start of `digits` (a number without the `+`, `len` decimal
/// digits long, no leading zero), and its length in digits.
#[inline]
pub(crate) fn split(digits: u64, len: u32) -> Option<(u16, u32)> {
    for cc_len in 1..=3u32 {
        if cc_len > len {
            return None;
        }
        let code = digits / POW10[(len - cc_len) as usize];
        if is_assigned(code) {
            return Some((code as u16, cc_len));
        }
    }
    None
}

/// The length of the country code of a `len`-digit number whose first one, two and three
/// digits read as `prefixes` (entries past `len` are ignored).
#[inline]
pub(crate) fn code_len(prefixes: [u64; 3], len: usize) -> Option<usize> {
    prefixes
        .iter()
        .take(len)
        .position(|&code| is_assigned(code))
        .map(|at| at + 1)
}

/// Powers of ten up to 10^15.
pub(crate) const POW10: [u64; 16] = {
    let mut table = [1u64; 16];
    let mut i = 1;
    while i < 16 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_prefix_free() {
        for &a in ASSIGNED {
            for &b in ASSIGNED {
                if a == b {
                    continue;
                }
                let (sa, sb) = (a.to_string(), b.to_string());
                assert!(!sb.starts_with(&sa), "{a} is a prefix of {b}");
            }
        }
    }

    #[test]
    fn table_matches_libphonenumber_metadata() {
        let util = &*rlibphonenumber::PHONE_NUMBER_UTIL;
        let mut expected: Vec<u16> = util
            .get_supported_calling_codes()
            .filter_map(|code| u16::try_from(code).ok())
            .collect();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(ASSIGNED, expected.as_slice());
        let mut non_geographic: Vec<i32> =
            util.get_supported_global_network_calling_codes().collect();
        non_geographic.sort_unstable();
        assert_eq!(
            non_geographic,
            [800, 808, 870, 878, 881, 882, 883, 888, 979]
        );
    }

    #[test]
    fn split_finds_codes_of_every_length() {
        assert_eq!(split(14155552671, 11), Some((1, 1)));
        assert_eq!(split(442079460958, 12), Some((44, 2)));
        assert_eq!(split(353123456, 9), Some((353, 3)));
        // 28 and 289 are unassigned.
        assert_eq!(split(289123456, 9), None);
        assert_eq!(split(9791234, 7), Some((979, 3)));
        assert_eq!(split(9, 1), None);
    }
}
