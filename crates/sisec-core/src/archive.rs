//! The event archive's feed: every accepted event in normalised form, as
//! newline-delimited JSON, one buffer per source (docs/archive.md).
//!
//! The engine has parsed each event already; this writes what it parsed, so
//! the archive writer (Python, `polars.read_ndjson` with a fixed schema) never
//! parses the raw event again. One line per event, keys in a fixed order,
//! absent optional fields left out (they read back as null):
//!
//! * `plate_read`: `event_id`, `ts` (epoch ms), `camera_id`, `plate` (normalised),
//!   `plate_raw` (as sent), `confidence`, `lat`, `lon`, `heading_deg`,
//!   `vehicle_class`, `vehicle_make`, `vehicle_color`, `image_ref`, `candidates`
//!   (`[{"plate", "confidence"}]`, plates normalised; left out when there are
//!   none), `hit` (the read produced an alert candidate);
//! * `button_press`: `event_id`, `ts`, `device_id`, `device_kind`, `action`,
//!   `lat`, `lon`;
//! * `call`: `event_id`, `ts`, `call_id`, `line`, `status`, `incident_type`,
//!   `lat`, `lon`, `accuracy_m`, `caller_hash`.
//!
//! With a [`PlateKey`] ([`Archive::with_key`]) plate reads are pseudonymised as
//! they are written (docs/archive.md, "Pseudonymisation"): every read gets
//! `plate_token` (after `plate`) and every candidate a `token` (after its
//! `plate`); a read that is not a hit has `plate` and `plate_raw` null and its
//! candidates' `plate` null, so its clear plate is never in the output.

use std::fmt;

use crate::event::{Body, ButtonPress, Call, Event, Location, PlateRead};

/// The archive's pseudonymisation key: a plate's token is keyed BLAKE2b with a
/// 16-byte digest of the normalised plate, in lower-case hex (Python:
/// `hashlib.blake2b(plate.encode(), key=key, digest_size=16).hexdigest()`).
#[derive(Clone)]
pub struct PlateKey {
    /// The keyed state before any input, cloned per token.
    state: blake2b_simd::State,
}

/// A key that is not 16 to 64 bytes long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLengthError(pub usize);

impl fmt::Display for KeyLengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a pseudonymisation key has {} to {} bytes, not {}",
            PlateKey::MIN_LEN,
            PlateKey::MAX_LEN,
            self.0
        )
    }
}

impl std::error::Error for KeyLengthError {}

impl PlateKey {
    /// Shortest key accepted.
    pub const MIN_LEN: usize = 16;
    /// Longest key accepted (BLAKE2b's limit).
    pub const MAX_LEN: usize = blake2b_simd::KEYBYTES;
    /// Bytes of a token's digest (its hex has twice as many characters).
    pub const DIGEST_LEN: usize = 16;

    pub fn new(key: &[u8]) -> Result<Self, KeyLengthError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&key.len()) {
            return Err(KeyLengthError(key.len()));
        }
        let state = blake2b_simd::Params::new()
            .hash_length(Self::DIGEST_LEN)
            .key(key)
            .to_state();
        Ok(PlateKey { state })
    }

    /// The token of one normalised plate: 32 lower-case hex digits.
    pub fn token(&self, plate: &str) -> [u8; 2 * Self::DIGEST_LEN] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut state = self.state.clone();
        state.update(plate.as_bytes());
        let hash = state.finalize();
        let mut out = [0u8; 2 * Self::DIGEST_LEN];
        for (pair, &b) in out.chunks_exact_mut(2).zip(hash.as_bytes()) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
        }
        out
    }
}

impl fmt::Debug for PlateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlateKey(<key>)")
    }
}

/// Accepted events of one batch as JSON lines, by
/// [`EventType::index`](crate::event::EventType::index).
#[derive(Clone, Debug, Default)]
pub struct Archive {
    buffers: [Vec<u8>; 3],
    key: Option<PlateKey>,
}

impl Archive {
    pub fn new() -> Self {
        Archive::default()
    }

    /// An archive whose plate reads are pseudonymised with `key` (see the
    /// module's documentation).
    pub fn with_key(key: PlateKey) -> Self {
        Archive {
            buffers: Default::default(),
            key: Some(key),
        }
    }

