//! The event contract (docs/events.md, python/sisec_stream/schemas/events):
//! validation of a [`RawEvent`] into a typed [`Event`], or the first problem as
//! a [`Reject`]. The order of checks is part of the contract: the first problem
//! found decides the reason code.

use crate::json::{parse_raw_into, RawError, RawEvent, Val};
use crate::plate::{Plate, PlateError};
use crate::reject::{Reason, Reject};
use crate::timestamp::{parse_rfc3339, MAX_EPOCH_MS};
use std::borrow::Cow;

/// The three event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    PlateRead,
    ButtonPress,
    Call,
}

impl EventType {
    pub const ALL: [EventType; 3] = [
        EventType::PlateRead,
        EventType::ButtonPress,
        EventType::Call,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::PlateRead => "plate_read",
            EventType::ButtonPress => "button_press",
            EventType::Call => "call",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    fn from_str(s: &str) -> Option<Self> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub(crate) fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            pub(crate) fn expected() -> &'static str {
                concat!("one of:" $(, " ", $text)+)
            }
        }
    };
}

string_enum!(
    /// What kind of alarm button sent an event.
    DeviceKind {
        Panic = "panic",
        CommunityAlarm = "community_alarm",
        SchoolLink = "school_link",
        BusinessAid = "business_aid",
    }
);
string_enum!(
    /// What a button event reports.
    ButtonAction {
        Press = "press",
        Heartbeat = "heartbeat",
        Tamper = "tamper",
        LowBattery = "low_battery",
    }
);
string_enum!(
    /// The emergency line a call came in on.
    CallLine {
        L123 = "123",
        L911 = "911",
        L089 = "089",
        Other = "other",
    }
);
string_enum!(
    /// The state of a call in the dispatch system.
    CallStatus {
        Received = "received",
        Classified = "classified",
        Abandoned = "abandoned",
        Closed = "closed",
    }
);

/// A WGS84 position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, PartialEq, Default)]
pub struct Vehicle<'a> {
    pub class: Option<Cow<'a, str>>,
    pub make: Option<Cow<'a, str>>,
    pub color: Option<Cow<'a, str>>,
}

#[derive(Debug, PartialEq)]
pub struct Candidate {
    pub plate: Plate,
    pub confidence: Option<f64>,
}

#[derive(Debug, PartialEq)]
pub struct PlateRead<'a> {
    pub camera_id: Cow<'a, str>,
    /// The plate exactly as read.
    pub plate_raw: Cow<'a, str>,
    /// The plate normalised for matching.
    pub plate: Plate,
    pub confidence: Option<f64>,
    pub location: Option<Location>,
    pub heading_deg: Option<f64>,
    pub vehicle: Option<Vehicle<'a>>,
    pub candidates: Vec<Candidate>,
    pub image_ref: Option<Cow<'a, str>>,
}

#[derive(Debug, PartialEq)]
pub struct ButtonPress<'a> {
    pub device_id: Cow<'a, str>,
    pub device_kind: DeviceKind,
    pub action: ButtonAction,
    pub location: Option<Location>,
}

#[derive(Debug, PartialEq)]
pub struct Call<'a> {
    pub call_id: Cow<'a, str>,
    pub line: CallLine,
    pub status: CallStatus,
    pub incident_type: Option<Cow<'a, str>>,
    pub location: Option<Location>,
    pub accuracy_m: Option<f64>,
    pub caller_hash: Option<Cow<'a, str>>,
}

#[derive(Debug, PartialEq)]
pub enum Body<'a> {
    PlateRead(PlateRead<'a>),
    ButtonPress(ButtonPress<'a>),
    Call(Call<'a>),
}

/// A valid event, borrowing its strings from the input bytes where it can.
#[derive(Debug, PartialEq)]
pub struct Event<'a> {
    pub event_id: Cow<'a, str>,
    pub ts_ms: i64,
    pub body: Body<'a>,
}

impl Event<'_> {
    pub fn event_type(&self) -> EventType {
        match self.body {
            Body::PlateRead(_) => EventType::PlateRead,
            Body::ButtonPress(_) => EventType::ButtonPress,
            Body::Call(_) => EventType::Call,
        }
    }
}

/// A rejected event with what could be learnt of it for the dead-letter record.
#[derive(Debug, PartialEq)]
pub struct Rejected {
    pub reject: Reject,
    pub event_id: Option<String>,
    pub source: Option<EventType>,
}

