//! Watchlists (hot lists): plates to alert on, each entry on a named list
//! (`stolen_vehicle`, `wanted`, ...) with its own priority, validity window,
//! region, vehicle description and match mode; wildcard entries for partial
//! plates; allow lists.
//!
//! Matching a read looks up, each with one probe of a compact index behind a
//! bit filter: the plate itself (exact), its look-alike canonical form (any
//! number of OCR look-alike substitutions, then counted and checked pair by
//! pair), the plate with a dropped or extra edge character, wildcard patterns
//! by literal prefix/suffix, and the read's OCR candidates. Every hit carries
//! how it matched and a probability-like score (see `docs/watchlist.md`); an
//! entry is hit at most once per read, by its strongest match.
//!
//! Entries can be added, replaced and removed while matching goes on: the
//! indexes support removal, and the engine shares the watchlist behind a
//! read-write lock held per batch.

mod load;
mod lookalike;
mod pattern;
mod table;
mod variants;

pub use load::{LoadOptions, LoadReport, SkippedRow};
pub use lookalike::{ConfusionTable, Template, Templates, DEFAULT_GROUPS, DEFAULT_TEMPLATES};
pub use variants::read_variants;

use crate::event::Candidate;
use crate::plate::{key_of, Plate};
use lookalike::SYMBOLS;
use pattern::{Pattern, PatternIndex};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use table::{IdxTable, END};

/// How an entry may be matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Only the plate itself (and wildcard patterns, which are exact per character).
    Exact,
    /// Also look-alike substitutions, dropped/extra edge characters, candidates.
    Lookalike,
}

impl MatchMode {
    pub fn parse(s: &str) -> Option<MatchMode> {
        match s.to_ascii_lowercase().as_str() {
            "exact" => Some(MatchMode::Exact),
            "lookalike" | "look-alike" => Some(MatchMode::Lookalike),
            _ => None,
        }
    }
}

/// What a list is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// A hot list: a listed plate is the alert.
    #[default]
    Alert,
    /// An allow (white) list: in the zones that use it, a plate NOT on it is the
    /// alert. Its entries never raise hits themselves.
    Allow,
}

/// Settings of one list.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ListSettings {
    pub kind: ListKind,
    /// The list's default priority (1-4); `None`: the engine's `list_priorities`.
    pub priority: Option<u8>,
    /// The list's match mode (entries may override it).
    #[serde(rename = "match")]
    pub match_mode: Option<MatchMode>,
}

impl Default for ListSettings {
    fn default() -> Self {
        ListSettings {
            kind: ListKind::Alert,
            priority: None,
            match_mode: None,
        }
    }
}

/// Matching settings; every field has a default. Deserialised from JSON.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WatchlistConfig {
    /// Look-alike groups, e.g. `"0ODQ"`, `"HKMN:0.5"` (weight after the colon).
    pub confusion: Vec<String>,
    /// Plate formats, e.g. `"co_car=LLLDDD"` (see [`Template::parse`]).
    pub templates: Vec<String>,
    /// Most look-alike substitutions in one hit (0 to 2).
    pub max_substitutions: u8,
    /// Match a dropped or extra first/last character.
    pub edges: bool,
    /// Share of each plate format's possible plates that are on the road (0-1):
    /// how likely another correction of an impossible read is a real plate.
    pub plate_density: f32,
    /// Match mode of lists not in `lists` and entries without their own.
    pub default_match: MatchMode,
    /// Per-list settings by list name.
    pub lists: BTreeMap<String, ListSettings>,
}

impl Default for WatchlistConfig {
    fn default() -> Self {
        WatchlistConfig {
            confusion: DEFAULT_GROUPS.iter().map(|s| s.to_string()).collect(),
            templates: DEFAULT_TEMPLATES.iter().map(|s| s.to_string()).collect(),
            max_substitutions: 1,
            edges: true,
            plate_density: 0.3,
            default_match: MatchMode::Lookalike,
            lists: BTreeMap::new(),
        }
    }
}

/// The compiled form of a [`WatchlistConfig`].
#[derive(Clone, Debug)]
struct Rules {
    source: WatchlistConfig,
    confusion: ConfusionTable,
    templates: Templates,
}

impl WatchlistConfig {
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("watchlist configuration: {e}"))
    }

    fn compile(&self) -> Result<Rules, String> {
        if self.max_substitutions > 2 {
            return Err(format!(
                "max_substitutions is {}; it must be 0, 1 or 2 (more pages innocent cars)",
                self.max_substitutions
            ));
        }
        if !(0.0..=1.0).contains(&self.plate_density) {
            return Err(format!(
                "plate_density is {}; it must be between 0 and 1 (the share of plates in use)",
                self.plate_density
            ));
        }
        for (name, l) in &self.lists {
            if l.priority.is_some_and(|p| !(1..=4).contains(&p)) {
                return Err(format!("lists.{name}.priority must be 1, 2, 3 or 4"));
            }
        }
        Ok(Rules {
            source: self.clone(),
            confusion: ConfusionTable::from_groups(&self.confusion)?,
            templates: Templates::parse(&self.templates)?,
        })
    }
}