    /// Add one accepted event; `hit` says whether a plate read produced an
    /// alert candidate (ignored for other events).
    pub fn push(&mut self, event: &Event<'_>, hit: bool) {
        let out = &mut self.buffers[event.event_type().index()];
        out.reserve(512);
        out.extend_from_slice(b"{\"event_id\":");
        string(out, &event.event_id);
        out.extend_from_slice(b",\"ts\":");
        out.extend_from_slice(itoa::Buffer::new().format(event.ts_ms).as_bytes());
        match &event.body {
            Body::PlateRead(r) => plate_read(out, r, hit, self.key.as_ref()),
            Body::ButtonPress(p) => button_press(out, p),
            Body::Call(c) => call(out, c),
        }
        out.extend_from_slice(b"}\n");
    }

    /// Bytes written so far, all sources.
    pub fn len(&self) -> usize {
        self.buffers.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The three buffers (plate reads, button presses, calls).
    pub fn finish(self) -> [Vec<u8>; 3] {
        self.buffers
    }
}

fn plate_read(out: &mut Vec<u8>, r: &PlateRead<'_>, hit: bool, key: Option<&PlateKey>) {
    field_str(out, "camera_id", &r.camera_id);
    // In clear: no key, or a hit (which also gets its token).
    let clear = hit || key.is_none();
    let plate = r.plate.as_str();
    if clear {
        field_str(out, "plate", plate);
    } else {
        out.extend_from_slice(b",\"plate\":null");
    }
    if let Some(key) = key {
        key_token(out, "plate_token", key, plate);
    }
    if clear {
        field_str(out, "plate_raw", &r.plate_raw);
    } else {
        out.extend_from_slice(b",\"plate_raw\":null");
    }
    opt_num(out, "confidence", r.confidence);
    location(out, r.location);
    opt_num(out, "heading_deg", r.heading_deg);
    if let Some(v) = &r.vehicle {
        opt_str(out, "vehicle_class", v.class.as_deref());
        opt_str(out, "vehicle_make", v.make.as_deref());
        opt_str(out, "vehicle_color", v.color.as_deref());
    }
    opt_str(out, "image_ref", r.image_ref.as_deref());
    if !r.candidates.is_empty() {
        out.extend_from_slice(b",\"candidates\":[");
        for (i, c) in r.candidates.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if clear {
                out.extend_from_slice(b"{\"plate\":");
                string(out, c.plate.as_str());
            } else {
                out.extend_from_slice(b"{\"plate\":null");
            }
            if let Some(key) = key {
                key_token(out, "token", key, c.plate.as_str());
            }
            opt_num(out, "confidence", c.confidence);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.extend_from_slice(if hit {
        b",\"hit\":true"
    } else {
        b",\"hit\":false"
    });
}

/// `,"name":"<token>"` (hex digits: no escaping).
fn key_token(out: &mut Vec<u8>, name: &str, key: &PlateKey, plate: &str) {
    self::key(out, name);
    out.push(b'"');
    out.extend_from_slice(&key.token(plate));
    out.push(b'"');
}

fn button_press(out: &mut Vec<u8>, p: &ButtonPress<'_>) {
    field_str(out, "device_id", &p.device_id);
    field_str(out, "device_kind", p.device_kind.as_str());
    field_str(out, "action", p.action.as_str());
    location(out, p.location);
}

fn call(out: &mut Vec<u8>, c: &Call<'_>) {
    field_str(out, "call_id", &c.call_id);
    field_str(out, "line", c.line.as_str());
    field_str(out, "status", c.status.as_str());
    opt_str(out, "incident_type", c.incident_type.as_deref());
    location(out, c.location);
    opt_num(out, "accuracy_m", c.accuracy_m);
    opt_str(out, "caller_hash", c.caller_hash.as_deref());
}

fn location(out: &mut Vec<u8>, location: Option<Location>) {
    if let Some(l) = location {
        field_num(out, "lat", l.lat);
        field_num(out, "lon", l.lon);
    }
}

/// `,"name":` (names are plain ASCII: no escaping).
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn field_str(out: &mut Vec<u8>, name: &str, value: &str) {
    key(out, name);
    string(out, value);
}

fn opt_str(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        field_str(out, name, v);
    }
}

fn field_num(out: &mut Vec<u8>, name: &str, value: f64) {
    key(out, name);
    number(out, value);
}

fn opt_num(out: &mut Vec<u8>, name: &str, value: Option<f64>) {
    if let Some(v) = value {
        field_num(out, name, v);
    }
}

/// The shortest text that reads back as the same `f64` (validated events hold
/// finite numbers only).
fn number(out: &mut Vec<u8>, value: f64) {
    debug_assert!(value.is_finite());
    out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
}

/// A JSON string: quotes, backslashes and control characters escaped, any
/// other character (UTF-8, as the input was) copied.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings (ids, plates, enums) need no escape: one branch-free scan.
    let plain = !bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::BatchOutput;
    use crate::event::parse_event;
    use serde_json::{json, Value};