/// Rejects travel boxed through the checks: `Result<f64, Box<Reject>>` is
/// returned in registers, `Result<f64, Reject>` through memory (this is the
/// hot path of every accepted event; rejects are rare).
type Check<T> = Result<T, Box<Reject>>;

#[cold]
fn rej(reason: Reason, field: impl Into<String>, detail: impl Into<String>) -> Box<Reject> {
    Box::new(Reject::field(reason, field, detail))
}

/// Limits on ids and free text, from the contract.
const ID_MAX: usize = 64;
const VEHICLE_TEXT_MAX: usize = 32;
const IMAGE_REF_MAX: usize = 512;
const INCIDENT_TYPE_MAX: usize = 64;
const CALLER_HASH_MAX: usize = 128;
const CANDIDATES_MAX: usize = 10;
const ACCURACY_MAX_M: f64 = 100_000.0;

/// Parse and validate one event.
pub fn parse_event(bytes: &[u8], max_bytes: usize) -> Result<Event<'_>, Rejected> {
    if bytes.len() > max_bytes {
        return Err(whole(
            Reason::TooLarge,
            format!("event is {} bytes; the limit is {max_bytes}", bytes.len()),
        ));
    }
    // One RawEvent on the stack, filled and validated in place (it is ~700
    // bytes: moving it by value at every step showed up in profiles).
    let mut raw = RawEvent::default();
    match parse_raw_into(bytes, &mut raw) {
        Ok(()) => {}
        Err(RawError::Invalid(msg)) => return Err(whole(Reason::InvalidJson, msg)),
        Err(RawError::Duplicate(path)) => {
            return Err(Rejected {
                reject: Reject::field(
                    Reason::DuplicateField,
                    path.clone(),
                    format!("key `{path}` appears more than once"),
                ),
                event_id: None,
                source: None,
            })
        }
    }
    if let Some(kind) = raw.not_object {
        return Err(whole(
            Reason::NotObject,
            format!("an event must be a JSON object, not a {kind}"),
        ));
    }
    let event_type = match event_type(raw.type_.take()) {
        Ok(t) => t,
        Err(reject) => {
            let event_id = best_effort_id(&raw.event_id);
            return Err(Rejected {
                reject: *reject,
                event_id,
                source: None,
            });
        }
    };
    validate(&mut raw, event_type).map_err(|(reject, event_id)| Rejected {
        reject,
        event_id,
        source: Some(event_type),
    })
}

fn whole(reason: Reason, detail: String) -> Rejected {
    Rejected {
        reject: Reject::whole(reason, detail),
        event_id: None,
        source: None,
    }
}

fn best_effort_id(v: &Option<Val<'_>>) -> Option<String> {
    match v {
        Some(Val::Str(s)) if id_ok(s) => Some(s.to_string()),
        _ => None,
    }
}

fn event_type(v: Option<Val<'_>>) -> Check<EventType> {
    let s = string(require(v, "type")?, "type")?;
    EventType::from_str(&s).ok_or_else(|| {
        rej(
            Reason::UnknownType,
            "type",
            format!("unknown event type {s:?}; expected plate_read, button_press or call"),
        )
    })
}

/// Validate the rest of an event of type `t`. A reject carries the event id
/// when it was valid (exactly what [`best_effort_id`] keeps), made only when
/// needed.
fn validate<'a>(
    raw: &mut RawEvent<'a>,
    t: EventType,
) -> Result<Event<'a>, (Reject, Option<String>)> {
    let event_id = require(raw.event_id.take(), "event_id")
        .and_then(|v| id(v, "event_id"))
        .map_err(|reject| (*reject, None))?;
    let rest = timestamp_and_body(raw, t);
    match rest {
        Ok((ts_ms, body)) => Ok(Event {
            event_id,
            ts_ms,
            body,
        }),
        Err(reject) => Err((*reject, Some(event_id.into_owned()))),
    }
}

fn timestamp_and_body<'a>(raw: &mut RawEvent<'a>, t: EventType) -> Check<(i64, Body<'a>)> {
    let ts_ms = timestamp(require(raw.ts.take(), "ts")?)?;
    let body = match t {
        EventType::PlateRead => Body::PlateRead(plate_read(raw)?),
        EventType::ButtonPress => Body::ButtonPress(button_press(raw)?),
        EventType::Call => Body::Call(call(raw)?),
    };
    Ok((ts_ms, body))
}

