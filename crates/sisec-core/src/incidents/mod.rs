//! One page per incident: the stateful stage after the engine.
//!
//! The engine (stateless, any worker) turns events into [`Signal`]s and packs
//! them per shard ([`SignalBatch`]); each shard's [`ShardState`] (one Bytewax
//! key, so one worker at a time) turns them into pages and updates: plate hits
//! de-duplicated per vehicle and entry and corroborated across cameras
//! (`plates`), button presses folded and devices supervised by heartbeat
//! (`devices`), calls clustered into incidents (`calls`). Time is event time:
//! windows close and devices go offline when the shard's watermark passes them,
//! never by wall clock. A watermark is the newest event time seen of that kind
//! (plate reads, device events, calls: they come from different topics and
//! progress apart) minus `lateness_s`.
//!
//! Shards: a plate hit goes to its watchlist entry's shard (so a second camera's
//! read of the same entry meets the first), a device event to its device's,
//! every call to one shard (calls are few, and clustering needs all of an
//! area's). State snapshots are compact bytes ([`ShardState::snapshot`]).

mod calls;
pub use calls::NON_EMERGENCY_CALL_TYPES;
pub mod codec;
pub mod config;
mod devices;
mod plates;
pub mod signal;
mod splice;

pub use config::IncidentConfig;
pub use signal::{
    decode_batch, CallEvent, DeviceEvent, Progress, Sighting, Signal, SignalBatch, HEADER_BYTES,
};

use crate::alert::{Alert, AlertKind};
use crate::event::Location;
use codec::{DecodeError, Reader, Writer};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// FNV-1a over the parts, each followed by a separator: stable across
/// processes and builds (shard routing and ids depend on it).
pub fn hash_parts(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.as_bytes().iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The shard of a state key.
pub fn shard_of(key: &str, shards: u16) -> u16 {
    (hash_parts(&[key]) % u64::from(shards.max(1))) as u16
}

/// Bytes a hash table of `capacity` (usable slots) allocates for `slot`-byte
/// entries: hashbrown keeps 1/8 of its buckets free, plus a control byte each.
pub(crate) fn table_bytes(capacity: usize, slot: usize) -> usize {
    let buckets = if capacity < 8 {
        capacity + 1
    } else {
        capacity / 7 * 8
    };
    buckets * (slot + 1)
}

/// A coordinate rounded to 6 decimals (~0.1 m): stable, readable documents.
pub(crate) fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Great-circle distance (haversine), metres.
pub fn distance_m(a: Location, b: Location) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * h.sqrt().min(1.0).asin()
}

/// Small strings (camera ids, incident types) stored once per shard.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    names: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.into());
        self.ids.insert(s.into(), i);
        i
    }

    pub fn find(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    pub fn memory_bytes(&self) -> usize {
        let text: usize = self.names.iter().map(|n| n.len()).sum();
        self.names.capacity() * 16 + self.ids.capacity() * 25 + 2 * text
    }

    fn encode(&self, w: &mut Writer) {
        w.u32(self.names.len() as u32);
        for n in &self.names {
            w.str(n);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = Interner::default();
        for _ in 0..r.u32()? {
            out.intern(r.str()?);
        }
        Ok(out)
    }
}

/// How a stateless alert document becomes a page or an update.
pub(crate) struct Update<'a> {
    /// The incident's id (stable across its updates).
    pub alert_id: &'a str,
    /// Replaces the document's `incident_key` when set.
    pub incident_key: Option<&'a str>,
    /// 0 for the page, then 1, 2, ...
    pub update: u16,
    pub priority: u8,
    /// Replaces the document's `score` when set (corroboration combines them).
    pub score: Option<f64>,
    /// The update promotes a weak hit on another camera's read (`Alert::corroboration`).
    pub corroboration: bool,
    /// Appended to the document's reasons.
    pub extra_reasons: &'a [String],
    /// The `incident` object: what the incident is so far.
    pub incident: serde_json::Map<String, serde_json::Value>,
    pub now_ms: i64,
}

/// Turn an alert document into a page or update of its incident.
pub(crate) fn rewrite_alert(doc: &[u8], u: &Update<'_>) -> Alert {
    splice::rewrite(doc, u)
}

