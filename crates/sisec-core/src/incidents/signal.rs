//! Signals: what the stateless engine hands the stateful incident stage, in
//! batches of bytes per shard (one Bytewax item per shard and engine batch, not
//! one Python object per event).
//!
//! Every batch for a shard starts with the sending batch's newest event time
//! per kind of signal (plate reads, device events, calls), so each shard sees
//! each stream's progress (its watermarks) even when none of the batch's events
//! are its own. Kinds progress apart: plate reads racing ahead of a lagging
//! device topic must not make every device look silent.

use super::codec::{DecodeError, Reader, Writer};
use crate::alert::AlertKind;
use crate::event::{ButtonAction, CallLine, CallStatus, DeviceKind, Location};
use crate::watchlist::MatchKind;

/// Bumped when the layout changes (signals never outlive one build, but a
/// mixed-version cluster must not misread them).
const SIGNALS_VERSION: u8 = 2;

/// Newest event time per kind of signal (i64::MIN: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub plates: i64,
    pub devices: i64,
    pub calls: i64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            plates: i64::MIN,
            devices: i64::MIN,
            calls: i64::MIN,
        }
    }
}

impl Progress {
    /// Raise by `signal`'s time.
    pub fn see(&mut self, signal: &Signal<'_>) {
        match signal {
            Signal::Sighting(s) => self.plates = self.plates.max(s.ts_ms),
            Signal::Device(d) => self.devices = self.devices.max(d.ts_ms),
            Signal::Call(c) => self.calls = self.calls.max(c.ts_ms),
        }
    }

    /// Raise every kind to at least `other`.
    pub fn merge(&mut self, other: Progress) {
        self.plates = self.plates.max(other.plates);
        self.devices = self.devices.max(other.devices);
        self.calls = self.calls.max(other.calls);
    }
}

/// Bytes of a batch header (version, progress): a batch this long has no signal.
pub const HEADER_BYTES: usize = 25;

/// A plate read that alerts: a watchlist hit or a read in a restricted zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Sighting<'a> {
    pub ts_ms: i64,
    /// `PlateHit` or `RestrictedZone`.
    pub alert_kind: AlertKind,
    /// The watchlist entry id, or the restricted zone id.
    pub subject: &'a str,
    /// The entry's list, or the zone's allow list.
    pub list: &'a str,
    /// The read plate, normalised: which vehicle.
    pub vehicle: &'a str,
    pub match_kind: MatchKind,
    pub score: f32,
    /// The list's (or entry's) priority before the match strength demoted it.
    pub base_priority: u8,
    /// This sighting's own priority (demoted, zone-boosted).
    pub priority: u8,
    pub camera_id: &'a str,
    pub location: Option<Location>,
    pub heading_deg: Option<f64>,
    pub event_id: &'a str,
    /// The sighting's alert document, as the stateless engine built it.
    pub alert: &'a [u8],
}

/// Any event of an alarm device (presses page; heartbeats supervise).
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceEvent<'a> {
    pub ts_ms: i64,
    pub device_id: &'a str,
    pub device_kind: DeviceKind,
    pub action: ButtonAction,
    pub location: Option<Location>,
    pub event_id: &'a str,
    /// Press priority (device kind, zone boost); 0 for other actions.
    pub priority: u8,
    /// The press or tamper alert document; empty for other actions.
    pub alert: &'a [u8],
    /// `{"location", "site", "zones"}` of the event as JSON object text
    /// (offline alerts say where the device is).
    pub place: &'a [u8],
}

/// An emergency-call event.
#[derive(Clone, Debug, PartialEq)]
pub struct CallEvent<'a> {
    pub ts_ms: i64,
    pub call_id: &'a str,
    pub line: CallLine,
    pub status: CallStatus,
    pub incident_type: Option<&'a str>,
    pub location: Option<Location>,
    pub accuracy_m: Option<f64>,
    pub caller_hash: Option<&'a str>,
    pub event_id: &'a str,
    /// `{"location", "zones"}` of the call as JSON object text (empty if none).
    pub place: &'a [u8],
}