/// An entry to add or replace: the fields of a watchlist row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EntrySpec {
    /// Unique id; empty: `list:PLATE`.
    pub entry_id: String,
    /// The plate, or a pattern with `?` (one character) and `*` (any run).
    pub plate: String,
    pub list: String,
    pub priority: Option<u8>,
    pub valid_from_ms: Option<i64>,
    pub expires_ms: Option<i64>,
    pub region: Option<String>,
    pub make: Option<String>,
    pub color: Option<String>,
    pub match_mode: Option<MatchMode>,
    pub note: Option<String>,
}

/// One stored entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub entry_id: Box<str>,
    /// The listed plate (for a pattern: its literal characters, unused for matching).
    pub plate: Plate,
    pattern: Option<Box<Pattern>>,
    /// Index into the watchlist's list names.
    pub list: u16,
    /// Entry-specific priority, overriding the list's.
    pub priority: Option<u8>,
    match_mode: MatchMode,
    region: u32,
    make: u32,
    color: u32,
    pub valid_from_ms: i64,
    pub expires_ms: i64,
    pub note: Option<Box<str>>,
    alive: bool,
}

impl Entry {
    /// The listed plate or pattern as text.
    pub fn listed(&self) -> String {
        match &self.pattern {
            Some(p) => p.to_string(),
            None => self.plate.as_str().to_owned(),
        }
    }

    pub fn is_pattern(&self) -> bool {
        self.pattern.is_some()
    }

    pub fn match_mode(&self) -> MatchMode {
        self.match_mode
    }

    /// Active at `at_ms` (valid-from inclusive, expiry exclusive)?
    #[inline]
    pub fn active_at(&self, at_ms: i64) -> bool {
        self.valid_from_ms <= at_ms && at_ms < self.expires_ms
    }
}

/// How a hit matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    Exact,
    Lookalike,
    Edge,
    Pattern,
    Candidate,
}

impl MatchKind {
    pub const ALL: [MatchKind; 5] = [
        MatchKind::Exact,
        MatchKind::Lookalike,
        MatchKind::Edge,
        MatchKind::Pattern,
        MatchKind::Candidate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Lookalike => "lookalike",
            MatchKind::Edge => "edge",
            MatchKind::Pattern => "pattern",
            MatchKind::Candidate => "candidate",
        }
    }
}

/// Which edge character a read lost or gained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    DroppedFirst,
    DroppedLast,
    ExtraFirst,
    ExtraLast,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::DroppedFirst => "dropped_first",
            EdgeKind::DroppedLast => "dropped_last",
            EdgeKind::ExtraFirst => "extra_first",
            EdgeKind::ExtraLast => "extra_last",
        }
    }
}

/// One look-alike substitution: at `pos` (0-based) the camera read `read` where
/// the listed plate has `listed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sub {
    pub pos: u8,
    pub read: u8,
    pub listed: u8,
}

/// Evidence beyond the plate itself.
pub mod corroboration {
    /// The listed plate is among the read's OCR candidates.
    pub const CANDIDATE: u8 = 1;
    /// The entry's make/colour agree with the read's vehicle.
    pub const VEHICLE: u8 = 2;
    /// The entry's make/colour contradict the read's vehicle.
    pub const VEHICLE_MISMATCH: u8 = 4;
}

/// A read matching an entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Index of the entry (see [`Watchlist::entry`]).
    pub entry: u32,
    pub kind: MatchKind,
    /// Probability-like confidence that the read vehicle is the listed one.
    pub score: f32,
    pub subs: [Sub; 2],
    pub n_subs: u8,
    pub edge: Option<EdgeKind>,
    /// Bit set of [`corroboration`] flags.
    pub corroboration: u8,
}

impl Hit {
    fn new(entry: u32, kind: MatchKind, score: f32) -> Hit {
        Hit {
            entry,
            kind,
            score,
            subs: [Sub::default(); 2],
            n_subs: 0,
            edge: None,
            corroboration: 0,
        }
    }

    pub fn substitutions(&self) -> &[Sub] {
        &self.subs[..usize::from(self.n_subs)]
    }
}

/// A read to match.
#[derive(Clone, Copy, Debug)]
pub struct ReadQuery<'a> {
    pub plate: &'a Plate,
    /// The event's time: validity windows are checked against it.
    pub at_ms: i64,
    /// Where the read happened (`CO`, `MX-MEX`); `None`: any region.
    pub region: Option<&'a str>,
    pub confidence: Option<f64>,
    pub candidates: &'a [Candidate],
    pub make: Option<&'a str>,
    pub color: Option<&'a str>,
}

