//! A tolerant first pass over one JSON event: every known top-level key is
//! captured as a [`Val`] (strings borrowed from the input when they have no
//! escapes), unknown keys are skipped without allocating, and duplicate keys are
//! detected at any depth. Type and range checks happen afterwards in `event`,
//! once the event's `type` is known, so that the first problem found can be
//! reported with the right reason code.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Any JSON value, borrowing strings from the input where possible.
#[derive(Debug, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
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

const DUP_PREFIX: &str = "duplicate field `";

fn dup_error<E: de::Error>(path: &str) -> E {
    E::custom(format_args!("{DUP_PREFIX}{path}`"))
}

/// The duplicated key path carried by an error made by [`dup_error`].
pub fn duplicate_path(msg: &str) -> Option<&str> {
    let start = msg.find(DUP_PREFIX)? + DUP_PREFIX.len();
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

/// Re-raise a nested duplicate-key error with the parent path in front.
fn nest_dup<E: de::Error>(err: E, parent: &str) -> E {
    let msg = err.to_string();
    match duplicate_path(&msg) {
        Some(inner) if inner.starts_with('[') => dup_error(&format!("{parent}{inner}")),
        Some(inner) => dup_error(&format!("{parent}.{inner}")),
        None => err,
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> de::Deserialize<'de> for Val<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Val::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Val::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Val::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Val::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Val::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Val::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Val::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element::<Val<'de>>() {
                Ok(Some(v)) => items.push(v),
                Ok(None) => return Ok(Val::Arr(items)),
                Err(e) => return Err(nest_dup(e, &format!("[{}]", items.len()))),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, Val<'de>)> = Vec::new();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if entries.iter().any(|(seen, _)| *seen == k) {
                return Err(dup_error(&k));
            }
            let v = map.next_value::<Val<'de>>().map_err(|e| nest_dup(e, &k))?;
            entries.push((k, v));
        }
        Ok(Val::Obj(entries))
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

impl<'a> RawEvent<'a> {
    fn slot(&mut self, key: &str) -> Option<&mut Option<Val<'a>>> {
        Some(match key {
            "type" => &mut self.type_,
            "event_id" => &mut self.event_id,
            "ts" => &mut self.ts,
            "camera_id" => &mut self.camera_id,
            "plate" => &mut self.plate,
            "confidence" => &mut self.confidence,
            "lat" => &mut self.lat,
            "lon" => &mut self.lon,
            "heading_deg" => &mut self.heading_deg,
            "vehicle" => &mut self.vehicle,
            "candidates" => &mut self.candidates,
            "image_ref" => &mut self.image_ref,
            "device_id" => &mut self.device_id,
            "device_kind" => &mut self.device_kind,
            "action" => &mut self.action,
            "call_id" => &mut self.call_id,
            "line" => &mut self.line,
            "status" => &mut self.status,
            "incident_type" => &mut self.incident_type,
            "accuracy_m" => &mut self.accuracy_m,
            "caller_hash" => &mut self.caller_hash,
            _ => return None,
        })
    }
}

struct RawEventVisitor;

impl<'de> Visitor<'de> for RawEventVisitor {
    type Value = RawEvent<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ev = RawEvent::default();
        // Unknown keys still need duplicate detection; they are rare, keep them apart.
        let mut unknown: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            match ev.slot(&k) {
                Some(slot) => {
                    if slot.is_some() {
                        return Err(dup_error(&k));
                    }
                    *slot = Some(map.next_value::<Val<'de>>().map_err(|e| nest_dup(e, &k))?);
                }
                None => {
                    if unknown.contains(&k) {
                        return Err(dup_error(&k));
                    }
                    // Duplicates inside unknown values are not our business: skip them.
                    map.next_value::<IgnoredAny>()?;
                    unknown.push(k);
                }
            }
        }
        Ok(ev)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawEvent {
            not_object: Some("array"),
            ..RawEvent::default()
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(not_object("null"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(not_object("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(not_object("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(not_object("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(not_object("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(not_object("string"))
    }
}

fn not_object(kind: &'static str) -> RawEvent<'static> {
    RawEvent {
        not_object: Some(kind),
        ..RawEvent::default()
    }
}

/// How the first pass failed.
#[derive(Debug, PartialEq, Eq)]
pub enum RawError {
    /// Not UTF-8 or not JSON (with serde_json's explanation).
    Invalid(String),
    /// Valid JSON with a duplicated key (dotted path).
    Duplicate(String),
}

/// First pass over one event's bytes.
pub fn parse_raw(bytes: &[u8]) -> Result<RawEvent<'_>, RawError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = de
        .deserialize_any(RawEventVisitor)
        .and_then(|ev| de.end().map(|()| ev));
    match result {
        Ok(ev) => Ok(ev),
        Err(e) if e.is_data() => {
            let msg = e.to_string();
            match duplicate_path(&msg) {
                // A syntax error later in the input wins over an earlier duplicate.
                Some(path) => match serde_json::from_slice::<IgnoredAny>(bytes) {
                    Ok(_) => Err(RawError::Duplicate(path.to_owned())),
                    Err(syntax) => Err(RawError::Invalid(syntax.to_string())),
                },
                None => Err(RawError::Invalid(msg)),
            }
        }
        Err(e) => Err(RawError::Invalid(e.to_string())),
    }
}

/// Seed-free helper so tests can parse a standalone value.
pub fn parse_val(bytes: &[u8]) -> Result<Val<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = PhantomSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct PhantomSeed;

impl<'de> DeserializeSeed<'de> for PhantomSeed {
    type Value = Val<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings() {
        let ev = parse_raw(br#"{"type":"plate_read","x":{"a":[1,2]},"plate":"ABC123"}"#).unwrap();
        assert!(matches!(ev.type_, Some(Val::Str(Cow::Borrowed("plate_read")))));
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
        assert_eq!(dup(r#"{"vehicle":{"make":"a","make":"b"}}"#), "vehicle.make");
        assert_eq!(
            dup(r#"{"candidates":[{"plate":"AB"},{"plate":"AB","plate":"CD"}]}"#),
            "candidates[1].plate"
        );
    }

    #[test]
    fn syntax_errors_win_over_duplicates() {
        assert!(matches!(
            parse_raw(br#"{"plate":"A","plate":"B""#),
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
        assert!(parse_val(b"[1, 2.5, true]").is_ok());
    }
}