fn plate_read<'a>(raw: &mut RawEvent<'a>) -> Check<PlateRead<'a>> {
    let camera_id = id(require(raw.camera_id.take(), "camera_id")?, "camera_id")?;
    let plate_raw = string(require(raw.plate.take(), "plate")?, "plate")?;
    let plate = plate_value(&plate_raw, "plate")?;
    let confidence = opt(raw.confidence.take(), |v| unit_interval(v, "confidence"))?;
    let location = location(raw.lat.take(), raw.lon.take())?;
    let heading_deg = opt(raw.heading_deg.take(), |v| {
        let x = number(v, "heading_deg")?;
        if (0.0..360.0).contains(&x) {
            Ok(x)
        } else {
            Err(out_of_range("heading_deg", x, "0 <= heading_deg < 360"))
        }
    })?;
    let vehicle = opt(raw.vehicle.take(), vehicle)?;
    let candidates = opt(raw.candidates.take(), candidates)?.unwrap_or_default();
    let image_ref = opt(raw.image_ref.take(), |v| {
        text(v, "image_ref", IMAGE_REF_MAX)
    })?;
    Ok(PlateRead {
        camera_id,
        plate_raw,
        plate,
        confidence,
        location,
        heading_deg,
        vehicle,
        candidates,
        image_ref,
    })
}

fn button_press<'a>(raw: &mut RawEvent<'a>) -> Check<ButtonPress<'a>> {
    let device_id = id(require(raw.device_id.take(), "device_id")?, "device_id")?;
    let device_kind = choice(
        require(raw.device_kind.take(), "device_kind")?,
        "device_kind",
        DeviceKind::parse,
        DeviceKind::expected(),
    )?;
    let action = choice(
        require(raw.action.take(), "action")?,
        "action",
        ButtonAction::parse,
        ButtonAction::expected(),
    )?;
    let location = location(raw.lat.take(), raw.lon.take())?;
    Ok(ButtonPress {
        device_id,
        device_kind,
        action,
        location,
    })
}

fn call<'a>(raw: &mut RawEvent<'a>) -> Check<Call<'a>> {
    let call_id = id(require(raw.call_id.take(), "call_id")?, "call_id")?;
    let line = choice(
        require(raw.line.take(), "line")?,
        "line",
        CallLine::parse,
        CallLine::expected(),
    )?;
    let status = choice(
        require(raw.status.take(), "status")?,
        "status",
        CallStatus::parse,
        CallStatus::expected(),
    )?;
    let incident_type = opt(raw.incident_type.take(), |v| {
        text(v, "incident_type", INCIDENT_TYPE_MAX)
    })?;
    let location = location(raw.lat.take(), raw.lon.take())?;
    let accuracy_m = opt(raw.accuracy_m.take(), |v| {
        let x = number(v, "accuracy_m")?;
        if (0.0..=ACCURACY_MAX_M).contains(&x) {
            Ok(x)
        } else {
            Err(out_of_range("accuracy_m", x, "0 <= accuracy_m <= 100000"))
        }
    })?;
    let caller_hash = opt(raw.caller_hash.take(), |v| {
        text(v, "caller_hash", CALLER_HASH_MAX)
    })?;
    Ok(Call {
        call_id,
        line,
        status,
        incident_type,
        location,
        accuracy_m,
        caller_hash,
    })
}

// ---- field rules -------------------------------------------------------------

#[inline(always)]
fn require<'a>(v: Option<Val<'a>>, field: &str) -> Check<Val<'a>> {
    v.ok_or_else(|| {
        rej(
            Reason::MissingField,
            field,
            format!("required field `{field}` is missing"),
        )
    })
}

#[inline(always)]
fn opt<'a, T>(v: Option<Val<'a>>, f: impl FnOnce(Val<'a>) -> Check<T>) -> Check<Option<T>> {
    v.map(f).transpose()
}

fn bad_type(field: &str, expected: &str, got: &Val<'_>) -> Box<Reject> {
    rej(
        Reason::BadType,
        field,
        format!("`{field}` must be {expected}, not {}", got.type_name()),
    )
}

fn out_of_range(field: &str, x: f64, rule: &str) -> Box<Reject> {
    rej(
        Reason::OutOfRange,
        field,
        format!("`{field}` is {x}; must be {rule}"),
    )
}

