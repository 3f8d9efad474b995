//! A tolerant first pass over one JSON event: every known top-level key is
//! captured as a [`Val`] (strings borrowed from the input when they have no
//! escapes), unknown keys are skipped without allocating, and duplicate keys are
//! detected in every object, captured or skipped (the contract rejects them
//! in any object). Type and range checks happen afterwards in `event`, once
//! the event's `type` is known, so that the first problem found can be
//! reported with the right reason code.
//!
//! The scanner is hand-written and single-pass over input validated as UTF-8
//! up front. It accepts exactly the strict RFC 8259 grammar that `serde_json`
//! accepts (no comments, no trailing commas, no `NaN`, no leading zeros,
//! whitespace = space, tab, CR, LF; one value then only whitespace),
//! including its nesting limit: the 128th nested `[`/`{` is an error.
//! Errors say what and at which byte offset. A syntax error anywhere wins over
//! a duplicate key: the first duplicate is reported only once the whole input
//! has been scanned. `tests/json_differential.rs` checks verdicts, captured
//! values and duplicate paths against `serde_json`.
//!
//! Differences from `serde_json::Value` on purpose: duplicate keys are an error
//! here, and floats are correctly rounded (as Python's `json`; `serde_json`'s
//! default float parser may be off by an ulp).

use std::borrow::Cow;
use std::collections::HashSet;

/// Any JSON value, borrowing strings from the input where possible.
///
/// `repr(u64)` keeps every payload 8-byte aligned (by default `Bool` sits at
/// offset 1, and moving a `Val` then copies bytes 1..32 with misaligned
/// stores that stall the loads right after them).
#[derive(Debug, PartialEq)]
#[repr(u64)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    /// An integer literal (no fraction, no exponent) in `i64` range.
    Int(i64),
    /// An integer literal above `i64::MAX` that fits `u64`.
    UInt(u64),
    /// Any other number (`-0` is `Float(-0.0)`, as in `serde_json`).
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Val<'a>>),
    Obj(Vec<(Cow<'a, str>, Val<'a>)>),
}

impl Val<'_> {
    /// The JSON type name, for reject details.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "boolean",
            Val::Int(_) | Val::UInt(_) | Val::Float(_) => "number",
            Val::Str(_) => "string",
            Val::Arr(_) => "array",
            Val::Obj(_) => "object",
        }
    }
}

/// The known top-level fields of any event type, captured but not yet checked.
#[derive(Debug, Default)]
pub struct RawEvent<'a> {
    /// The top level was valid JSON but not an object (its JSON type).
    pub not_object: Option<&'static str>,
    pub type_: Option<Val<'a>>,
    pub event_id: Option<Val<'a>>,
    pub ts: Option<Val<'a>>,
    pub camera_id: Option<Val<'a>>,
    pub plate: Option<Val<'a>>,
    pub confidence: Option<Val<'a>>,
    pub lat: Option<Val<'a>>,
    pub lon: Option<Val<'a>>,
    pub heading_deg: Option<Val<'a>>,
    pub vehicle: Option<Val<'a>>,
    pub candidates: Option<Val<'a>>,
    pub image_ref: Option<Val<'a>>,
    pub device_id: Option<Val<'a>>,
    pub device_kind: Option<Val<'a>>,
    pub action: Option<Val<'a>>,
    pub call_id: Option<Val<'a>>,
    pub line: Option<Val<'a>>,
    pub status: Option<Val<'a>>,
    pub incident_type: Option<Val<'a>>,
    pub accuracy_m: Option<Val<'a>>,
    pub caller_hash: Option<Val<'a>>,
}

/// A key of at most 15 bytes as one number: its bytes little-endian, its
/// length in the top byte (so "ts" and "ts\0" differ). Longer keys are 0,
/// which matches no known key.
const fn pack(key: &[u8]) -> u128 {
    if key.len() > 15 {
        return 0;
    }
    let mut v = (key.len() as u128) << 120;
    let mut i = 0;
    while i < key.len() {
        v |= (key[i] as u128) << (8 * i);
        i += 1;
    }
    v
}

/// [`pack`] of `s[start..start + len]`, with one 16-byte load when the input
/// extends that far.
#[inline(always)]
fn pack_at(s: &[u8], start: usize, len: usize) -> u128 {
    if len > 15 {
        return 0;
    }
    let word = match s.get(start..start + 16) {
        Some(w) => u128::from_le_bytes(w.try_into().unwrap_or([0; 16])),
        None => {
            let mut buf = [0u8; 16];
            buf[..len].copy_from_slice(&s[start..start + len]);
            u128::from_le_bytes(buf)
        }
    };
    (word & ((1u128 << (8 * len)) - 1)) | ((len as u128) << 120)
}

const K_TS: u128 = pack(b"ts");
const K_LAT: u128 = pack(b"lat");
const K_LON: u128 = pack(b"lon");
const K_TYPE: u128 = pack(b"type");
const K_LINE: u128 = pack(b"line");
const K_PLATE: u128 = pack(b"plate");
const K_ACTION: u128 = pack(b"action");
const K_STATUS: u128 = pack(b"status");
const K_VEHICLE: u128 = pack(b"vehicle");
const K_CALL_ID: u128 = pack(b"call_id");
const K_EVENT_ID: u128 = pack(b"event_id");
const K_CAMERA_ID: u128 = pack(b"camera_id");
const K_IMAGE_REF: u128 = pack(b"image_ref");
const K_DEVICE_ID: u128 = pack(b"device_id");
const K_CONFIDENCE: u128 = pack(b"confidence");
const K_CANDIDATES: u128 = pack(b"candidates");
const K_ACCURACY_M: u128 = pack(b"accuracy_m");
const K_HEADING_DEG: u128 = pack(b"heading_deg");
const K_DEVICE_KIND: u128 = pack(b"device_kind");
const K_CALLER_HASH: u128 = pack(b"caller_hash");
const K_INCIDENT_TYPE: u128 = pack(b"incident_type");