/// The `Alert` around a finished document.
pub(crate) fn finish(v: serde_json::Map<String, serde_json::Value>) -> Alert {
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let kind = AlertKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s("kind"))
        .unwrap_or(AlertKind::PlateHit);
    let event_time_ms = crate::timestamp::parse_rfc3339(&s("event_time")).unwrap_or(0);
    Alert {
        alert_id: s("alert_id"),
        kind,
        priority: v.get("priority").and_then(|p| p.as_u64()).unwrap_or(4) as u8,
        event_time_ms,
        incident_key: s("incident_key"),
        update: v.get("update").and_then(|u| u.as_u64()).unwrap_or(0) as u16,
        corroboration: false,
        json: serde_json::to_vec(&v).expect("JSON values serialise"),
    }
}

/// Version of the snapshot layout.
const SNAPSHOT_VERSION: u8 = 1;

/// What one shard remembers.
#[derive(Clone, Debug)]
pub struct ShardState {
    config: Arc<IncidentConfig>,
    /// Newest event time seen, per kind.
    progress: Progress,
    plates: plates::Plates,
    devices: devices::Devices,
    calls: calls::Calls,
}

/// Sizes of a shard's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSize {
    pub plates: usize,
    pub devices: usize,
    pub calls: usize,
    pub bytes: usize,
}

impl ShardState {
    pub fn new(config: Arc<IncidentConfig>) -> Self {
        ShardState {
            config,
            progress: Progress::default(),
            plates: Default::default(),
            devices: Default::default(),
            calls: Default::default(),
        }
    }

    /// The shard's watermarks (plate reads, device events, calls): events of a
    /// kind older than its watermark are late.
    pub fn watermarks(&self) -> Progress {
        let back = |t: i64| t.saturating_sub(i64::from(self.config.lateness_s) * 1000);
        Progress {
            plates: back(self.progress.plates),
            devices: back(self.progress.devices),
            calls: back(self.progress.calls),
        }
    }

    /// Apply one signal batch; pages and updates go to `out`.
    pub fn apply(
        &mut self,
        batch: &[u8],
        now_ms: i64,
        out: &mut Vec<Alert>,
    ) -> Result<(), DecodeError> {
        let config = Arc::clone(&self.config);
        let mut seen = Progress::default();
        let (plates, devices, calls) = (&mut self.plates, &mut self.devices, &mut self.calls);
        let told = decode_batch(batch, |signal| {
            seen.see(&signal);
            match signal {
                Signal::Sighting(s) => plates.on_sighting(&s, &config, now_ms, out),
                Signal::Device(d) => devices.on_event(&d, &config, now_ms, out),
                Signal::Call(c) => calls.on_call(&c, &config, now_ms, out),
            }
        })?;
        self.progress.merge(told);
        self.progress.merge(seen);
        self.advance(now_ms, out);
        Ok(())
    }

    /// Close what the watermark has passed (windows, silent devices).
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<Alert>) {
        let wm = self.watermarks();
        self.plates.advance(wm.plates);
        self.devices.advance(wm.devices, &self.config, now_ms, out);
        self.calls.advance(wm.calls);
    }

    pub fn size(&self) -> StateSize {
        StateSize {
            plates: self.plates.len(),
            devices: self.devices.len(),
            calls: self.calls.len(),
            bytes: std::mem::size_of::<Self>()
                + self.plates.memory_bytes()
                + self.devices.memory_bytes()
                + self.calls.memory_bytes(),
        }
    }

    /// Is there nothing to remember (the shard's key may be dropped)?
    pub fn is_empty(&self) -> bool {
        self.plates.is_empty() && self.devices.is_empty() && self.calls.is_empty()
    }

    /// The state as compact bytes (Bytewax recovery).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(SNAPSHOT_VERSION);
        w.i64(self.progress.plates);
        w.i64(self.progress.devices);
        w.i64(self.progress.calls);
        self.plates.encode(&mut w);
        self.devices.encode(&mut w);
        self.calls.encode(&mut w);
        w.buf
    }

    /// A state from [`ShardState::snapshot`] bytes.
    pub fn restore(config: Arc<IncidentConfig>, data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let version = r.u8()?;
        if version != SNAPSHOT_VERSION {
            return Err(DecodeError(format!(
                "incident state snapshot version {version}; this build reads {SNAPSHOT_VERSION}: \
                 start without recovery, or with the build that wrote it"
            )));
        }
        let progress = Progress {
            plates: r.i64()?,
            devices: r.i64()?,
            calls: r.i64()?,
        };
        let plates = plates::Plates::decode(&mut r)?;
        let devices = devices::Devices::decode(&mut r, &config)?;
        let calls = calls::Calls::decode(&mut r)?;
        if !r.is_done() {
            return Err(DecodeError("trailing bytes after the snapshot".into()));
        }
        Ok(ShardState {
            config,
            progress,
            plates,
            devices,
            calls,
        })
    }
}

#[cfg(test)]
mod tests;