impl<'a> ReadQuery<'a> {
    /// A bare plate at a time.
    pub fn plate(plate: &'a Plate, at_ms: i64) -> Self {
        ReadQuery {
            plate,
            at_ms,
            region: None,
            confidence: None,
            candidates: &[],
            make: None,
            color: None,
        }
    }
}

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

/// A one-hash bit filter over keys, 16 bits per key: nearly every read is of an
/// unlisted plate, and this filter (2 bytes per key) stays in cache where the
/// index would not.
#[derive(Clone, Debug)]
struct KeyFilter {
    bits: Vec<u64>,
    shift: u32,
    keys: usize,
}

impl KeyFilter {
    const BITS_PER_KEY: usize = 16;

    fn with_bits(n_bits: usize) -> Self {
        let n_bits = n_bits.next_power_of_two().max(1024);
        KeyFilter {
            bits: vec![0; n_bits / 64],
            shift: 64 - n_bits.trailing_zeros(),
            keys: 0,
        }
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// Add a key (`Watchlist::filters_full` tells when to rebuild larger).
    fn insert(&mut self, key: u64) {
        let i = self.slot(key);
        self.bits[i / 64] |= 1 << (i % 64);
        self.keys += 1;
    }

    #[inline]
    fn may_contain(&self, key: u64) -> bool {
        let i = self.slot(key);
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter::with_bits(1024)
    }
}

/// Small strings (regions, makes, colours) stored once; 0 means "none".
#[derive(Clone, Debug, Default)]
struct Interner {
    strings: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, u32>,
}

impl Interner {
    fn id(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
            return 0;
        };
        let norm = s.to_uppercase();
        if let Some(&id) = self.ids.get(norm.as_str()) {
            return id;
        }
        self.strings.push(norm.clone().into_boxed_str());
        let id = self.strings.len() as u32;
        self.ids.insert(norm.into_boxed_str(), id);
        id
    }

    fn get(&self, id: u32) -> Option<&str> {
        (id != 0).then(|| &*self.strings[id as usize - 1])
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A set of watchlist entries with its match indexes.
#[derive(Clone)]
pub struct Watchlist {
    entries: Vec<Entry>,
    free: Vec<u32>,
    alive: usize,
    lists: Vec<String>,
    list_kinds: Vec<ListKind>,
    strings: Interner,
    rules: Rules,
    by_id: IdxTable,
    exact: IdxTable,
    canon: IdxTable,
    drop_first: IdxTable,
    drop_last: IdxTable,
    exact_filter: KeyFilter,
    canon_filter: KeyFilter,
    edge_filter: KeyFilter,
    patterns: PatternIndex,
}

impl fmt::Debug for Watchlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Watchlist({} entries, lists {:?})",
            self.alive, self.lists
        )
    }
}

/// The id an entry gets when its row has none: `list:PLATE` (normalised).
pub fn default_entry_id(list: &str, plate: &str) -> String {
    let plate = plate.trim();
    let norm = if plate.contains(['?', '*']) {
        Pattern::parse(plate).map(|p| p.to_string()).ok()
    } else {
        Plate::parse(plate).map(|p| p.to_string()).ok()
    };
    format!("{}:{}", list.trim(), norm.as_deref().unwrap_or(plate))
}

impl Default for Watchlist {
    fn default() -> Self {
        Watchlist::with_config(&WatchlistConfig::default()).expect("the default config is valid")
    }
}

impl Watchlist {
    /// An empty watchlist with the default matching rules: nothing matches.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty watchlist with these matching rules.
    pub fn with_config(config: &WatchlistConfig) -> Result<Self, String> {
        Ok(Watchlist {
            entries: Vec::new(),
            free: Vec::new(),
            alive: 0,
            lists: Vec::new(),
            list_kinds: Vec::new(),
            strings: Interner::default(),
            rules: config.compile()?,
            by_id: IdxTable::default(),
            exact: IdxTable::default(),
            canon: IdxTable::default(),
            drop_first: IdxTable::default(),
            drop_last: IdxTable::default(),
            exact_filter: KeyFilter::default(),
            canon_filter: KeyFilter::default(),
            edge_filter: KeyFilter::default(),
            patterns: PatternIndex::default(),
        })
    }

    fn list_index(&mut self, list: &str) -> Result<u16, String> {
        if let Some(i) = self.lists.iter().position(|l| l == list) {
            return Ok(i as u16);
        }
        if self.lists.len() >= usize::from(u16::MAX) {
            return Err("too many distinct lists".into());
        }
        let settings = self
            .rules
            .source
            .lists
            .get(list)
            .cloned()
            .unwrap_or_default();
        self.lists.push(list.to_owned());
        self.list_kinds.push(settings.kind);
        Ok((self.lists.len() - 1) as u16)
    }

    fn find_id(&self, entry_id: &str) -> Option<u32> {
        let entries = &self.entries;
        let mut i = self
            .by_id
            .first(fnv(entry_id), &|i| fnv(&entries[i as usize].entry_id));
        while i != END {
            if &*entries[i as usize].entry_id == entry_id {
                return Some(i);
            }
            i = self.by_id.next(i);
        }
        None
    }

