//! RFC 3339 instants as the history's milliseconds since the Unix epoch: read with any
//! offset (`Z`, `+02:00`, `-05:30`) and up to nanoseconds (kept to the millisecond), written
//! in UTC with milliseconds (`2026-12-07T21:04:05.123Z`).

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Writes `ms` (since the epoch) as RFC 3339 in UTC, with milliseconds.
pub(crate) fn format(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Reads an RFC 3339 date-time (`2026-12-07T15:00:00Z`, `2026-12-07t15:00:00.5+01:00`) as
/// milliseconds since the epoch. The error says what is wrong, for a `400`.
pub(crate) fn parse(text: &str) -> Result<i64, String> {
    let bad = |why: &str| {
        format!(
            "{text:?} is not an RFC 3339 date-time ({why}): write it like \
             2026-12-07T15:00:00Z or 2026-12-07T16:00:00+01:00"
        )
    };
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Result<i64, String> {
        let part = b
            .get(from..from + len)
            .ok_or_else(|| bad("it ends early"))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("a digit is expected"));
        }
        Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, allowed: &[u8], what: &str| -> Result<(), String> {
        match b.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(bad(what)),
        }
    };
    let y = digits(0, 4)?;
    sep(4, b"-", "a '-' after the year")?;
    let m = digits(5, 2)?;
    sep(7, b"-", "a '-' after the month")?;
    let d = digits(8, 2)?;
    sep(10, b"Tt ", "a 'T' between the date and the time")?;
    let h = digits(11, 2)?;
    sep(13, b":", "a ':' after the hour")?;
    let min = digits(14, 2)?;
    sep(16, b":", "a ':' after the minutes")?;
    let s = digits(17, 2)?;
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad("no such date"));
    }
    if h > 23 || min > 59 || s > 60 {
        return Err(bad("no such time"));
    }
    let mut at = 19;
    let mut milli = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start || at - start > 9 {
            return Err(bad("1 to 9 digits of a fraction of a second are expected"));
        }
        let frac = digits(start, (at - start).min(3))?;
        milli = frac * 10i64.pow(3 - (at - start).min(3) as u32);
    }
    let offset_min = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh = digits(at + 1, 2)?;
            sep(at + 3, b":", "an offset like +01:00")?;
            let om = digits(at + 4, 2)?;
            if at + 6 != b.len() {
                return Err(bad("characters after the offset"));
            }
            if oh > 23 || om > 59 {
                return Err(bad("no such offset"));
            }
            let minutes = oh * 60 + om;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => {
            return Err(bad(
                "a time zone ('Z' or an offset like +01:00) is expected",
            ))
        }
    };
    // A leap second reads as the last millisecond's next: the second after.
    let seconds = days_from_civil(y, m, d) * 86_400 + h * 3_600 + min * 60 + s - offset_min * 60;
    Ok(seconds * 1_000 + milli)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn reads_offsets_fractions_and_the_epoch() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(parse("1969-12-31T19:00:00-05:00"), Ok(0));
        assert_eq!(parse("2026-12-07T15:00:00.5Z"), Ok(1_796_655_600_500));
        assert_eq!(
            parse("2026-12-07t15:00:00.123456789z"),
            Ok(1_796_655_600_123)
        );
        assert_eq!(format(1_796_655_600_123), "2026-12-07T15:00:00.123Z");
        assert_eq!(
            parse("2024-02-29T00:00:00Z").map(format),
            Ok("2024-02-29T00:00:00.000Z".into())
        );
    }

    #[test]
    fn refuses_what_is_not_a_date_time_and_says_why() {
        for (text, why) in [
            ("yesterday", "a digit"),
            ("2026-12-07", "a 'T'"),
            ("2026-12-07T15:0", "ends early"),
            ("2026-12-07T15:00:00", "time zone"),
            ("2026-13-07T15:00:00Z", "no such date"),
            ("2025-02-29T15:00:00Z", "no such date"),
            ("2026-12-07T24:00:00Z", "no such time"),
            ("2026-12-07T15:00:00.Z", "fraction"),
            ("2026-12-07T15:00:00Zjunk", "time zone"),
            ("2026-12-07T15:00:00+0100", "offset"),
            ("２０２６-12-07T15:00:00Z", "digit"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    proptest! {
        /// Every instant written reads back as itself, and any string reads without a panic.
        #[test]
        fn written_instants_read_back(ms in -62_135_596_800_000i64..253_402_300_799_999) {
            prop_assert_eq!(parse(&format(ms)), Ok(ms));
        }

        #[test]
        fn any_text_reads_without_a_panic(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }
    }
}
