//! Unix seconds as Cedar `datetime` literals, so policies can reason about the time of day.
//!
//! Cedar has no remainder operator, so `context.time` (a Long) cannot express "between 08:00 and
//! 18:00". The engine therefore also passes `context.now`, the same instant as a `datetime`,
//! whose `toTime()` is the duration since midnight UTC.

/// Earliest instant a Cedar datetime literal can spell (year 0000).
const MIN_SECONDS: i64 = -62_167_219_200;
/// Latest instant a Cedar datetime literal can spell (9999-12-31T23:59:59Z).
const MAX_SECONDS: i64 = 253_402_300_799;

/// The literal `YYYY-MM-DDThh:mm:ssZ` for `unix_seconds`, clamped to the years 0000 to 9999 that
/// the literal can spell (a request that far from now is already nonsense; clamping keeps it a
/// value rather than an error).
pub(crate) fn datetime_literal(unix_seconds: i64) -> String {
    let seconds = unix_seconds.clamp(MIN_SECONDS, MAX_SECONDS);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Year, month and day of the proleptic Gregorian calendar for a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(datetime_literal(0), "1970-01-01T00:00:00Z");
        assert_eq!(datetime_literal(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(datetime_literal(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(datetime_literal(-1), "1969-12-31T23:59:59Z");
        assert_eq!(datetime_literal(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(datetime_literal(i64::MIN), "0000-01-01T00:00:00Z");
    }
}