#[derive(Clone, Debug, PartialEq)]
pub enum Signal<'a> {
    Sighting(Sighting<'a>),
    Device(DeviceEvent<'a>),
    Call(CallEvent<'a>),
}

const TAG_SIGHTING: u8 = 1;
const TAG_DEVICE: u8 = 2;
const TAG_CALL: u8 = 3;

fn loc(w: &mut Writer, l: Option<Location>) {
    w.opt_f64(l.map(|l| l.lat));
    w.opt_f64(l.map(|l| l.lon));
}

fn read_loc(r: &mut Reader<'_>) -> Result<Option<Location>, DecodeError> {
    let (lat, lon) = (r.opt_f64()?, r.opt_f64()?);
    Ok(lat.zip(lon).map(|(lat, lon)| Location { lat, lon }))
}

fn opt_str(w: &mut Writer, s: Option<&str>) {
    match s {
        Some(s) => {
            w.u8(1);
            w.str(s);
        }
        None => w.u8(0),
    }
}

fn read_opt_str<'a>(r: &mut Reader<'a>) -> Result<Option<&'a str>, DecodeError> {
    Ok(match r.u8()? {
        0 => None,
        _ => Some(r.str()?),
    })
}

fn enum_at<T: Copy>(all: &[T], i: u8, what: &str) -> Result<T, DecodeError> {
    all.get(usize::from(i))
        .copied()
        .ok_or_else(|| DecodeError(format!("{what} {i} is unknown")))
}

fn index_of<T: PartialEq>(all: &[T], v: &T) -> u8 {
    all.iter().position(|x| x == v).unwrap_or(0) as u8
}

/// A batch of signals for one shard.
#[derive(Debug)]
pub struct SignalBatch {
    w: Writer,
    count: u32,
}