#[inline(always)]
fn string<'a>(v: Val<'a>, field: &str) -> Check<Cow<'a, str>> {
    match v {
        Val::Str(s) => Ok(s),
        other => Err(bad_type(field, "a string", &other)),
    }
}

fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

#[inline(always)]
fn length(s: &str, field: &str, max: usize) -> Check<()> {
    let n = char_len(s);
    if (1..=max).contains(&n) {
        Ok(())
    } else {
        Err(rej(
            Reason::OutOfRange,
            field,
            format!("`{field}` has {n} characters; must have 1 to {max}"),
        ))
    }
}

/// U+0021..=U+007E (one compare: `RangeInclusive::contains` in `all` was a
/// measurable cost per event).
#[inline(always)]
fn printable(b: u8) -> bool {
    b.wrapping_sub(0x21) < 0x5e
}

#[inline(always)]
fn id_ok(s: &str) -> bool {
    (1..=ID_MAX).contains(&s.len()) && s.bytes().all(printable)
}

/// Identifiers: 1..=64 printable ASCII characters, no spaces.
#[inline(always)]
fn id<'a>(v: Val<'a>, field: &str) -> Check<Cow<'a, str>> {
    let s = string(v, field)?;
    // Valid ids are all printable ASCII, so bytes are characters: one pass.
    if id_ok(&s) {
        return Ok(s);
    }
    length(&s, field, ID_MAX)?;
    if s.bytes().all(printable) {
        Ok(s)
    } else {
        Err(rej(
            Reason::BadValue,
            field,
            format!("`{field}` may only hold printable ASCII without spaces"),
        ))
    }
}

#[inline(always)]
fn text<'a>(v: Val<'a>, field: &str, max: usize) -> Check<Cow<'a, str>> {
    let s = string(v, field)?;
    length(&s, field, max)?;
    Ok(s)
}

#[inline(always)]
fn number(v: Val<'_>, field: &str) -> Check<f64> {
    match v {
        Val::Int(i) => Ok(i as f64),
        Val::UInt(u) => Ok(u as f64),
        Val::Float(x) => Ok(x),
        other => Err(bad_type(field, "a number", &other)),
    }
}

#[inline(always)]
fn unit_interval(v: Val<'_>, field: &str) -> Check<f64> {
    let x = number(v, field)?;
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(out_of_range(field, x, "between 0 and 1"))
    }
}

fn choice<T>(v: Val<'_>, field: &str, parse: fn(&str) -> Option<T>, expected: &str) -> Check<T> {
    let s = string(v, field)?;
    parse(&s).ok_or_else(|| {
        rej(
            Reason::BadValue,
            field,
            format!("`{field}` is {s:?}; expected {expected}"),
        )
    })
}

fn plate_value(s: &str, field: &str) -> Check<Plate> {
    Plate::parse(s).map_err(|e| {
        let reason = match e {
            PlateError::TooLong => Reason::OutOfRange,
            PlateError::BadCharacter | PlateError::BadLength => Reason::BadValue,
        };
        rej(reason, field, format!("{} (got {s:?})", e.describe()))
    })
}

fn timestamp(v: Val<'_>) -> Check<i64> {
    let bad_ts = |detail: String| rej(Reason::BadTimestamp, "ts", detail);
    let in_range = |ms: i128| {
        if (0..=i128::from(MAX_EPOCH_MS)).contains(&ms) {
            Ok(ms as i64)
        } else {
            Err(bad_ts(format!(
                "epoch milliseconds {ms} outside 0..={MAX_EPOCH_MS}"
            )))
        }
    };
    match v {
        Val::Str(s) => parse_rfc3339(&s).map_err(|why| bad_ts(format!("{s:?}: {why}"))),
        Val::Int(i) => in_range(i128::from(i)),
        Val::UInt(u) => in_range(i128::from(u)),
        // JSON Schema counts 1700000000000.0 as an integer; so do we.
        Val::Float(x) if x.fract() == 0.0 => {
            if x.abs() < 1e20 {
                in_range(x as i128)
            } else {
                Err(bad_ts(format!("epoch milliseconds {x} out of range")))
            }
        }
        other => Err(bad_type(
            "ts",
            "an RFC 3339 string or integer epoch milliseconds",
            &other,
        )),
    }
}