    /// The entry with this id, if present.
    pub fn get(&self, entry_id: &str) -> Option<&Entry> {
        self.find_id(entry_id).map(|i| &self.entries[i as usize])
    }

    /// Add an entry, or replace the one with the same id. Errors say what is
    /// wrong with the fields (the caller adds where they came from).
    pub fn upsert(&mut self, spec: EntrySpec) -> Result<(), String> {
        self.upsert_idx(spec).map(|_| ())
    }

    fn upsert_idx(&mut self, spec: EntrySpec) -> Result<u32, String> {
        let entry = self.build_entry(spec)?;
        if let Some(old) = self.find_id(&entry.entry_id) {
            self.remove_at(old);
        }
        Ok(self.add(entry))
    }

    /// Make room for `additional` entries up front: a bulk load then never
    /// regrows an index or rebuilds a filter.
    pub fn reserve(&mut self, additional: usize) {
        self.entries
            .reserve(additional.saturating_sub(self.free.len()));
        let total = self.alive + additional;
        for t in [
            &mut self.by_id,
            &mut self.exact,
            &mut self.canon,
            &mut self.drop_first,
            &mut self.drop_last,
        ] {
            t.reserve_empty(total);
        }
        if self.alive == 0 {
            let bits = total.max(64) * 2 * KeyFilter::BITS_PER_KEY;
            self.exact_filter = KeyFilter::with_bits(bits);
            self.canon_filter = KeyFilter::with_bits(bits);
            self.edge_filter = KeyFilter::with_bits(bits * 2);
        }
    }

    /// Add a new entry; an error if its id is already present.
    pub fn insert(&mut self, spec: EntrySpec) -> Result<(), String> {
        let entry = self.build_entry(spec)?;
        if self.find_id(&entry.entry_id).is_some() {
            return Err(format!(
                "entry_id {:?} is already on the watchlist; entry ids must be unique",
                entry.entry_id
            ));
        }
        self.add(entry);
        Ok(())
    }