impl<'a> RawEvent<'a> {
    /// The slot of a known top-level key, given as [`pack`]ed.
    #[inline]
    fn slot(&mut self, key: u128) -> Option<&mut Option<Val<'a>>> {
        Some(match key {
            K_TS => &mut self.ts,
            K_LAT => &mut self.lat,
            K_LON => &mut self.lon,
            K_TYPE => &mut self.type_,
            K_LINE => &mut self.line,
            K_PLATE => &mut self.plate,
            K_ACTION => &mut self.action,
            K_STATUS => &mut self.status,
            K_VEHICLE => &mut self.vehicle,
            K_CALL_ID => &mut self.call_id,
            K_EVENT_ID => &mut self.event_id,
            K_CAMERA_ID => &mut self.camera_id,
            K_IMAGE_REF => &mut self.image_ref,
            K_DEVICE_ID => &mut self.device_id,
            K_CONFIDENCE => &mut self.confidence,
            K_CANDIDATES => &mut self.candidates,
            K_ACCURACY_M => &mut self.accuracy_m,
            K_HEADING_DEG => &mut self.heading_deg,
            K_DEVICE_KIND => &mut self.device_kind,
            K_CALLER_HASH => &mut self.caller_hash,
            K_INCIDENT_TYPE => &mut self.incident_type,
            _ => return None,
        })
    }
}

/// How the first pass failed.
#[derive(Debug, PartialEq, Eq)]
pub enum RawError {
    /// Not UTF-8 or not JSON: what was wrong and at which byte offset.
    Invalid(String),
    /// Valid JSON with a duplicated key (dotted path, e.g. `vehicle.make`,
    /// `candidates[1].plate`).
    Duplicate(String),
}

/// First pass over one event's bytes.
pub fn parse_raw(bytes: &[u8]) -> Result<RawEvent<'_>, RawError> {
    let mut ev = RawEvent::default();
    parse_raw_into(bytes, &mut ev)?;
    Ok(ev)
}

/// [`parse_raw`] into a caller-owned, empty (`RawEvent::default()`) event,
/// so that the large struct is not moved around. Fields already set would
/// count as duplicates. On error `ev` holds whatever was captured before the
/// problem and should not be used.
pub fn parse_raw_into<'a>(bytes: &'a [u8], ev: &mut RawEvent<'a>) -> Result<(), RawError> {
    let mut p = Parser::new(bytes)?;
    match p.document(ev) {
        Ok(()) => p.finish(),
        Err(Invalid) => Err(p.take_error()),
    }
}

/// Parse one standalone JSON value (duplicate keys at any depth are errors).
pub fn parse_val(bytes: &[u8]) -> Result<Val<'_>, RawError> {
    let mut p = Parser::new(bytes)?;
    let v = p.ws_then(|p| p.value());
    match v.and_then(|v| p.end().map(|()| v)) {
        Ok(v) => p.finish().map(|()| v),
        Err(Invalid) => Err(p.take_error()),
    }
}

/// Nesting limit, as in `serde_json`: entering the 128th level is an error.
const MAX_DEPTH: u32 = 128;

/// Marker for "the input is invalid"; the message is kept in the parser.
#[derive(Debug)]
struct Invalid;

type PResult<T> = Result<T, Invalid>;

/// A piece of a duplicate key's path, collected innermost first.
enum Seg {
    Key(String),
    Index(usize),
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    /// Nesting depth of the container being parsed (top level = 1).
    depth: u32,
    error: Option<String>,
    /// The first duplicate key's path, innermost segment first.
    dup: Vec<Seg>,
    /// Depth of the container that must prepend its segment to `dup` when the
    /// child it is parsing returns (0: the path is complete or there is none).
    dup_pending: u32,
}

#[inline(always)]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `chunk` that is `"`, `\` or below 0x20 (exact
/// for the lowest such byte, which is all that is used).
#[inline(always)]
fn special_mask(chunk: u64) -> u64 {
    let q = chunk ^ (ONES * u64::from(b'"'));
    let bs = chunk ^ (ONES * u64::from(b'\\'));
    let has_q = q.wrapping_sub(ONES) & !q;
    let has_bs = bs.wrapping_sub(ONES) & !bs;
    let has_ctl = chunk.wrapping_sub(ONES * 0x20) & !chunk;
    (has_q | has_bs | has_ctl) & HIGHS
}

