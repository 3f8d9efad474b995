//! Watchlists (hot lists): plates to alert on, each entry on a named list
//! (`stolen_vehicle`, `wanted`, ...) with an optional priority of its own.
//!
//! Loaded from CSV bytes (the caller reads the file); every bad row fails the
//! load with the file, the line and what to do. Lookups are by the plate's
//! 64-bit key, so exact matching costs one hash probe per read.

use crate::plate::Plate;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::fmt;

/// One watchlist entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub entry_id: String,
    pub plate: Plate,
    /// Index into [`Watchlist::lists`].
    pub list: u16,
    /// Entry-specific priority, overriding the list's.
    pub priority: Option<u8>,
    /// Line in the source file, for messages.
    pub line: u64,
}

/// A set of watchlist entries, indexed by plate.
#[derive(Clone, Debug, Default)]
pub struct Watchlist {
    entries: Vec<Entry>,
    lists: Vec<String>,
    /// Plate key -> first entry with that plate; further ones chain via `next`.
    by_plate: FxHashMap<u64, u32>,
    next: Vec<u32>,
    /// Answers "certainly not listed" for almost every read without touching
    /// `by_plate`.
    filter: KeyFilter,
}

/// A one-hash bit filter over plate keys, 16 bits per distinct plate.
///
/// Nearly every read is of an unlisted plate. A 100k-entry hash map takes
/// megabytes and a probe misses the CPU caches; this filter (128 KiB for 100k
/// plates) stays cached and sends only ~6 % of unlisted reads on to the map.
#[derive(Clone, Debug)]
struct KeyFilter {
    bits: Vec<u64>,
    /// 64 - log2(number of bits): Fibonacci hashing takes the top bits.
    shift: u32,
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter::with_bits(1 << 10)
    }
}

impl KeyFilter {
    const BITS_PER_KEY: usize = 16;

