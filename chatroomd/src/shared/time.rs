//! Time: the clock ([`unix_now`], read only here and passed into the core as `now`) and the
//! contract's timestamps, UTC `YYYY-MM-DDTHH:MM:SSZ` ([`format_ts`], [`parse_ts`]), done by the
//! `time` crate rather than by date arithmetic of our own.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// The contract's timestamp: whole seconds, UTC, a literal `Z`.
const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// The last second a four-digit year can write, 9999-12-31T23:59:59Z.
const LAST_FORMATTABLE: u64 = 253_402_300_799;

/// Seconds since the Unix epoch, the only clock the room sees.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Formats unix seconds as UTC `YYYY-MM-DDTHH:MM:SSZ`. A time past the year 9999 (which no
/// clock here reaches) is written as the last second of 9999, so the format never changes.
pub fn format_ts(secs: u64) -> String {
    let secs = secs.min(LAST_FORMATTABLE) as i64;
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|time| time.format(TIMESTAMP).ok())
        .expect("every second from 1970 to 9999 formats")
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (what [`format_ts`] writes) back to unix seconds; `None` for
/// anything else, an impossible date or a time before 1970 included (a history from elsewhere
/// may carry other formats).
pub fn parse_ts(ts: &str) -> Option<u64> {
    // `[year]` would also take a sign or more digits; the contract's stamp is exactly 20 bytes.
    if ts.len() != 20 {
        return None;
    }
    let time = PrimitiveDateTime::parse(ts, TIMESTAMP).ok()?.assume_utc();
    u64::try_from(time.unix_timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_ts_is_utc_civil_time() {
        let check = |secs: u64, expected: &str| assert_eq!(format_ts(secs), expected, "{secs}");
        // Constants checked against python3's datetime.
        check(0, "1970-01-01T00:00:00Z");
        check(86_399, "1970-01-01T23:59:59Z");
        check(86_400, "1970-01-02T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_709_210_096, "2024-02-29T12:34:56Z");
        check(1_795_478_400, "2026-11-24T00:00:00Z");
        check(4_107_542_400, "2100-03-01T00:00:00Z");
        check(253_402_300_799, "9999-12-31T23:59:59Z");
        check(u64::MAX, "9999-12-31T23:59:59Z");
    }

    #[test]
    fn parse_ts_inverts_format_ts() {
        for secs in [
            0,
            951_782_400,
            1_709_210_096,
            1_795_478_400,
            4_107_542_399,
            253_402_300_799,
        ] {
            assert_eq!(
                parse_ts(&format_ts(secs)),
                Some(secs),
                "{}",
                format_ts(secs)
            );
        }
    }

    #[test]
    fn parse_ts_refuses_what_format_ts_never_writes() {
        for bad in [
            "",
            "2026-11-24 00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-24T00:00:00.5Z",
            "1969-12-31T23:59:59Z",
            "2026-11-24T00:00:00+00:00",
            "+2026-11-24T00:00:00Z",
            "2026-11-24T24:00:00Z",
            // Impossible dates the hand-rolled parser took before the `time` crate did this.
            "2026-02-30T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-24T23:59:60Z",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad}");
        }
    }
}