fn location(lat: Option<Val<'_>>, lon: Option<Val<'_>>) -> Check<Option<Location>> {
    let lat = opt(lat, |v| {
        let x = number(v, "lat")?;
        if (-90.0..=90.0).contains(&x) {
            Ok(x)
        } else {
            Err(out_of_range("lat", x, "between -90 and 90"))
        }
    })?;
    let lon = opt(lon, |v| {
        let x = number(v, "lon")?;
        if (-180.0..=180.0).contains(&x) {
            Ok(x)
        } else {
            Err(out_of_range("lon", x, "between -180 and 180"))
        }
    })?;
    match (lat, lon) {
        (Some(lat), Some(lon)) => Ok(Some(Location { lat, lon })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(rej(
            Reason::MissingField,
            "lon",
            "`lat` is given without `lon`; send both or neither",
        )),
        (None, Some(_)) => Err(rej(
            Reason::MissingField,
            "lat",
            "`lon` is given without `lat`; send both or neither",
        )),
    }
}

fn vehicle(v: Val<'_>) -> Check<Vehicle<'_>> {
    let mut entries = match v {
        Val::Obj(entries) => entries,
        other => return Err(bad_type("vehicle", "an object", &other)),
    };
    let mut out = Vehicle::default();
    let mut class = None;
    let mut make = None;
    let mut color = None;
    // Take the values out in place (moving whole entries out of the Vec
    // through `into_iter` was a measurable cost).
    for (k, v) in entries.iter_mut() {
        let slot = match &**k {
            "class" => &mut class,
            "make" => &mut make,
            "color" => &mut color,
            _ => continue,
        };
        *slot = Some(std::mem::replace(v, Val::Null));
    }
    out.class = opt(class, |v| text(v, "vehicle.class", VEHICLE_TEXT_MAX))?;
    out.make = opt(make, |v| text(v, "vehicle.make", VEHICLE_TEXT_MAX))?;
    out.color = opt(color, |v| text(v, "vehicle.color", VEHICLE_TEXT_MAX))?;
    Ok(out)
}

fn candidates(v: Val<'_>) -> Check<Vec<Candidate>> {
    let items = match v {
        Val::Arr(items) => items,
        other => return Err(bad_type("candidates", "an array", &other)),
    };
    if items.len() > CANDIDATES_MAX {
        return Err(rej(
            Reason::OutOfRange,
            "candidates",
            format!(
                "{} candidates; at most {CANDIDATES_MAX} are allowed",
                items.len()
            ),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| candidate(i, item))
        .collect()
}

fn candidate(i: usize, v: Val<'_>) -> Check<Candidate> {
    let field = |name: &str| format!("candidates[{i}]{name}");
    let mut entries = match v {
        Val::Obj(entries) => entries,
        other => return Err(bad_type(&field(""), "an object", &other)),
    };
    let mut plate = None;
    let mut confidence = None;
    for (k, v) in entries.iter_mut() {
        let slot = match &**k {
            "plate" => &mut plate,
            "confidence" => &mut confidence,
            _ => continue,
        };
        *slot = Some(std::mem::replace(v, Val::Null));
    }
    let plate_field = field(".plate");
    let raw = string(require(plate, &plate_field)?, &plate_field)?;
    let plate = plate_value(&raw, &plate_field)?;
    let confidence = opt(confidence, |v| unit_interval(v, &field(".confidence")))?;
    Ok(Candidate { plate, confidence })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 65_536;

    fn reject(s: &str) -> (Reason, Option<String>) {
        let r = parse_event(s.as_bytes(), MAX).expect_err(s).reject;
        (r.reason, r.field)
    }

    fn f(name: &str) -> Option<String> {
        Some(name.to_owned())
    }

    #[test]
    fn accepts_a_full_plate_read() {
        let ev = parse_event(
            br#"{"type":"plate_read","event_id":"e1","ts":"2026-11-23T07:00:00.5-05:00",
                "camera_id":"MDE-LPR-0001","plate":"abc-123","confidence":0.9,
                "lat":6.25,"lon":-75.57,"heading_deg":0,"vehicle":{"class":"car","color":"gris plata"},
                "candidates":[{"plate":"ABC128","confidence":0.1}],"image_ref":"img/1.jpg","extra":[1]}"#,
            MAX,
        )
        .unwrap();
        assert_eq!(ev.ts_ms, 1_795_435_200_500);
        let Body::PlateRead(pr) = ev.body else {
            panic!("not a plate read")
        };
        assert_eq!(pr.plate.as_str(), "ABC123");
        assert_eq!(pr.candidates[0].plate.as_str(), "ABC128");
        assert_eq!(pr.vehicle.unwrap().color.as_deref(), Some("gris plata"));
    }

    #[test]
    fn reason_codes() {
        assert_eq!(reject("nope"), (Reason::InvalidJson, None));
        assert_eq!(reject("[]"), (Reason::NotObject, None));
        assert_eq!(reject("{}"), (Reason::MissingField, f("type")));
        assert_eq!(reject(r#"{"type":1}"#), (Reason::BadType, f("type")));
        assert_eq!(reject(r#"{"type":"x"}"#), (Reason::UnknownType, f("type")));
        assert_eq!(
            reject(r#"{"type":"call","type":"call"}"#),
            (Reason::DuplicateField, f("type"))
        );
        let base = r#""type":"button_press","event_id":"b1","ts":0,"device_id":"D1""#;
        assert_eq!(
            reject(&format!(
                r#"{{{base},"device_kind":"panic","action":"ring"}}"#
            )),
            (Reason::BadValue, f("action"))
        );
        assert_eq!(
            reject(&format!(
                r#"{{{base},"device_kind":"panic","action":"press","lat":1}}"#
            )),
            (Reason::MissingField, f("lon"))
        );
        assert_eq!(
            reject(
                r#"{"type":"call","event_id":"c","ts":1.5,"call_id":"x","line":"123","status":"received"}"#
            ),
            (Reason::BadType, f("ts"))
        );
        assert_eq!(
            reject(
                r#"{"type":"call","event_id":"c","ts":-1,"call_id":"x","line":"123","status":"received"}"#
            ),
            (Reason::BadTimestamp, f("ts"))
        );
        assert_eq!(
            reject(
                r#"{"type":"call","event_id":"c","ts":0,"call_id":"x","line":911,"status":"received"}"#
            ),
            (Reason::BadType, f("line"))
        );
        assert_eq!(
            reject(
                r#"{"type":"plate_read","event_id":"e","ts":0,"camera_id":"c","plate":"AB","candidates":[{"plate":"A"}]}"#
            ),
            (Reason::BadValue, f("candidates[0].plate"))
        );
        assert_eq!(
            reject(r#"{"type":"plate_read","event_id":"e e","ts":0}"#),
            (Reason::BadValue, f("event_id"))
        );
    }

    #[test]
    fn too_large_is_checked_first() {
        let r = parse_event(b"not json at all", 4).unwrap_err().reject;
        assert_eq!(r.reason, Reason::TooLarge);
    }

    #[test]
    fn rejects_name_the_event_id_only_when_it_is_valid() {
        for (raw, reason) in [
            (
                r#"{"type":"call","event_id":"é","ts":"bad"}"#,
                Reason::BadValue,
            ),
            (
                r#"{"type":"call","event_id":"","ts":"bad"}"#,
                Reason::OutOfRange,
            ),
            (
                r#"{"type":"call","event_id":7,"ts":"bad"}"#,
                Reason::BadType,
            ),
            (r#"{"type":"call","ts":"bad"}"#, Reason::MissingField),
        ] {
            let r = parse_event(raw.as_bytes(), MAX).unwrap_err();
            assert_eq!((r.reject.reason, r.event_id), (reason, None), "{raw}");
        }
        let r = parse_event(br#"{"type":"nope","event_id":"x-1"}"#, MAX).unwrap_err();
        assert_eq!(r.event_id.as_deref(), Some("x-1"));
    }

    #[test]
    fn duplicate_keys_in_any_object() {
        let base =
            r#""type":"call","event_id":"c","ts":0,"call_id":"x","line":"123","status":"received""#;
        for (extra, field) in [
            (r#""x":{"a":1,"a":2}"#, "x.a"),
            (r#""x":[{"y":{"a":1,"a":2}}]"#, "x[0].y.a"),
            (r#""status":"closed""#, "status"),
        ] {
            let raw = format!("{{{base},{extra}}}");
            assert_eq!(reject(&raw), (Reason::DuplicateField, f(field)), "{raw}");
        }
    }

    #[test]
    fn rejects_keep_the_event_id_when_known() {
        let r = parse_event(br#"{"type":"call","event_id":"c-9","ts":"bad"}"#, MAX).unwrap_err();
        assert_eq!(r.event_id.as_deref(), Some("c-9"));
        assert_eq!(r.source, Some(EventType::Call));
        assert_eq!(r.reject.reason, Reason::BadTimestamp);
    }
}
