//! Loading watchlists from CSV (Parquet arrives here as CSV, converted by
//! polars in Python): columns `plate` and `list` required; `entry_id`,
//! `priority`, `valid_from`, `expires_at`, `region`, `make`, `color`, `match`,
//! `note` optional; other columns ignored; `#` starts a comment line. A bad row
//! fails the load with file, line and what to do, or is skipped and reported.

use super::{EntrySpec, MatchMode, Watchlist, WatchlistConfig, WatchlistError};
use crate::timestamp::{days_from_civil, parse_rfc3339};

/// How to load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Skip bad rows (reported in [`LoadReport`]) instead of failing.
    pub skip_bad_rows: bool,
}

/// A row left out of the load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRow {
    pub line: u64,
    pub message: String,
}

/// What a load did besides adding entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub loaded: usize,
    pub skipped: Vec<SkippedRow>,
}

/// `2026-11-23T07:00:00-05:00`, epoch milliseconds, or a date (`2026-11-23`,
/// midnight UTC).
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(ms) = parse_rfc3339(s) {
        return Some(ms);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let y = s[..4].parse().ok()?;
        let m: u32 = s[5..7].parse().ok()?;
        let d: u32 = s[8..].parse().ok()?;
        if (1..=12).contains(&m) && (1..=31).contains(&d) {
            return Some(days_from_civil(y, m, d) * 86_400_000);
        }
    }
    None
}

const COLUMNS: &str = "plate,list and optionally entry_id,priority,valid_from,expires_at,\
region,make,color,match,note";

impl Watchlist {
    /// Parse a CSV watchlist with the default matching rules; the first bad row
    /// fails the load.
    pub fn from_csv(data: &[u8], source: &str) -> Result<Self, WatchlistError> {
        let mut wl = Watchlist::new();
        wl.load_csv(data, source, &LoadOptions::default())?;
        Ok(wl)
    }

    /// A watchlist with `config` rules, loaded from CSV.
    pub fn from_csv_with(
        data: &[u8],
        source: &str,
        config: &WatchlistConfig,
        options: &LoadOptions,
    ) -> Result<(Self, LoadReport), WatchlistError> {
        let mut wl = Watchlist::with_config(config).map_err(|message| WatchlistError {
            source: source.to_owned(),
            line: None,
            message,
        })?;
        let report = wl.load_csv(data, source, options)?;
        Ok((wl, report))
    }

    /// Add (or replace, by entry id) the rows of a CSV file. Ids repeated within
    /// the file are an error: a file is one consistent list.
    pub fn load_csv(
        &mut self,
        data: &[u8],
        source: &str,
        options: &LoadOptions,
    ) -> Result<LoadReport, WatchlistError> {
        let err = |line: Option<u64>, message: String| WatchlistError {
            source: source.to_owned(),
            line,
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(data);
        let headers = rdr
            .headers()
            .map_err(|e| err(Some(1), format!("cannot read the header: {e}")))?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let found = headers.iter().collect::<Vec<_>>().join(", ");
        let need = |name: &str| {
            col(name).ok_or_else(|| {
                err(
                    Some(1),
                    format!(
                        "the header has no `{name}` column (found: {found}); a watchlist has \
                         columns {COLUMNS}"
                    ),
                )
            })
        };
        let (c_plate, c_list) = (need("plate")?, need("list")?);
        let c = |n| col(n);
        let (c_id, c_prio, c_from, c_until) = (
            c("entry_id"),
            c("priority"),
            c("valid_from"),
            c("expires_at"),
        );
        let (c_region, c_make, c_color, c_match, c_note) =
            (c("region"), c("make"), c("color"), c("match"), c("note"));

        let mut report = LoadReport::default();
        // Line of each entry loaded by this call, by entry index (0: not this
        // call): a repeated id in one file is an error, a repeat of an older
        // entry's id replaces it.
        let mut loaded_on: Vec<u64> = Vec::new();
        self.reserve(data.iter().filter(|&&b| b == b'\n').count());
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map(|p| p.line());
                    let message = format!("not a valid CSV row: {e}");
                    if options.skip_bad_rows
                        && line.is_some()
                        && !matches!(e.kind(), csv::ErrorKind::Io(_))
                    {
                        report.skipped.push(SkippedRow {
                            line: line.unwrap_or(0),
                            message,
                        });
                        continue;
                    }
                    return Err(err(line, message));
                }
            }
            let line = record.position().map_or(0, |p| p.line());
            let get = |i: Option<usize>| {
                i.and_then(|i| record.get(i))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
            };
            let row = || -> Result<EntrySpec, String> {
                let priority = match get(c_prio) {
                    None => None,
                    Some(p) => Some(
                        p.parse::<u8>()
                            .ok()
                            .filter(|n| (1..=4).contains(n))
                            .ok_or_else(|| {
                                format!(
                                    "priority {p:?} must be 1, 2, 3 or 4 (1 = most urgent), or \
                                 empty for the list's default"
                                )
                            })?,
                    ),
                };
                let time = |i: Option<usize>, name: &str| -> Result<Option<i64>, String> {
                    get(i)
                        .map(|s| {
                            parse_time(s).ok_or_else(|| {
                                format!(
                                    "{name} {s:?} is not a time; write RFC 3339 \
                                     (2026-11-23T07:00:00-05:00), a date (2026-11-23) or \
                                     epoch milliseconds"
                                )
                            })
                        })
                        .transpose()
                };
                let match_mode = get(c_match)
                    .map(|m| {
                        MatchMode::parse(m).ok_or_else(|| {
                            format!(
                                "match {m:?} must be exact or lookalike (or empty for the list's)"
                            )
                        })
                    })
                    .transpose()?;
                Ok(EntrySpec {
                    entry_id: get(c_id).unwrap_or("").to_owned(),
                    plate: record.get(c_plate).unwrap_or("").to_owned(),
                    list: record.get(c_list).unwrap_or("").to_owned(),
                    priority,
                    valid_from_ms: time(c_from, "valid_from")?,
                    expires_ms: time(c_until, "expires_at")?,
                    region: get(c_region).map(str::to_owned),
                    make: get(c_make).map(str::to_owned),
                    color: get(c_color).map(str::to_owned),
                    match_mode,
                    note: get(c_note).map(str::to_owned),
                })
            };
            let result = row().and_then(|spec| {
                let default_id;
                let id = if spec.entry_id.trim().is_empty() {
                    default_id = super::default_entry_id(&spec.list, &spec.plate);
                    default_id.as_str()
                } else {
                    spec.entry_id.trim()
                };
                if let Some(prev) = self
                    .find_id(id)
                    .and_then(|i| loaded_on.get(i as usize).copied())
                    .filter(|&l| l != 0)
                {
                    return Err(format!(
                        "entry_id {id:?} is already used on line {prev}; entry ids (or \
                         list:plate when entry_id is empty) must be unique"
                    ));
                }
                let idx = self.upsert_idx(spec)? as usize;
                if loaded_on.len() <= idx {
                    loaded_on.resize(idx + 1, 0);
                }
                loaded_on[idx] = line;
                Ok(())
            });
            match result {
                Ok(()) => report.loaded += 1,
                Err(message) if options.skip_bad_rows => {
                    report.skipped.push(SkippedRow { line, message })
                }
                Err(message) => return Err(err(Some(line), message)),
            }
        }
        if self.filters_full() {
            self.rebuild_filters();
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_time("86400000"), Some(86_400_000));
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400_000));
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("ayer"), None);
    }
}
