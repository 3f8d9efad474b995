//! Event time: RFC 3339 strings with an explicit offset, or integer epoch
//! milliseconds. Hand-written because it is on the hot path of every event and
//! the contract is narrower than what general date libraries accept.

/// Largest accepted epoch-millisecond value: 9999-12-31T23:59:59.999Z.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// Why a timestamp string is not RFC 3339 as the contract defines it.
pub type TsError = &'static str;

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into epoch milliseconds.
/// Fractions beyond milliseconds are truncated.
pub fn parse_rfc3339(s: &str) -> Result<i64, TsError> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err("too short for RFC 3339 (YYYY-MM-DDTHH:MM:SS plus Z or an offset)");
    }
    let (year, month, day) = match (digits(b, 0, 4), digits(b, 5, 2), digits(b, 8, 2)) {
        (Some(y), Some(m), Some(d)) if b[4] == b'-' && b[7] == b'-' => (i64::from(y), m, d),
        _ => return Err("date is not YYYY-MM-DD"),
    };
    if !(1970..=9999).contains(&year) {
        return Err("year must be between 1970 and 9999");
    }
    if !(1..=12).contains(&month) {
        return Err("month must be 01-12");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day does not exist in that month");
    }
    if b[10] != b'T' && b[10] != b't' {
        return Err("date and time must be separated by 'T'");
    }
    let (hour, minute, second) = match (digits(b, 11, 2), digits(b, 14, 2), digits(b, 17, 2)) {
        (Some(h), Some(m), Some(s)) if b[13] == b':' && b[16] == b':' => (h, m, s),
        _ => return Err("time is not HH:MM:SS"),
    };
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time out of range (hour 00-23, minute 00-59, second 00-59)");
    }
    let mut i = 19;
    let mut millis = 0u32;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return Err("fraction of a second must have 1 to 9 digits");
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_min: i64 = match b.get(i..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let (h, m) = match (digits(&[*h1, *h2], 0, 2), digits(&[*m1, *m2], 0, 2)) {
                (Some(h), Some(m)) => (h, m),
                _ => return Err("offset is not ±HH:MM"),
            };
            if h > 23 || m > 59 {
                return Err("offset out of range (hours 00-23, minutes 00-59)");
            }
            let total = i64::from(h * 60 + m);
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return Err("needs an explicit offset: Z or ±HH:MM"),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_min * 60;
    Ok(secs * 1000 + i64::from(millis))
}

/// Format epoch milliseconds as RFC 3339 UTC with milliseconds, e.g.
/// `2026-11-23T12:00:01.234Z`.
pub fn format_rfc3339_utc(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (mi, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.5z"), Ok(500));
        assert_eq!(
            parse_rfc3339("2026-11-23T07:00:00.123456789-05:00"),
            parse_rfc3339("2026-11-23T12:00:00.123Z")
        );
        assert_eq!(
            parse_rfc3339("2024-02-29t23:59:59+00:00"),
            Ok(1_709_251_199_000)
        );
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59.999Z"), Ok(MAX_EPOCH_MS));
    }

    #[test]
    fn rejects_what_rfc3339_does_not_allow() {
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+0500",
            "1969-12-31T23:59:59Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-13-01T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01T00:00:00Zjunk",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn format_round_trips() {
        for ms in [
            0,
            1,
            999,
            1_709_251_199_000,
            1_795_000_000_123,
            MAX_EPOCH_MS,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339_utc(ms)), Ok(ms));
        }
        assert_eq!(
            format_rfc3339_utc(1_709_251_199_000),
            "2024-02-29T23:59:59.000Z"
        );
    }

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-1000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