#[inline(always)]
fn is_special(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

/// Exact powers of ten for the fast float path.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

fn hex_val(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

/// A printable description of the character at an error position.
fn describe(s: &str, pos: usize) -> String {
    match s.get(pos..).map(|rest| rest.chars().next()) {
        Some(None) => "end of input".to_owned(),
        Some(Some(c)) if c.is_control() || c == ' ' => format!("{c:?}"),
        Some(Some(c)) => format!("'{c}'"),
        // Not at a character boundary (not expected: errors are reported at
        // ASCII positions).
        None => format!("byte {:#04x}", s.as_bytes().get(pos).copied().unwrap_or(0)),
    }
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, RawError> {
        let s = std::str::from_utf8(bytes)
            .map_err(|e| RawError::Invalid(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        Ok(Parser {
            s,
            pos: 0,
            depth: 0,
            error: None,
            dup: Vec::new(),
            dup_pending: 0,
        })
    }

    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    #[cold]
    #[inline(never)]
    fn fail<T>(&mut self, what: &str, at: usize) -> PResult<T> {
        if self.error.is_none() {
            self.error = Some(format!("{what} at byte {at}"));
        }
        Err(Invalid)
    }

    /// An "expected X" error at the current position, naming what was found.
    #[cold]
    #[inline(never)]
    fn expected<T>(&mut self, what: &str) -> PResult<T> {
        let found = describe(self.s, self.pos);
        self.fail(&format!("expected {what}, found {found}"), self.pos)
    }

    /// No key where one must be (a trailing comma is named as such; it is
    /// only detected here, off the hot path).
    #[cold]
    #[inline(never)]
    fn expected_key<T>(&mut self) -> PResult<T> {
        if self.peek() == Some(b'}') && self.after_comma() {
            return self.fail("trailing comma before '}'", self.pos);
        }
        self.expected("a string key")
    }

    /// No value where one must be (trailing commas as in `expected_key`).
    #[cold]
    #[inline(never)]
    fn expected_value<T>(&mut self) -> PResult<T> {
        if self.peek() == Some(b']') && self.after_comma() {
            return self.fail("trailing comma before ']'", self.pos);
        }
        self.expected("a JSON value")
    }

    /// Whether the last non-whitespace byte before the position is a comma.
    fn after_comma(&self) -> bool {
        let before = &self.bytes()[..self.pos];
        before.iter().rev().find(|&&b| !is_ws(b)) == Some(&b',')
    }

    fn take_error(&mut self) -> RawError {
        RawError::Invalid(
            self.error
                .take()
                .unwrap_or_else(|| "invalid JSON".to_owned()),
        )
    }

    /// After a successful scan: the first duplicate key, if any.
    fn finish(&mut self) -> Result<(), RawError> {
        if self.dup.is_empty() {
            return Ok(());
        }
        let mut path = String::new();
        for (i, seg) in self.dup.iter().rev().enumerate() {
            match seg {
                // `a.b`, `a[1].b`: every key but the first gets a dot, even an
                // empty key or one starting with `[`, so no two paths look alike.
                Seg::Key(k) => {
                    if i > 0 {
                        path.push('.');
                    }
                    path.push_str(k);
                }
                Seg::Index(n) => {
                    path.push('[');
                    path.push_str(&n.to_string());
                    path.push(']');
                }
            }
        }
        Err(RawError::Duplicate(path))
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        let b = self.bytes();
        // Every whitespace byte is <= b' ': one compare for compact JSON.
        while let Some(&c) = b.get(self.pos) {
            if c > b' ' || !is_ws(c) {
                break;
            }
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn ws_then<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        self.skip_ws();
        f(self)
    }

    /// Only whitespace may follow the top-level value.
    fn end(&mut self) -> PResult<()> {
        self.skip_ws();
        if self.pos == self.bytes().len() {
            Ok(())
        } else {
            self.fail("trailing characters after the JSON value", self.pos)
        }
    }

    #[inline]
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return self.fail(
                &format!(
                    "nesting too deep: {MAX_DEPTH} levels of arrays/objects (at most {} allowed)",
                    MAX_DEPTH - 1
                ),
                self.pos,
            );
        }
        Ok(())
    }

    /// Record a duplicate key in the object at the current depth (only the
    /// first one found counts).
    #[cold]
    fn found_dup(&mut self, key: &str) {
        if self.dup.is_empty() {
            self.dup.push(Seg::Key(key.to_owned()));
            self.dup_pending = self.depth - 1;
        }
    }

    /// The child of the container at the current depth has returned: prepend
    /// this container's segment if the duplicate was found inside that child.
    #[inline(always)]
    fn child_done(&mut self, seg: impl FnOnce() -> Seg) {
        // Containers are at depth >= 1, so a finished path (0) never matches.
        if self.dup_pending == self.depth {
            self.dup_pending -= 1;
            self.dup.push(seg());
        }
    }

    // ---- top level -----------------------------------------------------------

    fn document(&mut self, ev: &mut RawEvent<'a>) -> PResult<()> {
        self.skip_ws();
        let kind = match self.peek() {
            Some(b'{') => {
                self.top_object(ev)?;
                return self.end();
            }
            Some(b'[') => "array",
            Some(b'"') => "string",
            Some(b'-' | b'0'..=b'9') => "number",
            Some(b't' | b'f') => "boolean",
            Some(b'n') => "null",
            _ => return self.expected("a JSON value"),
        };
        self.skip_value()?;
        self.end()?;
        ev.not_object = Some(kind);
        Ok(())
    }

    fn top_object(&mut self, ev: &mut RawEvent<'a>) -> PResult<()> {
        self.enter()?;
        self.pos += 1; // '{'
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        // Known keys are checked by their slots; unknown ones (rare) here.
        let mut unknown: Option<Seen<'a>> = None; // made at the first unknown key
        loop {
            let (key, packed) = self.top_key()?;
            match ev.slot(packed) {
                Some(slot) if slot.is_none() => {
                    // Parse straight into the slot: no moves of the value.
                    // Strings (most fields) are handled inline.
                    let out = slot.get_or_insert(Val::Null); // (None: nothing to drop)
                    match self.peek() {
                        Some(b'"') => {
                            let start = self.pos + 1;
                            let (end, escaped) = self.scan_string()?;
                            put(out, Val::Str(self.text(start, end, escaped)));
                        }
                        Some(b'-' | b'0'..=b'9') => self.number_into(out)?,
                        _ => self.value_into(out)?,
                    }
                    self.child_done(|| Seg::Key(key.into_owned()));
                }
                Some(_) => {
                    self.found_dup(&key);
                    self.skip_value()?;
                }
                None => {
                    if unknown.get_or_insert_with(Seen::new).insert(&key) {
                        self.found_dup(&key);
                    }
                    self.skip_value()?;
                    self.child_done(|| Seg::Key(key.into_owned()));
                }
            }
            if self.object_next()? {
                break;
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// [`Parser::key`], also [`pack`]ed for dispatch.
    #[inline(always)]
    fn top_key(&mut self) -> PResult<(Cow<'a, str>, u128)> {
        if self.peek() != Some(b'"') {
            return self.expected_key();
        }
        let start = self.pos + 1;
        let (end, escaped) = self.scan_string()?;
        self.colon()?;
        let key = self.text(start, end, escaped);
        let packed = if escaped {
            pack(key.as_bytes())
        } else {
            pack_at(self.bytes(), start, end - start)
        };
        Ok((key, packed))
    }

    /// The colon after a key, with whitespace either side.
    #[inline(always)]
    fn colon(&mut self) -> PResult<()> {
        self.skip_ws();
        if self.peek() != Some(b':') {
            return self.expected("':' after object key");
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    /// A member key and its colon, with whitespace either side; positioned at
    /// the value.
    #[inline(always)]
    fn key(&mut self) -> PResult<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return self.expected_key();
        }
        let start = self.pos + 1;
        let (end, escaped) = self.scan_string()?;
        self.colon()?;
        Ok(self.text(start, end, escaped))
    }

    /// After a member's value: `true` at the closing brace (consumed), `false`
    /// after a comma (positioned at the next key).
    #[inline]
    fn object_next(&mut self) -> PResult<bool> {
        self.next_or_close(b'}', "',' or '}' after object member")
    }

    /// After an array element: `true` at the closing bracket (consumed).
    #[inline]
    fn array_next(&mut self) -> PResult<bool> {
        self.next_or_close(b']', "',' or ']' after array element")
    }

    /// A comma (then whitespace: `false`) or the container's `close` (`true`).
    #[inline]
    fn next_or_close(&mut self, close: u8, expected: &'static str) -> PResult<bool> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(false)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => self.expected(expected),
        }
    }

    // ---- captured values -------------------------------------------------------

    /// A value at the current position (no leading whitespace).
    fn value(&mut self) -> PResult<Val<'a>> {
        let mut v = Val::Null;
        self.value_into(&mut v)?;
        Ok(v)
    }

    /// A value at the current position, written into `out`, which must be
    /// `Null` (it is overwritten without being dropped). Writing in place
    /// rather than returning the enum avoids copying it through memory at
    /// every level.
    fn value_into(&mut self, out: &mut Val<'a>) -> PResult<()> {
        match self.peek() {
            Some(b'"') => {
                let start = self.pos + 1;
                let (end, escaped) = self.scan_string()?;
                put(out, Val::Str(self.text(start, end, escaped)));
            }
            Some(b'-' | b'0'..=b'9') => self.number_into(out)?,
            Some(b'{') => self.object_into(out)?,
            Some(b'[') => self.array_into(out)?,
            Some(b't') => {
                self.literal(b"true")?;
                put(out, Val::Bool(true));
            }
            Some(b'f') => {
                self.literal(b"false")?;
                put(out, Val::Bool(false));
            }
            Some(b'n') => self.literal(b"null")?,
            _ => return self.expected_value(),
        }
        Ok(())
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> PResult<()> {
        let b = self.bytes();
        for (i, &c) in word.iter().enumerate() {
            if b.get(self.pos + i) != Some(&c) {
                return self.bad_literal(word, self.pos + i);
            }
        }
        self.pos += word.len();
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn bad_literal(&mut self, word: &[u8], at: usize) -> PResult<()> {
        let found = describe(self.s, at);
        let word = String::from_utf8_lossy(word);
        self.fail(
            &format!("invalid literal (expected `{word}`), found {found}"),
            at,
        )
    }

    fn object_into(&mut self, out: &mut Val<'a>) -> PResult<()> {
        self.enter()?;
        self.pos += 1; // '{'
        self.skip_ws();
        let mut entries: Vec<(Cow<'a, str>, Val<'a>)> = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            // What the first push would allocate, without the growth path.
            entries.reserve_exact(4);
            // Duplicate check: a linear scan of the entries while they are
            // few, a hash set beyond (no quadratic time on huge objects).
            let mut big: Option<HashSet<Cow<'a, str>>> = None;
            loop {
                let key = self.key()?;
                let dup = match &mut big {
                    Some(set) => !set.insert(key.clone()),
                    None if entries.len() < 16 => entries.iter().any(|(seen, _)| *seen == key),
                    None => {
                        let mut set: HashSet<Cow<'a, str>> =
                            entries.iter().map(|(k, _)| k.clone()).collect();
                        let dup = !set.insert(key.clone());
                        big = Some(set);
                        dup
                    }
                };
                if dup {
                    self.found_dup(&key);
                }
                let index = entries.len();
                entries.push((key, Val::Null));
                self.value_into(&mut entries[index].1)?;
                self.child_done(|| Seg::Key(entries[index].0.to_string()));
                if self.object_next()? {
                    break;
                }
            }
        }
        self.depth -= 1;
        put(out, Val::Obj(entries));
        Ok(())
    }

    fn array_into(&mut self, out: &mut Val<'a>) -> PResult<()> {
        self.enter()?;
        self.pos += 1; // '['
        self.skip_ws();
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            items.reserve_exact(4);
            loop {
                let index = items.len();
                items.push(Val::Null);
                self.value_into(&mut items[index])?;
                self.child_done(|| Seg::Index(index));
                if self.array_next()? {
                    break;
                }
            }
        }
        self.depth -= 1;
        put(out, Val::Arr(items));
        Ok(())
    }

    // ---- strings ---------------------------------------------------------------

    /// Position of the first `"`, `\` or control byte at or after `i`.
    #[inline(always)]
    fn find_special(&self, mut i: usize) -> usize {
        let b = self.bytes();
        while i + 8 <= b.len() {
            let chunk = u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
            let m = special_mask(chunk);
            if m != 0 {
                return i + (m.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while i < b.len() && !is_special(b[i]) {
            i += 1;
        }
        i
    }

    /// Validate a string at the current position (its opening quote) and move
    /// past it; returns the index of its closing quote and whether it has
    /// escapes.
    #[inline(always)]
    fn scan_string(&mut self) -> PResult<(usize, bool)> {
        let i = self.find_special(self.pos + 1);
        if self.bytes().get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok((i, false));
        }
        self.scan_string_rest(i)
    }

    /// The rest of a string from its first special byte at `i`.
    fn scan_string_rest(&mut self, mut i: usize) -> PResult<(usize, bool)> {
        let mut escaped = false;
        loop {
            match self.bytes().get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok((i, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.pos = i;
                    self.escape()?;
                    i = self.find_special(self.pos);
                }
                _ => return self.bad_string_byte(i),
            }
        }
    }

    /// The text of a scanned string (`start` just after its opening quote,
    /// `end` at its closing quote): borrowed unless it has escapes.
    #[inline(always)]
    fn text(&self, start: usize, end: usize, escaped: bool) -> Cow<'a, str> {
        let raw: &'a str = &self.s[start..end];
        if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    #[cold]
    #[inline(never)]
    fn bad_string_byte<T>(&mut self, i: usize) -> PResult<T> {
        match self.bytes().get(i) {
            None => self.fail("unterminated string (end of input)", i),
            Some(&c) => self.fail(
                &format!("control character {c:#04x} inside a string (escape it)"),
                i,
            ),
        }
    }

    /// Validate one escape sequence at the current position (the backslash)
    /// and move past it.
    fn escape(&mut self) -> PResult<()> {
        let at = self.pos;
        match self.bytes().get(at + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos = at + 2;
                Ok(())
            }
            Some(b'u') => self.unicode_escape(),
            None => self.fail("unterminated escape (end of input)", at + 1),
            Some(_) => {
                let found = describe(self.s, at + 1);
                self.fail(&format!("invalid escape `\\` followed by {found}"), at)
            }
        }
    }

    /// Four hex digits at `at`.
    fn hex4(&mut self, at: usize) -> PResult<u16> {
        let mut n = 0u16;
        for i in at..at + 4 {
            match self.bytes().get(i).and_then(|&b| hex_val(b)) {
                Some(d) => n = n << 4 | d,
                None if i >= self.bytes().len() => {
                    return self.fail("unterminated \\u escape (end of input)", i)
                }
                None => return self.fail("invalid hex digit in \\u escape", i),
            }
        }
        Ok(n)
    }

    /// Validate `\uXXXX` (or a surrogate pair) at the current position.
    fn unicode_escape(&mut self) -> PResult<()> {
        let at = self.pos;
        match self.hex4(at + 2)? {
            0xDC00..=0xDFFF => self.fail("lone trailing surrogate in \\u escape", at),
            0xD800..=0xDBFF => {
                let b = self.bytes();
                if b.get(at + 6) != Some(&b'\\') || b.get(at + 7) != Some(&b'u') {
                    return self.fail(
                        "lone leading surrogate in \\u escape (no \\u low surrogate follows)",
                        at,
                    );
                }
                if !(0xDC00..=0xDFFF).contains(&self.hex4(at + 8)?) {
                    return self.fail(
                        "lone leading surrogate in \\u escape (not followed by a low surrogate)",
                        at,
                    );
                }
                self.pos = at + 12;
                Ok(())
            }
            _ => {
                self.pos = at + 6;
                Ok(())
            }
        }
    }

    // ---- numbers ---------------------------------------------------------------

    /// A number at the current position (`-` or a digit), written into `out`.
    /// Inline fast path for the common shapes (`-12`, `0.93`, `-75.563412`: at
    /// most 15 digits, no exponent), which are exact in f64 before one
    /// correctly rounded division; everything else (and every error) goes to
    /// [`Parser::number_full`].
    #[inline(always)]
    fn number_into(&mut self, out: &mut Val<'a>) -> PResult<()> {
        let b = self.bytes();
        let mut i = self.pos;
        let neg = b[i] == b'-';
        i += usize::from(neg);
        let first = i;
        let mut mant: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            mant = mant.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            i += 1;
        }
        let int_digits = i - first;
        // No digits, a leading zero, or too long: the general path decides.
        if int_digits == 0 || (b[first] == b'0' && int_digits > 1) || int_digits > 15 {
            return self.number_full(out);
        }
        let mut frac_digits = 0;
        if b.get(i) == Some(&b'.') {
            let frac = i + 1;
            i = frac;
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                mant = mant.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                i += 1;
            }
            frac_digits = i - frac;
            if frac_digits == 0 || int_digits + frac_digits > 15 {
                return self.number_full(out);
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            return self.number_full(out);
        }
        self.pos = i;
        let v = if frac_digits > 0 {
            // mant < 10^15 < 2^53 and the divisor is an exact power of ten.
            let x = mant as i64 as f64 / POW10[frac_digits];
            Val::Float(if neg { -x } else { x })
        } else if !neg {
            Val::Int(mant as i64)
        } else if mant == 0 {
            // serde_json reads `-0` as the float -0.0.
            Val::Float(-0.0)
        } else {
            Val::Int(-(mant as i64))
        };
        put(out, v);
        Ok(())
    }

    /// Any number, by the full grammar.
    #[inline(never)]
    fn number_full(&mut self, out: &mut Val<'a>) -> PResult<()> {
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        let neg = b[i] == b'-';
        if neg {
            i += 1;
        }
        // Integer part.
        let mut mant: u64 = 0;
        let mut overflow = false;
        match b.get(i) {
            Some(b'0') => {
                i += 1;
                if matches!(b.get(i), Some(b'0'..=b'9')) {
                    return self.fail("invalid number: leading zero", start);
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(&c @ b'0'..=b'9') = b.get(i) {
                    let d = u64::from(c - b'0');
                    match mant.checked_mul(10).and_then(|m| m.checked_add(d)) {
                        Some(m) => mant = m,
                        None => overflow = true,
                    }
                    i += 1;
                }
            }
            _ => return self.no_digit(i, "at the start of the number"),
        }
        let int_digits = i - start - usize::from(neg);
        if !matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
            self.pos = i;
            if overflow {
                return self.float_slow(start, i, out);
            }
            let v = if !neg {
                match i64::try_from(mant) {
                    Ok(v) => Val::Int(v),
                    Err(_) => Val::UInt(mant),
                }
            } else if mant == 0 {
                // serde_json reads `-0` as the float -0.0.
                Val::Float(-0.0)
            } else if mant <= 1 << 63 {
                Val::Int((mant as i64).wrapping_neg())
            } else {
                Val::Float(-(mant as f64))
            };
            put(out, v);
            return Ok(());
        }
        // Fraction and exponent: fast path when the significand is exact and
        // the power of ten small (Clinger), else the standard library's
        // correctly rounded parser.
        let mut exp10: i64 = 0;
        let mut fast = !overflow && int_digits <= 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let digits = i;
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                if mant < 1_000_000_000_000_000_000 {
                    mant = mant * 10 + u64::from(c - b'0');
                    exp10 -= 1;
                } else {
                    fast = false;
                }
                i += 1;
            }
            if i == digits {
                return self.no_digit(i, "after the decimal point");
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            let mut eneg = false;
            if let Some(&c @ (b'+' | b'-')) = b.get(i) {
                eneg = c == b'-';
                i += 1;
            }
            let digits = i;
            let mut e: i64 = 0;
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                e = (e * 10 + i64::from(c - b'0')).min(1 << 40);
                i += 1;
            }
            if i == digits {
                return self.no_digit(i, "in the exponent");
            }
            exp10 += if eneg { -e } else { e };
        }
        if fast && mant <= 1 << 53 && (-22..=22).contains(&exp10) {
            self.pos = i;
            let m = mant as i64 as f64; // mant <= 2^53: exact, and one instruction
            let x = if exp10 < 0 {
                m / POW10[(-exp10) as usize]
            } else {
                m * POW10[exp10 as usize]
            };
            put(out, Val::Float(if neg { -x } else { x }));
            return Ok(());
        }
        self.float_slow(start, i, out)
    }

    #[cold]
    #[inline(never)]
    fn no_digit<T>(&mut self, i: usize, place: &str) -> PResult<T> {
        let found = describe(self.s, i);
        self.fail(
            &format!("invalid number: expected a digit {place}, found {found}"),
            i,
        )
    }

    /// A validated number literal in `start..end`, parsed as f64.
    #[cold]
    #[inline(never)]
    fn float_slow(&mut self, start: usize, end: usize, out: &mut Val<'a>) -> PResult<()> {
        match self.s[start..end].parse::<f64>() {
            Ok(x) if x.is_finite() => {
                self.pos = end;
                put(out, Val::Float(x));
                Ok(())
            }
            _ => self.fail("number out of range", start),
        }
    }

    // ---- skipping ------------------------------------------------------------

    /// Validate and skip a value at the current position. Duplicate keys are
    /// still detected (the contract rejects them in any object); nothing is
    /// allocated unless an object has more than [`Seen::INLINE`] keys or a key
    /// with escapes.
    fn skip_value(&mut self) -> PResult<()> {
        match self.peek() {
            Some(b'"') => self.scan_string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number_into(&mut Val::Null),
            Some(b'{') => {
                self.enter()?;
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    let mut seen = Seen::new();
                    loop {
                        let key = self.key()?;
                        if seen.insert(&key) {
                            self.found_dup(&key);
                        }
                        self.skip_value()?;
                        self.child_done(|| Seg::Key(key.into_owned()));
                        if self.object_next()? {
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Ok(())
            }
            Some(b'[') => {
                self.enter()?;
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    let mut index = 0;
                    loop {
                        self.skip_value()?;
                        self.child_done(|| Seg::Index(index));
                        index += 1;
                        if self.array_next()? {
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Ok(())
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => self.expected_value(),
        }
    }
}

/// The keys seen so far in one object, for duplicate detection: the first
/// few borrowed from the input in an inline array (no allocation, linear
/// search), then a hash set (so that a 64 KiB object with thousands of keys
/// is not quadratic).
struct Seen<'a> {
    len: usize,
    inline: [&'a str; Seen::INLINE],
    set: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> Seen<'a> {
    const INLINE: usize = 8;

    fn new() -> Self {
        Seen {
            len: 0,
            inline: [""; Seen::INLINE],
            set: None,
        }
    }

    /// Record `key`; `true` if it was seen before.
    #[allow(clippy::ptr_arg)] // a borrowed key is kept as `&'a str`: needs the Cow
    fn insert(&mut self, key: &Cow<'a, str>) -> bool {
        if let Some(set) = &mut self.set {
            return !set.insert(key.clone());
        }
        if let Cow::Borrowed(k) = key {
            if self.inline[..self.len].contains(k) {
                return true;
            }
            if self.len < Seen::INLINE {
                self.inline[self.len] = k;
                self.len += 1;
                return false;
            }
        }
        self.spill(key)
    }

    #[cold]
    #[inline(never)]
    #[allow(clippy::ptr_arg)] // as in `insert`
    fn spill(&mut self, key: &Cow<'a, str>) -> bool {
        let mut set: HashSet<Cow<'a, str>> = self.inline[..self.len]
            .iter()
            .map(|k| Cow::Borrowed(*k))
            .collect();
        let dup = !set.insert(key.clone());
        self.set = Some(set);
        dup
    }
}

/// Store `v` in `out`, which holds `Null` (so nothing needs dropping: a plain
/// assignment would call the enum's drop glue on every value).
#[inline(always)]
fn put<'a>(out: &mut Val<'a>, v: Val<'a>) {
    std::mem::forget(std::mem::replace(out, v));
}

/// Decode the escapes of a string body that [`Parser::scan_string`] validated.
#[cold]
#[inline(never)]
fn unescape(raw: &str) -> String {
    let b = raw.as_bytes();
    let hex = |at: usize| {
        b[at..at + 4]
            .iter()
            .fold(0u32, |n, &d| n << 4 | u32::from(hex_val(d).unwrap_or(0)))
    };
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(off) = raw[i..].find('\\') {
        out.push_str(&raw[i..i + off]);
        i += off;
        let (c, len) = match b[i + 1] {
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => {
                let hi = hex(i + 2);
                if (0xD800..0xDC00).contains(&hi) {
                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (hex(i + 8) - 0xDC00);
                    (
                        char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER),
                        12,
                    )
                } else {
                    (char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER), 6)
                }
            }
            other => (char::from(other), 2), // '"', '\\', '/'
        };
        out.push(c);
        i += len;
    }
    out.push_str(&raw[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(s: &[u8]) -> String {
        match parse_raw(s) {
            Err(RawError::Invalid(m)) => m,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(s)),
        }
    }

    #[test]
    fn borrows_plain_strings() {
        let ev = parse_raw(br#"{"type":"plate_read","x":{"a":[1,2]},"plate":"ABC123"}"#).unwrap();
        assert!(matches!(
            ev.type_,
            Some(Val::Str(Cow::Borrowed("plate_read")))
        ));
        assert!(matches!(ev.plate, Some(Val::Str(Cow::Borrowed("ABC123")))));
    }

    #[test]
    fn finds_duplicates_at_any_depth() {
        let dup = |s: &str| match parse_raw(s.as_bytes()) {
            Err(RawError::Duplicate(p)) => p,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(dup(r#"{"plate":"A","plate":"B"}"#), "plate");
        assert_eq!(dup(r#"{"zz":1,"zz":2}"#), "zz");
        assert_eq!(
            dup(r#"{"vehicle":{"make":"a","make":"b"}}"#),
            "vehicle.make"
        );
        assert_eq!(
            dup(r#"{"candidates":[{"plate":"AB"},{"plate":"AB","plate":"CD"}]}"#),
            "candidates[1].plate"
        );
        assert_eq!(
            dup(r#"{"candidates":[[],[{"a":{"b":1,"b":2}}]],"plate":1,"plate":2}"#),
            "candidates[1][0].a.b"
        );
        // The first duplicate in document order wins; escapes are decoded first.
        assert_eq!(
            dup(r#"{"vehicle":{"x":1,"\u0078":2},"type":1,"type":2}"#),
            "vehicle.x"
        );
        assert_eq!(dup(r#"{"a":{"k":1,"k":2},"a":1}"#), "a.k");
        assert_eq!(dup(r#"{"a":1,"a":{"k":1,"k":2}}"#), "a");
        // Also inside unknown values and non-object documents (the contract
        // rejects duplicate keys in any object).
        assert_eq!(dup(r#"{"x":{"a":1,"a":2}}"#), "x.a");
        assert_eq!(dup(r#"{"x":[0,{"y":{"a":1,"a":2}}]}"#), "x[1].y.a");
        assert_eq!(dup(r#"[{"a":1},{"a":1,"a":2}]"#), "[1].a");
        assert_eq!(dup(r#"{"x":{"a":1,"\u0061":2}}"#), "x.a");
        // Big objects (hash set path), captured and skipped.
        let many: String = (0..40).map(|i| format!(r#""k{i}":{i},"#)).collect();
        assert_eq!(
            dup(&format!(r#"{{"vehicle":{{{many}"k7":0}}}}"#)),
            "vehicle.k7"
        );
        assert_eq!(dup(&format!(r#"{{"x":{{{many}"k39":0}}}}"#)), "x.k39");
        assert_eq!(dup(&format!(r#"{{{many}"k0":0}}"#)), "k0");
        assert!(parse_raw(format!(r#"{{"x":{{{many}"z":0}}}}"#).as_bytes()).is_ok());
    }

    #[test]
    fn syntax_errors_win_over_duplicates() {
        assert!(matches!(
            parse_raw(br#"{"plate":"A","plate":"B""#),
            Err(RawError::Invalid(_))
        ));
        assert!(matches!(
            parse_raw(br#"{"plate":"A","plate":"B","x":01}"#),
            Err(RawError::Invalid(_))
        ));
        assert!(matches!(parse_raw(b"{} x"), Err(RawError::Invalid(_))));
        assert!(matches!(parse_raw(b"\xff"), Err(RawError::Invalid(_))));
    }

    #[test]
    fn reports_non_objects() {
        assert_eq!(parse_raw(b"[1,{}]").unwrap().not_object, Some("array"));
        assert_eq!(parse_raw(b" \"x\" ").unwrap().not_object, Some("string"));
        assert_eq!(parse_raw(b"null").unwrap().not_object, Some("null"));
        assert_eq!(parse_raw(b"-1.5e3").unwrap().not_object, Some("number"));
        assert_eq!(parse_raw(b"false").unwrap().not_object, Some("boolean"));
        assert!(parse_val(b"[1, 2.5, true]").is_ok());
    }

    #[test]
    fn decodes_escapes() {
        let v = parse_val(br#""a\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00z""#).unwrap();
        assert_eq!(
            v,
            Val::Str(Cow::Owned(
                "a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{20ac}\u{1f600}z".into()
            ))
        );
        assert!(matches!(
            parse_val("\"é€\"".as_bytes()),
            Ok(Val::Str(Cow::Borrowed("é€")))
        ));
        for bad in [
            &br#""\ud800""#[..],
            br#""\udc00""#,
            br#""\ud800\u0041""#,
            br#""\ud800\n""#,
            br#""\x""#,
            br#""\u12""#,
            b"\"a\tb\"",
            b"\"abc",
        ] {
            assert!(parse_val(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn numbers() {
        fn n(s: &str) -> Val<'_> {
            parse_val(s.as_bytes()).unwrap()
        }
        assert_eq!(n("0"), Val::Int(0));
        assert_eq!(n("-7"), Val::Int(-7));
        assert_eq!(n("-0"), Val::Float(-0.0));
        assert_eq!(n("9223372036854775807"), Val::Int(i64::MAX));
        assert_eq!(n("9223372036854775808"), Val::UInt(1 << 63));
        assert_eq!(n("18446744073709551615"), Val::UInt(u64::MAX));
        assert_eq!(
            n("18446744073709551616"),
            Val::Float(18446744073709551616.0)
        );
        assert_eq!(n("-9223372036854775808"), Val::Int(i64::MIN));
        assert_eq!(
            n("-9223372036854775809"),
            Val::Float(-9223372036854775809.0)
        );
        assert_eq!(n("6.251234"), Val::Float(6.251234));
        assert_eq!(n("-75.563412"), Val::Float(-75.563412));
        assert_eq!(n("1E2"), Val::Float(100.0));
        assert_eq!(n("1e-400"), Val::Float(0.0));
        assert_eq!(n("0.1e1"), Val::Float(1.0));
        assert_eq!(n("2.2250738585072014e-308"), Val::Float(f64::MIN_POSITIVE));
        // More digits than the fast path takes: the correctly rounded value.
        let long = "0.30000000000000004441";
        assert_eq!(n(long), Val::Float(long.parse().unwrap()));
        for bad in [
            "01", "-", "+1", ".5", "1.", "1e", "1e+", "-a", "1e400", "-1e400", "NaN",
        ] {
            assert!(parse_val(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn depth_limit_matches_serde_json() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse_val(nested(127).as_bytes()).is_ok());
        assert!(parse_val(nested(128).as_bytes()).is_err());
        let ev = |n: usize| format!(r#"{{"x":{}}}"#, nested(n));
        assert!(parse_raw(ev(126).as_bytes()).is_ok());
        assert!(invalid(ev(127).as_bytes()).contains("nesting"));
    }

    #[test]
    fn error_messages_say_what_and_where() {
        assert_eq!(
            invalid(br#"{"x":[1, ]}"#),
            "trailing comma before ']' at byte 9"
        );
        assert_eq!(
            invalid(br#"{"x":{"a":1 ,}}"#),
            "trailing comma before '}' at byte 13"
        );
        assert_eq!(
            invalid(br#"{"x":{"a":1 }, }"#),
            "trailing comma before '}' at byte 15"
        );
        assert_eq!(
            invalid(br#"{"type" "plate_read"}"#),
            r#"expected ':' after object key, found '"' at byte 8"#
        );
        assert_eq!(
            invalid(br#"{"a":1,}"#),
            "trailing comma before '}' at byte 7"
        );
        assert_eq!(
            invalid(b"{\"a\":1"),
            "expected ',' or '}' after object member, found end of input at byte 6"
        );
        assert_eq!(
            invalid(b"{} x"),
            "trailing characters after the JSON value at byte 3"
        );
        assert_eq!(invalid(b"ab\xff"), "invalid UTF-8 at byte 2");
        assert_eq!(
            invalid(b""),
            "expected a JSON value, found end of input at byte 0"
        );
    }
}