    /// Remove an entry by id; false if there was none.
    pub fn remove(&mut self, entry_id: &str) -> bool {
        match self.find_id(entry_id) {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    fn build_entry(&mut self, spec: EntrySpec) -> Result<Entry, String> {
        let list = spec.list.trim();
        if list.is_empty() {
            return Err("the list is empty; name the list (e.g. stolen_vehicle)".into());
        }
        if let Some(p) = spec.priority {
            if !(1..=4).contains(&p) {
                return Err(format!(
                    "priority {p} must be 1, 2, 3 or 4 (1 = most urgent), or empty for the \
                     list's default"
                ));
            }
        }
        let raw = spec.plate.trim();
        let (plate, pattern) = if raw.contains(['?', '*']) {
            let p = Pattern::parse(raw).map_err(|why| format!("pattern {raw:?}: {why}"))?;
            (p.literal_plate(), Some(Box::new(p)))
        } else {
            let p = Plate::parse(raw)
                .map_err(|e| format!("plate {raw:?}: {}; fix or remove the row", e.describe()))?;
            (p, None)
        };
        let (from, until) = (
            spec.valid_from_ms.unwrap_or(i64::MIN),
            spec.expires_ms.unwrap_or(i64::MAX),
        );
        if from >= until {
            return Err(
                "expires_at is not after valid_from: the entry would never be active".into(),
            );
        }
        let list_idx = self.list_index(list)?;
        let list_mode = self.rules.source.lists.get(list).and_then(|s| s.match_mode);
        let match_mode = spec
            .match_mode
            .or(list_mode)
            .unwrap_or(self.rules.source.default_match);
        let entry_id = if spec.entry_id.trim().is_empty() {
            default_entry_id(list, raw)
        } else {
            spec.entry_id.trim().to_owned()
        };
        Ok(Entry {
            entry_id: entry_id.into_boxed_str(),
            plate,
            pattern,
            list: list_idx,
            priority: spec.priority,
            match_mode,
            region: self.strings.id(spec.region.as_deref()),
            make: self.strings.id(spec.make.as_deref()),
            color: self.strings.id(spec.color.as_deref()),
            valid_from_ms: from,
            expires_ms: until,
            note: spec
                .note
                .filter(|n| !n.trim().is_empty())
                .map(String::into_boxed_str),
            alive: true,
        })
    }

    fn add(&mut self, entry: Entry) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                (self.entries.len() - 1) as u32
            }
        };
        self.alive += 1;
        self.index(idx, true);
        idx
    }

    fn remove_at(&mut self, idx: u32) {
        self.index(idx, false);
        let e = &mut self.entries[idx as usize];
        e.alive = false;
        e.pattern = None;
        e.note = None;
        e.entry_id = Box::from("");
        self.free.push(idx);
        self.alive -= 1;
    }

    /// Add entry `idx` to (or remove it from) every index it belongs in.
    fn index(&mut self, idx: u32, add: bool) {
        let entries = &self.entries;
        let e = &entries[idx as usize];
        let id_key = fnv(&e.entry_id);
        let by_id = |i: u32| fnv(&entries[i as usize].entry_id);
        if add {
            self.by_id.insert(id_key, idx, &by_id);
        } else {
            self.by_id.remove(id_key, idx, &by_id);
        }
        if let Some(p) = &e.pattern {
            if add {
                self.patterns.insert(p, idx);
            } else {
                self.patterns.remove(p, idx);
            }
            return;
        }
        let bytes = e.plate.as_str().as_bytes();
        let exact_key = e.plate.key();
        let exact_of = |i: u32| entries[i as usize].plate.key();
        let lookalike = e.match_mode == MatchMode::Lookalike
            && self.list_kinds[usize::from(e.list)] == ListKind::Alert;
        let confusion = &self.rules.confusion;
        let canon_key = confusion.canonical_key(bytes);
        let canon_of =
            |i: u32| confusion.canonical_key(entries[i as usize].plate.as_str().as_bytes());
        let n = bytes.len();
        // A dropped edge character leaves at least 2 (the shortest plate).
        let edges = lookalike && self.rules.source.edges && n > crate::plate::MIN_LEN;
        let first_of = |i: u32| key_of(&entries[i as usize].plate.as_str().as_bytes()[1..]);
        let last_of = |i: u32| {
            let b = entries[i as usize].plate.as_str().as_bytes();
            key_of(&b[..b.len() - 1])
        };
        let (k_first, k_last) = (key_of(&bytes[1..]), key_of(&bytes[..n - 1]));
        if add {
            self.exact.insert(exact_key, idx, &exact_of);
            self.exact_filter.insert(exact_key);
            if lookalike {
                self.canon.insert(canon_key, idx, &canon_of);
                self.canon_filter.insert(canon_key);
            }
            if edges {
                self.drop_first.insert(k_first, idx, &first_of);
                self.drop_last.insert(k_last, idx, &last_of);
                self.edge_filter.insert(k_first);
                self.edge_filter.insert(k_last);
            }
        } else {
            self.exact.remove(exact_key, idx, &exact_of);
            if lookalike {
                self.canon.remove(canon_key, idx, &canon_of);
            }
            if edges {
                self.drop_first.remove(k_first, idx, &first_of);
                self.drop_last.remove(k_last, idx, &last_of);
            }
        }
        if add && self.filters_full() {
            self.rebuild_filters();
        }
    }

    fn filters_full(&self) -> bool {
        let full = |f: &KeyFilter| f.keys > f.bits.len() * 64 / KeyFilter::BITS_PER_KEY;
        full(&self.exact_filter) || full(&self.canon_filter) || full(&self.edge_filter)
    }

    /// Rebuild the filters for the live entries (after growth, or to drop the
    /// bits of removed entries).
    pub fn rebuild_filters(&mut self) {
        let n = self.alive.max(64) * 2 * KeyFilter::BITS_PER_KEY;
        let (mut fe, mut fc, mut fd) = (
            KeyFilter::with_bits(n),
            KeyFilter::with_bits(n),
            KeyFilter::with_bits(n * 2),
        );
        for e in self
            .entries
            .iter()
            .filter(|e| e.alive && e.pattern.is_none())
        {
            let b = e.plate.as_str().as_bytes();
            fe.insert(e.plate.key());
            if e.match_mode == MatchMode::Lookalike
                && self.list_kinds[usize::from(e.list)] == ListKind::Alert
            {
                fc.insert(self.rules.confusion.canonical_key(b));
                if self.rules.source.edges && b.len() > crate::plate::MIN_LEN {
                    fd.insert(key_of(&b[1..]));
                    fd.insert(key_of(&b[..b.len() - 1]));
                }
            }
        }
        (self.exact_filter, self.canon_filter, self.edge_filter) = (fe, fc, fd);
    }

    /// The entry at an index (from a [`Hit`]).
    pub fn entry(&self, idx: u32) -> &Entry {
        &self.entries[idx as usize]
    }

    /// The name of a list by index.
    pub fn list_name(&self, list: u16) -> &str {
        &self.lists[usize::from(list)]
    }

    /// The matching rules this watchlist was built with.
    pub fn config(&self) -> &WatchlistConfig {
        &self.rules.source
    }

    /// The entry's own priority, else its list's configured default.
    pub fn priority_of(&self, e: &Entry) -> Option<u8> {
        e.priority.or_else(|| {
            self.rules
                .source
                .lists
                .get(self.list_name(e.list))
                .and_then(|s| s.priority)
        })
    }

    /// Live entries whose plate is exactly `plate` (any list, any validity).
    pub fn exact(&self, plate: &Plate) -> Vec<&Entry> {
        let mut idx = Vec::new();
        self.each_exact(plate.key(), |e, i| {
            if e.alive {
                idx.push(i)
            }
        });
        idx.into_iter().map(|i| &self.entries[i as usize]).collect()
    }

    /// The kind of a list by name (lists never seen are alert lists).
    pub fn list_kind(&self, list: &str) -> ListKind {
        self.lists.iter().position(|l| l == list).map_or_else(
            || {
                self.rules
                    .source
                    .lists
                    .get(list)
                    .map(|s| s.kind)
                    .unwrap_or_default()
            },
            |i| self.list_kinds[i],
        )
    }

    pub fn region(&self, e: &Entry) -> Option<&str> {
        self.strings.get(e.region)
    }

    pub fn make(&self, e: &Entry) -> Option<&str> {
        self.strings.get(e.make)
    }

    pub fn color(&self, e: &Entry) -> Option<&str> {
        self.strings.get(e.color)
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.alive
    }

    pub fn is_empty(&self) -> bool {
        self.alive == 0
    }

    /// Live entries.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.iter().filter(|e| e.alive)
    }

    /// Entries per list, for metrics and summaries.
    pub fn counts_by_list(&self) -> BTreeMap<String, usize> {
        let mut counts = vec![0usize; self.lists.len()];
        for e in self.iter() {
            counts[usize::from(e.list)] += 1;
        }
        self.lists.iter().cloned().zip(counts).collect()
    }

    /// Bytes of memory held (entries, strings, indexes, filters).
    pub fn memory_bytes(&self) -> usize {
        let strings: usize = self
            .iter()
            .map(|e| e.entry_id.len() + e.note.as_ref().map_or(0, |n| n.len()))
            .sum();
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + strings
            + self.by_id.heap_bytes()
            + self.exact.heap_bytes()
            + self.canon.heap_bytes()
            + self.drop_first.heap_bytes()
            + self.drop_last.heap_bytes()
            + (self.exact_filter.bits.len()
                + self.canon_filter.bits.len()
                + self.edge_filter.bits.len())
                * 8
            + self.patterns.heap_bytes()
    }

    /// Is `plate` on allow list `list` (exact, active at `at_ms`)?
    pub fn allows(&self, list: &str, plate: &Plate, at_ms: i64) -> bool {
        let Some(li) = self.lists.iter().position(|l| l == list) else {
            return false;
        };
        let mut found = false;
        self.each_exact(plate.key(), |e, _| {
            found |= usize::from(e.list) == li && e.active_at(at_ms);
        });
        found
    }

    fn each_exact(&self, key: u64, mut f: impl FnMut(&Entry, u32)) {
        if !self.exact_filter.may_contain(key) {
            return;
        }
        let entries = &self.entries;
        let mut i = self.exact.first(key, &|i| entries[i as usize].plate.key());
        while i != END {
            f(&entries[i as usize], i);
            i = self.exact.next(i);
        }
    }

    fn eligible(&self, e: &Entry, q: &ReadQuery<'_>) -> bool {
        e.alive
            && e.active_at(q.at_ms)
            && self.list_kinds[usize::from(e.list)] == ListKind::Alert
            && region_compatible(self.strings.get(e.region), q.region)
    }

    /// Every hit of a read, strongest per entry, appended to `out`.
    pub fn match_read(&self, q: &ReadQuery<'_>, out: &mut Vec<Hit>) {
        let start = out.len();
        let read = q.plate.as_str().as_bytes();
        // Exact.
        let read_key = q.plate.key();
        self.each_exact(read_key, |e, i| {
            if self.eligible(e, q) {
                out.push(Hit::new(i, MatchKind::Exact, exact_score(q.confidence)));
            }
        });
        let eps = error_rate(q.confidence);
        let mut read_fits: Option<bool> = None;
        let mut fits =
            |r: &[u8]| *read_fits.get_or_insert_with(|| self.rules.templates.fit(r).is_some());
        // Look-alike: every listed plate sharing the read's canonical form.
        let canon_key = if self.rules.source.max_substitutions > 0 {
            self.rules.confusion.canonical_key(read)
        } else {
            0 // never probed: exact rules skip the canonical form entirely
        };
        if self.rules.source.max_substitutions > 0 && self.canon_filter.may_contain(canon_key) {
            let entries = &self.entries;
            let confusion = &self.rules.confusion;
            let of =
                |i: u32| confusion.canonical_key(entries[i as usize].plate.as_str().as_bytes());
            let mut i = self.canon.first(canon_key, &of);
            while i != END {
                let e = &entries[i as usize];
                if self.eligible(e, q) {
                    if let Some(hit) = self.lookalike(i, e, read, eps, &mut fits) {
                        push_best(out, start, hit);
                    }
                }
                i = self.canon.next(i);
            }
        }
        // Edges: the read lost a character (it is a listed plate minus one) ...
        if self.rules.source.edges && self.edge_filter.may_contain(read_key) {
            let key = read_key;
            for (table, kind) in [
                (&self.drop_first, EdgeKind::DroppedFirst),
                (&self.drop_last, EdgeKind::DroppedLast),
            ] {
                let entries = &self.entries;
                let of = |i: u32| {
                    let b = entries[i as usize].plate.as_str().as_bytes();
                    match kind {
                        EdgeKind::DroppedFirst => key_of(&b[1..]),
                        _ => key_of(&b[..b.len() - 1]),
                    }
                };
                let mut i = table.first(key, &of);
                while i != END {
                    let e = &entries[i as usize];
                    if self.eligible(e, q) {
                        let s = edge_score(fits(read), &self.rules, e, kind, eps);
                        let mut hit = Hit::new(i, MatchKind::Edge, s);
                        hit.edge = Some(kind);
                        push_best(out, start, hit);
                    }
                    i = table.next(i);
                }
            }
        }
        // ... or gained one (a listed plate is the read minus its first/last).
        if self.rules.source.edges && read.len() > crate::plate::MIN_LEN {
            for (part, kind) in [
                (&read[1..], EdgeKind::ExtraFirst),
                (&read[..read.len() - 1], EdgeKind::ExtraLast),
            ] {
                self.each_exact(key_of(part), |e, i| {
                    if e.match_mode == MatchMode::Lookalike && self.eligible(e, q) {
                        let s = edge_score(fits(read), &self.rules, e, kind, eps);
                        let mut hit = Hit::new(i, MatchKind::Edge, s);
                        hit.edge = Some(kind);
                        push_best(out, start, hit);
                    }
                });
            }
        }
        // Wildcard patterns.
        self.patterns.matches(read, |i| {
            let e = &self.entries[i as usize];
            if self.eligible(e, q) {
                push_best(out, start, Hit::new(i, MatchKind::Pattern, PATTERN_SCORE));
            }
        });
        // Candidates: corroborate hits on the same plate, or hit on their own.
        for c in q.candidates {
            if c.plate == *q.plate {
                continue;
            }
            let conf = c.confidence.unwrap_or(0.5).clamp(0.0, 1.0) as f32;
            let key = c.plate.key();
            let mut corroborated = false;
            for h in &mut out[start..] {
                let e = &self.entries[h.entry as usize];
                if e.pattern.is_none() && e.plate.key() == key && h.kind != MatchKind::Exact {
                    h.score = 1.0 - (1.0 - h.score) * (1.0 - conf);
                    h.corroboration |= corroboration::CANDIDATE;
                    corroborated = true;
                }
            }
            if !corroborated {
                self.each_exact(key, |e, i| {
                    if e.match_mode == MatchMode::Lookalike && self.eligible(e, q) {
                        let mut hit = Hit::new(i, MatchKind::Candidate, 0.2 + 0.7 * conf);
                        hit.corroboration |= corroboration::CANDIDATE;
                        push_best(out, start, hit);
                    }
                });
            }
        }
        // Competing explanations of an impossible read share its probability;
        // then the vehicle description confirms or contradicts.
        let weak = |h: &Hit| matches!(h.kind, MatchKind::Lookalike | MatchKind::Edge);
        let total: f32 = out[start..]
            .iter()
            .filter(|h| weak(h))
            .map(|h| h.score)
            .sum();
        if total > 0.95 && !fits(read) {
            for h in out[start..].iter_mut().filter(|h| weak(h)) {
                h.score *= 0.95 / total;
            }
        }
        if q.make.is_some() || q.color.is_some() {
            for h in &mut out[start..] {
                let e = &self.entries[h.entry as usize];
                let verdicts =
                    [(e.make, q.make), (e.color, q.color)].map(|(listed, read)| {
                        match (self.strings.get(listed), read) {
                            (Some(l), Some(r)) => Some(l.eq_ignore_ascii_case(r.trim())),
                            _ => None,
                        }
                    });
                if verdicts.contains(&Some(false)) {
                    h.score *= 0.3;
                    h.corroboration |= corroboration::VEHICLE_MISMATCH;
                } else if verdicts.contains(&Some(true)) {
                    h.score = 1.0 - (1.0 - h.score) * 0.5;
                    h.corroboration |= corroboration::VEHICLE;
                }
            }
        }
    }

    fn lookalike(
        &self,
        idx: u32,
        e: &Entry,
        read: &[u8],
        eps: f32,
        fits: &mut impl FnMut(&[u8]) -> bool,
    ) -> Option<Hit> {
        let listed = e.plate.as_str().as_bytes();
        if listed.len() != read.len() {
            return None;
        }
        let confusion = &self.rules.confusion;
        let mut hit = Hit::new(idx, MatchKind::Lookalike, 0.0);
        let mut n = 0usize;
        for (pos, (&l, &r)) in listed.iter().zip(read).enumerate() {
            if l != r {
                if n == usize::from(self.rules.source.max_substitutions)
                    || confusion.weight(l, r) == 0.0
                {
                    return None;
                }
                hit.subs[n] = Sub {
                    pos: pos as u8,
                    read: r,
                    listed: l,
                };
                n += 1;
            }
        }
        if n == 0 {
            return None; // the exact probe found it
        }
        hit.n_subs = n as u8;
        let templates = &self.rules.templates;
        hit.score = match templates.fit(listed) {
            // The read fits no format but the listed plate does: the read is
            // certainly wrong, and this listed plate is one of the corrections
            // the formats allow at the substituted positions. The others
            // compete, each a real plate with probability `density`; so do
            // the plates the read would be with a lost edge character.
            Some(_) if !fits(read) => {
                let p_subs: f32 = hit
                    .substitutions()
                    .iter()
                    .map(|s| {
                        let allowed = confusion.alternatives(s.read)
                            & templates.allowed_at(listed, usize::from(s.pos));
                        let others: f32 = (0..36)
                            .filter(|&j| allowed & (1 << j) != 0 && SYMBOLS[j] != s.listed)
                            .map(|j| confusion.weight(SYMBOLS[j], s.read))
                            .sum();
                        let w = confusion.weight(s.listed, s.read);
                        w / (w + self.rules.source.plate_density * others)
                    })
                    .product();
                let (first, last) = templates.edge_completions(read);
                let edge =
                    EDGE_SHARE / 2.0 * self.rules.source.plate_density * (first + last) as f32;
                0.95 * p_subs * LOOKALIKE_SHARE / (LOOKALIKE_SHARE + edge)
            }
            // The read is itself a plausible plate: a real different car is far
            // more likely than a misread, unless the read is unsure.
            _ => {
                let q: f32 = hit
                    .substitutions()
                    .iter()
                    .map(|s| {
                        let alts = confusion.alternatives(s.listed).count_ones() as f32;
                        confusion.weight(s.listed, s.read) / (1.0 + alts)
                    })
                    .product();
                posterior(eps, q)
            }
        };
        Some(hit)
    }
}