    fn archived(raw: &[u8], hit: bool) -> (usize, Value, Vec<u8>) {
        let event = parse_event(raw, 65_536).expect("a valid event");
        let mut archive = Archive::new();
        archive.push(&event, hit);
        let buffers = archive.finish();
        let (source, line) = buffers
            .iter()
            .enumerate()
            .find(|(_, b)| !b.is_empty())
            .expect("one buffer written");
        assert!(line.ends_with(b"}\n"), "one line per event");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let value = serde_json::from_slice(line).expect("valid JSON");
        (source, value, line.clone())
    }

    #[test]
    fn a_full_plate_read_in_normalised_form() {
        let raw = br#"{"type":"plate_read","event_id":"pr-1","ts":"2024-05-14T08:45:12.123-05:00",
            "camera_id":"MED-CAM-017","plate":" abc-123","confidence":0.93,"lat":6.2442,"lon":-75,
            "heading_deg":87.5,"vehicle":{"class":"car","make":"Renault","color":"gris plata"},
            "candidates":[{"plate":"abc.128","confidence":0.41},{"plate":"ABG123"}],
            "image_ref":"s3://x/y.jpg","unknown":1}"#;
        let (source, v, _) = archived(raw, true);
        assert_eq!(source, 0);
        assert_eq!(
            v,
            json!({
                "event_id": "pr-1", "ts": 1_715_694_312_123_i64, "camera_id": "MED-CAM-017",
                "plate": "ABC123", "plate_raw": " abc-123", "confidence": 0.93,
                "lat": 6.2442, "lon": -75.0, "heading_deg": 87.5,
                "vehicle_class": "car", "vehicle_make": "Renault", "vehicle_color": "gris plata",
                "image_ref": "s3://x/y.jpg",
                "candidates": [{"plate": "ABC128", "confidence": 0.41}, {"plate": "ABG123"}],
                "hit": true
            })
        );
    }

    #[test]
    fn absent_optional_fields_are_left_out() {
        let raw = br#"{"type":"plate_read","event_id":"pr-2","ts":0,"camera_id":"C","plate":"XY12",
            "vehicle":{"make":"Mazda"},"candidates":[]}"#;
        let (_, v, line) = archived(raw, false);
        assert_eq!(
            v,
            json!({"event_id": "pr-2", "ts": 0, "camera_id": "C", "plate": "XY12",
                   "plate_raw": "XY12", "vehicle_make": "Mazda", "hit": false})
        );
        assert_eq!(
            line,
            b"{\"event_id\":\"pr-2\",\"ts\":0,\"camera_id\":\"C\",\"plate\":\"XY12\",\
              \"plate_raw\":\"XY12\",\"vehicle_make\":\"Mazda\",\"hit\":false}\n"
        );
    }

    #[test]
    fn buttons_and_calls_go_to_their_own_buffers() {
        let press = br#"{"type":"button_press","event_id":"b1","ts":1715694312123,
            "device_id":"D1","device_kind":"school_link","action":"low_battery","lat":1,"lon":2.5}"#;
        let (source, v, _) = archived(press, true);
        assert_eq!(source, 1);
        assert_eq!(
            v,
            json!({"event_id": "b1", "ts": 1_715_694_312_123_i64, "device_id": "D1",
                   "device_kind": "school_link", "action": "low_battery", "lat": 1.0, "lon": 2.5})
        );
        let bare = br#"{"type":"call","event_id":"c0","ts":5,"call_id":"K","line":"089","status":"closed"}"#;
        let (source, v, _) = archived(bare, false);
        assert_eq!(source, 2);
        assert_eq!(
            v,
            json!({"event_id": "c0", "ts": 5, "call_id": "K", "line": "089", "status": "closed"})
        );
        let full = br#"{"type":"call","event_id":"c1","ts":"2024-05-14T13:47:03Z","call_id":"CALL-1",
            "line":"911","status":"classified","incident_type":"ri\u00f1a","lat":6.2308,"lon":-75.5906,
            "accuracy_m":35.5,"caller_hash":"sha256:0f"}"#;
        let (_, v, _) = archived(full, false);
        assert_eq!(
            v,
            json!({"event_id": "c1", "ts": 1_715_694_423_000_i64, "call_id": "CALL-1",
                   "line": "911", "status": "classified", "incident_type": "riña",
                   "lat": 6.2308, "lon": -75.5906, "accuracy_m": 35.5, "caller_hash": "sha256:0f"})
        );
    }

    #[test]
    fn odd_strings_are_escaped_and_read_back_the_same() {
        let odd = "a\"b\\c\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é 東 😀 \u{2028} </script>";
        let doc = json!({"type": "call", "event_id": "c-odd", "ts": 1, "call_id": "K",
                         "line": "other", "status": "received", "incident_type": odd,
                         "caller_hash": "\\u0041"});
        let raw = serde_json::to_vec(&doc).unwrap();
        let (_, v, line) = archived(&raw, false);
        assert_eq!(v["incident_type"], odd);
        assert_eq!(v["caller_hash"], "\\u0041", "a backslash stays a backslash");
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.contains(r#"a\"b\\c\n\r\t\b\f\u0000\u001f"#), "{text}");
        assert!(
            !line[..line.len() - 1].contains(&b'\n'),
            "no raw newline inside a line"
        );
    }

    #[test]
    fn numbers_read_back_exactly() {
        let mut out = Vec::new();
        for x in [
            0.0,
            1.0,
            -75.5812,
            0.1 + 0.2,
            1e-7,
            359.999_999_999_999_9,
            100_000.0,
        ] {
            out.clear();
            number(&mut out, x);
            let text = std::str::from_utf8(&out).unwrap();
            assert_eq!(text.parse::<f64>().unwrap(), x, "{text}");
        }
    }

    #[test]
    fn the_engine_archives_accepted_events_with_their_hit_flag() {
        use crate::{Engine, EngineConfig, Watchlist};
        let wl = Watchlist::from_csv(
            b"entry_id,plate,list\nSV-1,ABC123,stolen_vehicle\n",
            "w.csv",
        )
        .unwrap();
        let engine = Engine::with_watchlist(EngineConfig::default(), wl).unwrap();
        let batch: Vec<&[u8]> = vec![
            br#"{"type":"plate_read","event_id":"r1","ts":1,"camera_id":"C","plate":"abc 123"}"#,
            br#"{"type":"plate_read","event_id":"r2","ts":2,"camera_id":"C","plate":"XYZ999"}"#,
            b"{bad",
            br#"{"type":"call","event_id":"c1","ts":3,"call_id":"K","line":"9","status":"closed"}"#,
        ];
        let (mut out, mut archive) = (BatchOutput::default(), Archive::new());
        engine.process_archived(&batch, 0, 0, &mut out, None, Some(&mut archive));
        assert_eq!((out.accepted(), out.rejects.len()), (2, 2));
        let [plates, buttons, calls] = archive.finish();
        let lines: Vec<Value> = plates
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let flags: Vec<_> = lines.iter().map(|v| (&v["event_id"], &v["hit"])).collect();
        assert_eq!(
            flags,
            [(&json!("r1"), &json!(true)), (&json!("r2"), &json!(false))]
        );
        assert!(
            buttons.is_empty() && calls.is_empty(),
            "rejected events are not archived"
        );
    }

    /// Computed with Python: `hashlib.blake2b(p.encode(), key=key, digest_size=16).hexdigest()`.
    #[test]
    fn tokens_match_pythons_keyed_blake2b() {
        let key: Vec<u8> = (0..32).collect();
        let k = PlateKey::new(&key).unwrap();
        for (plate, want) in [
            ("ABC123", "3252da7f6e35dd22b5d2e1163c859072"),
            ("XYZ999", "480e78edd066724758b0f6d24f6e9eef"),
            ("ABC128", "2a89bb3513a6999dca54ce1b0045c06c"),
            ("", "3daf97bce7888fd59773c66bf647459c"),
        ] {
            assert_eq!(
                std::str::from_utf8(&k.token(plate)).unwrap(),
                want,
                "{plate}"
            );
        }
        let longest: Vec<u8> = (0..64).collect();
        let k = PlateKey::new(&longest).unwrap();
        assert_eq!(&k.token("ABC123"), b"7239563bd8b6ce4f8ae56b1f32c89699");
        let k = PlateKey::new(b"0123456789abcdef").unwrap();
        assert_eq!(&k.token("ÑANDÚ9"), b"d78f43ee3ce77e0a3364d7fe9261feab");
    }

    #[test]
    fn keys_are_16_to_64_bytes() {
        assert_eq!(PlateKey::new(&[7; 15]).unwrap_err(), KeyLengthError(15));
        assert_eq!(PlateKey::new(&[7; 65]).unwrap_err(), KeyLengthError(65));
        assert!(PlateKey::new(&[7; 16]).is_ok() && PlateKey::new(&[7; 64]).is_ok());
        assert_eq!(
            format!("{:?}", PlateKey::new(&[7; 16]).unwrap()),
            "PlateKey(<key>)"
        );
    }

    fn pseudonymised(raw: &[u8], hit: bool) -> (Value, Vec<u8>) {
        let event = parse_event(raw, 65_536).expect("a valid event");
        let key: Vec<u8> = (0..32).collect();
        let mut archive = Archive::with_key(PlateKey::new(&key).unwrap());
        archive.push(&event, hit);
        let [plates, _, _] = archive.finish();
        (serde_json::from_slice(&plates).unwrap(), plates)
    }

    #[test]
    fn with_a_key_non_hits_keep_only_tokens() {
        let raw =
            br#"{"type":"plate_read","event_id":"pr-1","ts":0,"camera_id":"C","plate":" abc-123",
            "candidates":[{"plate":"abc.128","confidence":0.41},{"plate":"XYZ999"}]}"#;
        let (v, line) = pseudonymised(raw, false);
        assert_eq!(
            v,
            json!({"event_id": "pr-1", "ts": 0, "camera_id": "C", "plate": null,
                   "plate_token": "3252da7f6e35dd22b5d2e1163c859072", "plate_raw": null,
                   "candidates": [
                       {"plate": null, "token": "2a89bb3513a6999dca54ce1b0045c06c", "confidence": 0.41},
                       {"plate": null, "token": "480e78edd066724758b0f6d24f6e9eef"}],
                   "hit": false})
        );
        let text = std::str::from_utf8(&line).unwrap().to_ascii_uppercase();
        for clear in ["ABC", "128", "XYZ"] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
    }

    #[test]
    fn with_a_key_hits_keep_plates_and_get_tokens() {
        let raw =
            br#"{"type":"plate_read","event_id":"pr-1","ts":0,"camera_id":"C","plate":"abc 123",
            "candidates":[{"plate":"ABC128"}]}"#;
        let (v, _) = pseudonymised(raw, true);
        assert_eq!(
            v,
            json!({"event_id": "pr-1", "ts": 0, "camera_id": "C", "plate": "ABC123",
                   "plate_token": "3252da7f6e35dd22b5d2e1163c859072", "plate_raw": "abc 123",
                   "candidates": [{"plate": "ABC128", "token": "2a89bb3513a6999dca54ce1b0045c06c"}],
                   "hit": true})
        );
    }

    #[test]
    fn a_key_leaves_other_sources_alone() {
        let raw = br#"{"type":"call","event_id":"c0","ts":5,"call_id":"K","line":"089","status":"closed"}"#;
        let event = parse_event(raw, 65_536).unwrap();
        let (mut plain, mut keyed) = (
            Archive::new(),
            Archive::with_key(PlateKey::new(&[1; 16]).unwrap()),
        );
        plain.push(&event, false);
        keyed.push(&event, false);
        assert_eq!(plain.finish(), keyed.finish());
    }

    #[test]
    fn lines_accumulate_per_source() {
        let mut archive = Archive::new();
        let a = parse_event(br#"{"type":"call","event_id":"c1","ts":1,"call_id":"K","line":"123","status":"received"}"#, 1000).unwrap();
        let b = parse_event(br#"{"type":"call","event_id":"c2","ts":2,"call_id":"K","line":"123","status":"closed"}"#, 1000).unwrap();
        archive.push(&a, false);
        archive.push(&b, false);
        assert!(!archive.is_empty());
        let [plates, buttons, calls] = archive.finish();
        assert!(plates.is_empty() && buttons.is_empty());
        let lines: Vec<Value> = calls
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["event_id"], "c2");
    }
}