impl SignalBatch {
    /// An empty batch.
    pub fn new() -> Self {
        let mut w = Writer::default();
        w.u8(SIGNALS_VERSION);
        for _ in 0..3 {
            w.i64(i64::MIN);
        }
        SignalBatch { w, count: 0 }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Set the progress the batch tells (the whole engine batch's).
    pub fn set_progress(&mut self, p: Progress) {
        for (i, v) in [p.plates, p.devices, p.calls].into_iter().enumerate() {
            self.w.buf[1 + 8 * i..9 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
    }

    pub fn push(&mut self, s: &Signal<'_>) {
        let w = &mut self.w;
        self.count += 1;
        match s {
            Signal::Sighting(s) => {
                w.u8(TAG_SIGHTING);
                w.i64(s.ts_ms);
                w.u8(index_of(&AlertKind::ALL, &s.alert_kind));
                w.str(s.subject);
                w.str(s.list);
                w.str(s.vehicle);
                w.u8(index_of(&MatchKind::ALL, &s.match_kind));
                w.f32(s.score);
                w.u8(s.base_priority);
                w.u8(s.priority);
                w.str(s.camera_id);
                loc(w, s.location);
                w.opt_f64(s.heading_deg);
                w.str(s.event_id);
                w.bytes(s.alert);
            }
            Signal::Device(d) => {
                w.u8(TAG_DEVICE);
                w.i64(d.ts_ms);
                w.str(d.device_id);
                w.u8(index_of(DeviceKind::ALL, &d.device_kind));
                w.u8(index_of(ButtonAction::ALL, &d.action));
                loc(w, d.location);
                w.str(d.event_id);
                w.u8(d.priority);
                w.bytes(d.alert);
                w.bytes(d.place);
            }
            Signal::Call(c) => {
                w.u8(TAG_CALL);
                w.i64(c.ts_ms);
                w.str(c.call_id);
                w.u8(index_of(CallLine::ALL, &c.line));
                w.u8(index_of(CallStatus::ALL, &c.status));
                opt_str(w, c.incident_type);
                loc(w, c.location);
                w.opt_f64(c.accuracy_m);
                opt_str(w, c.caller_hash);
                w.str(c.event_id);
                w.bytes(c.place);
            }
        }
    }

    /// The encoded batch.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.buf
    }
}

impl Default for SignalBatch {
    fn default() -> Self {
        SignalBatch::new()
    }
}

/// Decode a batch: each signal, in order; returns the progress it tells.
pub fn decode_batch<'a>(
    data: &'a [u8],
    mut each: impl FnMut(Signal<'a>),
) -> Result<Progress, DecodeError> {
    let mut r = Reader::new(data);
    let version = r.u8()?;
    if version != SIGNALS_VERSION {
        return Err(DecodeError(format!(
            "signal batch version {version}, this build reads {SIGNALS_VERSION}"
        )));
    }
    let progress = Progress {
        plates: r.i64()?,
        devices: r.i64()?,
        calls: r.i64()?,
    };
    while !r.is_done() {
        let tag = r.u8()?;
        let signal = match tag {
            TAG_SIGHTING => Signal::Sighting(Sighting {
                ts_ms: r.i64()?,
                alert_kind: enum_at(&AlertKind::ALL, r.u8()?, "alert kind")?,
                subject: r.str()?,
                list: r.str()?,
                vehicle: r.str()?,
                match_kind: enum_at(&MatchKind::ALL, r.u8()?, "match kind")?,
                score: r.f32()?,
                base_priority: r.u8()?,
                priority: r.u8()?,
                camera_id: r.str()?,
                location: read_loc(&mut r)?,
                heading_deg: r.opt_f64()?,
                event_id: r.str()?,
                alert: r.bytes()?,
            }),
            TAG_DEVICE => Signal::Device(DeviceEvent {
                ts_ms: r.i64()?,
                device_id: r.str()?,
                device_kind: enum_at(DeviceKind::ALL, r.u8()?, "device kind")?,
                action: enum_at(ButtonAction::ALL, r.u8()?, "button action")?,
                location: read_loc(&mut r)?,
                event_id: r.str()?,
                priority: r.u8()?,
                alert: r.bytes()?,
                place: r.bytes()?,
            }),
            TAG_CALL => Signal::Call(CallEvent {
                ts_ms: r.i64()?,
                call_id: r.str()?,
                line: enum_at(CallLine::ALL, r.u8()?, "call line")?,
                status: enum_at(CallStatus::ALL, r.u8()?, "call status")?,
                incident_type: read_opt_str(&mut r)?,
                location: read_loc(&mut r)?,
                accuracy_m: r.opt_f64()?,
                caller_hash: read_opt_str(&mut r)?,
                event_id: r.str()?,
                place: r.bytes()?,
            }),
            other => return Err(DecodeError(format!("unknown signal tag {other}"))),
        };
        each(signal);
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip() {
        let signals = vec![
            Signal::Sighting(Sighting {
                ts_ms: 1_795_435_200_000,
                alert_kind: AlertKind::PlateHit,
                subject: "SV-1",
                list: "stolen_vehicle",
                vehicle: "ABC123",
                match_kind: MatchKind::Lookalike,
                score: 0.4,
                base_priority: 2,
                priority: 4,
                camera_id: "CAM-1",
                location: Some(Location {
                    lat: 6.25,
                    lon: -75.5,
                }),
                heading_deg: None,
                event_id: "e1",
                alert: b"{}",
            }),
            Signal::Device(DeviceEvent {
                ts_ms: 5,
                device_id: "D1",
                device_kind: DeviceKind::SchoolLink,
                action: ButtonAction::Heartbeat,
                location: None,
                event_id: "e2",
                priority: 0,
                alert: b"",
                place: b"{}",
            }),
            Signal::Call(CallEvent {
                ts_ms: 6,
                call_id: "C1",
                line: CallLine::L123,
                status: CallStatus::Classified,
                incident_type: Some("riña"),
                location: None,
                accuracy_m: Some(30.0),
                caller_hash: None,
                event_id: "e3",
                place: b"",
            }),
        ];
        let mut batch = SignalBatch::new();
        assert_eq!(batch.w.buf.len(), HEADER_BYTES);
        let mut progress = Progress::default();
        for s in &signals {
            batch.push(s);
            progress.see(s);
        }
        batch.set_progress(progress);
        assert_eq!(batch.len(), 3);
        let bytes = batch.into_bytes();
        let mut got = Vec::new();
        let told = decode_batch(&bytes, |s| got.push(s)).unwrap();
        assert_eq!(
            (told.plates, told.devices, told.calls),
            (1_795_435_200_000, 5, 6)
        );
        assert_eq!(got, signals);
        assert!(decode_batch(&bytes[..bytes.len() - 1], |_| {}).is_err());
        let mut wrong = bytes.clone();
        wrong[0] = 9;
        assert!(decode_batch(&wrong, |_| {})
            .unwrap_err()
            .0
            .contains("version 9"));
    }
}