/// Shares of OCR misreads in the field (DOMAIN.md): most are look-alike
/// substitutions; about one in four loses an edge character (either edge).
const LOOKALIKE_SHARE: f32 = 0.76;
const EDGE_SHARE: f32 = 0.24;
/// A witness's partial plate matches many cars: shown, never paged urgently.
const PATTERN_SCORE: f32 = 0.3;

/// Chance the read is wrong: from its confidence, or the field's 3 %.
fn error_rate(confidence: Option<f64>) -> f32 {
    confidence.map_or(0.03, |c| (1.0 - c).clamp(0.03, 0.9) as f32)
}

fn exact_score(confidence: Option<f64>) -> f32 {
    match confidence {
        Some(c) if c < 0.5 => 0.85,
        _ => 0.99,
    }
}

/// P(listed | read) when the read is itself a valid plate: odds of "a misread of
/// the listed plate into exactly this read" against "a correct read".
fn posterior(eps: f32, q: f32) -> f32 {
    let odds = eps / (1.0 - eps) * q;
    odds / (1.0 + odds)
}

fn edge_score(read_fits: bool, rules: &Rules, e: &Entry, kind: EdgeKind, eps: f32) -> f32 {
    let listed = e.plate.as_str().as_bytes();
    match rules.templates.fit(listed) {
        // The read fits no format but the listed plate does: the read lost (or
        // gained) a character. Any character a format allows at that edge
        // would explain the read as well; each is a real plate with
        // probability `density`, the listed one certainly.
        Some(_) if !read_fits => {
            let completions = match kind {
                EdgeKind::DroppedFirst => rules.templates.allowed_at(listed, 0).count_ones(),
                EdgeKind::DroppedLast => rules
                    .templates
                    .allowed_at(listed, listed.len() - 1)
                    .count_ones(),
                // Anything could have been read as the extra character.
                EdgeKind::ExtraFirst | EdgeKind::ExtraLast => 36,
            };
            0.95 / (1.0 + rules.source.plate_density * (completions.max(1) - 1) as f32)
        }
        _ => posterior(eps, EDGE_SHARE / 2.0),
    }
}

/// Keep one hit per entry: the strongest.
fn push_best(out: &mut Vec<Hit>, start: usize, hit: Hit) {
    if let Some(h) = out[start..].iter_mut().find(|h| h.entry == hit.entry) {
        if hit.score > h.score {
            *h = hit;
        }
    } else {
        out.push(hit);
    }
}

/// `CO` covers `CO-ANT`; unknown on either side matches.
fn region_compatible(entry: Option<&str>, read: Option<&str>) -> bool {
    match (entry, read) {
        (Some(e), Some(r)) => {
            let r = r.trim();
            let prefix = |a: &str, b: &str| {
                b.len() >= a.len()
                    && b[..a.len()].eq_ignore_ascii_case(a)
                    && (b.len() == a.len() || b.as_bytes()[a.len()] == b'-')
            };
            prefix(e, r) || prefix(r, e)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests;