    fn with_bits(n_bits: usize) -> Self {
        let n_bits = n_bits.next_power_of_two().max(64);
        KeyFilter {
            bits: vec![0; n_bits / 64],
            shift: 64 - n_bits.trailing_zeros(),
        }
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    fn insert(&mut self, key: u64) {
        let i = self.slot(key);
        self.bits[i / 64] |= 1 << (i % 64);
    }

    #[inline]
    fn may_contain(&self, key: u64) -> bool {
        let i = self.slot(key);
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    fn capacity(&self) -> usize {
        self.bits.len() * 64 / Self::BITS_PER_KEY
    }
}

const NONE: u32 = u32::MAX;

/// Why a watchlist could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchlistError {
    /// The file (or other source) name.
    pub source: String,
    /// 1-based line in the source, when the problem is on one line.
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for WatchlistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {}: {}", self.source, line, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for WatchlistError {}

impl Watchlist {
    /// An empty watchlist: nothing matches.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one entry; `entry_id` must be unique.
    pub fn insert(
        &mut self,
        entry_id: String,
        plate: Plate,
        list: &str,
        priority: Option<u8>,
        line: u64,
    ) -> Result<(), String> {
        if self.entries.len() >= NONE as usize - 1 {
            return Err("too many entries (the limit is 4 billion)".into());
        }
        let list = match self.lists.iter().position(|l| l == list) {
            Some(i) => i as u16,
            None => {
                if self.lists.len() >= usize::from(u16::MAX) {
                    return Err("too many distinct lists".into());
                }
                self.lists.push(list.to_owned());
                (self.lists.len() - 1) as u16
            }
        };
        let idx = self.entries.len() as u32;
        let key = plate.key();
        if !self.by_plate.contains_key(&key) {
            if self.by_plate.len() + 1 > self.filter.capacity() {
                self.grow_filter();
            }
            self.filter.insert(key);
        }
        let head = self.by_plate.entry(key).or_insert(NONE);
        self.next.push(*head);
        *head = idx;
        self.entries.push(Entry {
            entry_id,
            plate,
            list,
            priority,
            line,
        });
        Ok(())
    }

    /// Parse a CSV watchlist. Columns: `plate`, `list` (required), `entry_id`,
    /// `priority` (optional; 1-4, empty = the list's default). Other columns are
    /// ignored; `#` starts a comment line.
    pub fn from_csv(data: &[u8], source: &str) -> Result<Self, WatchlistError> {
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
                        "the header has no `{name}` column (found: {found}); \
                         a watchlist needs columns plate,list and may add entry_id,priority"
                    ),
                )
            })
        };
        let (c_plate, c_list) = (need("plate")?, need("list")?);
        let (c_id, c_priority) = (col("entry_id"), col("priority"));

        let mut wl = Watchlist::new();
        let mut first_line: FxHashMap<String, u64> = FxHashMap::default();
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map(|p| p.line());
                    return Err(err(line, format!("not a valid CSV row: {e}")));
                }
            }
            let line = record.position().map_or(0, |p| p.line());
            let at = Some(line);
            let field = |i: usize| record.get(i).unwrap_or("");
            let raw_plate = field(c_plate);
            let plate = Plate::parse(raw_plate).map_err(|e| {
                err(
                    at,
                    format!(
                        "plate {raw_plate:?}: {}; fix or remove the row",
                        e.describe()
                    ),
                )
            })?;
            let list = field(c_list);
            if list.is_empty() {
                return Err(err(
                    at,
                    "the `list` column is empty; name the list (e.g. stolen_vehicle)".into(),
                ));
            }
            let priority = match c_priority.map(field).filter(|p| !p.is_empty()) {
                None => None,
                Some(p) => match p.parse::<u8>() {
                    Ok(n @ 1..=4) => Some(n),
                    _ => {
                        return Err(err(
                            at,
                            format!(
                                "priority {p:?} must be 1, 2, 3 or 4 (1 = most urgent), \
                                 or empty for the list's default"
                            ),
                        ))
                    }
                },
            };
            let entry_id = match c_id.map(field).filter(|s| !s.is_empty()) {
                Some(id) => id.to_owned(),
                None => format!("{list}:{plate}"),
            };
            if let Some(prev) = first_line.get(&entry_id) {
                return Err(err(
                    at,
                    format!(
                        "entry_id {entry_id:?} is already used on line {prev}; \
                         entry ids (or plate+list when entry_id is empty) must be unique"
                    ),
                ));
            }
            first_line.insert(entry_id.clone(), line);
            wl.insert(entry_id, plate, list, priority, line)
                .map_err(|m| err(at, m))?;
        }
        Ok(wl)
    }

    fn grow_filter(&mut self) {
        let mut filter = KeyFilter::with_bits(self.filter.bits.len() * 64 * 2);
        for &key in self.by_plate.keys() {
            filter.insert(key);
        }
        self.filter = filter;
    }

    /// Entries whose plate is exactly `plate`.
    pub fn exact(&self, plate: &Plate) -> impl Iterator<Item = &Entry> + '_ {
        let key = plate.key();
        let mut i = if self.filter.may_contain(key) {
            self.by_plate.get(&key).copied().unwrap_or(NONE)
        } else {
            NONE
        };
        std::iter::from_fn(move || {
            if i == NONE {
                return None;
            }
            let e = &self.entries[i as usize];
            i = self.next[i as usize];
            Some(e)
        })
    }

    /// The name of a list by index.
    pub fn list_name(&self, list: u16) -> &str {
        &self.lists[usize::from(list)]
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries per list, for metrics and summaries.
    pub fn counts_by_list(&self) -> BTreeMap<String, usize> {
        let mut counts = vec![0usize; self.lists.len()];
        for e in &self.entries {
            counts[usize::from(e.list)] += 1;
        }
        self.lists.iter().cloned().zip(counts).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plate(s: &str) -> Plate {
        Plate::parse(s).unwrap()
    }

    #[test]
    fn loads_and_matches_exactly() {
        let csv = b"entry_id,plate,list,priority\nSV-1,abc-123,stolen_vehicle,\nW-1,ABC123,wanted,1\n# gone\nSP-1,XYZ98A,stolen_plate,3\n";
        let wl = Watchlist::from_csv(csv, "w.csv").unwrap();
        assert_eq!(wl.len(), 3);
        let mut ids: Vec<_> = wl
            .exact(&plate("ABC123"))
            .map(|e| e.entry_id.as_str())
            .collect();
        ids.sort();
        assert_eq!(ids, ["SV-1", "W-1"]);
        assert_eq!(wl.exact(&plate("ABC124")).count(), 0);
        assert_eq!(wl.counts_by_list()["stolen_vehicle"], 1);
    }

    #[test]
    fn filter_never_hides_a_listed_plate_and_rejects_most_others() {
        let mut wl = Watchlist::new();
        let mut listed = Vec::new();
        for i in 0..50_000u32 {
            let p = plate(&format!("A{i:06}"));
            wl.insert(format!("E{i}"), p, "l", None, 0).unwrap();
            listed.push(p);
        }
        assert!(listed.iter().all(|p| wl.exact(p).count() == 1));
        let passed = (0..100_000u32)
            .filter(|i| wl.filter.may_contain(plate(&format!("B{i:06}")).key()))
            .count();
        assert!(
            passed < 10_000,
            "{passed} of 100000 unlisted plates passed the filter"
        );
    }

    #[test]
    fn entry_id_defaults_to_list_and_plate() {
        let wl = Watchlist::from_csv(b"plate,list\nabc 123,wanted\n", "w.csv").unwrap();
        assert_eq!(
            wl.exact(&plate("ABC123")).next().unwrap().entry_id,
            "wanted:ABC123"
        );
    }

    #[test]
    fn bad_rows_name_file_line_and_fix() {
        let e = Watchlist::from_csv(b"plate,list\nABC123,wanted\nA,wanted\n", "w.csv").unwrap_err();
        assert_eq!((e.source.as_str(), e.line), ("w.csv", Some(3)));
        assert!(
            e.to_string().starts_with("w.csv line 3: plate \"A\""),
            "{e}"
        );

        let e =
            Watchlist::from_csv(b"plate,list,priority\nABC123,wanted,7\n", "w.csv").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("1, 2, 3 or 4"));

        let e = Watchlist::from_csv(b"plate,kind\nABC123,wanted\n", "w.csv").unwrap_err();
        assert!(e.message.contains("no `list` column"), "{e}");

        let e = Watchlist::from_csv(b"plate,list\nABC123,wanted\nabc-123,wanted\n", "w.csv")
            .unwrap_err();
        assert!(e.message.contains("line 2"), "{e}");

        let e = Watchlist::from_csv(b"plate,list\nABC123,wanted,extra\n", "w.csv").unwrap_err();
        assert_eq!(e.line, Some(2));
    }
}
