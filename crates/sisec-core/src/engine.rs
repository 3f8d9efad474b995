//! The engine: a batch of raw events in, alerts and rejects out.
//!
//! `process` takes `&self`: the engine holds read-only configuration and a
//! watchlist behind a read-write lock (read-locked once per batch; live
//! updates write-lock it between batches), so worker threads share one engine.
//! Every input is either accepted (counted by source) or rejected (with its
//! index), so `accepted + rejected == n_in` holds for every batch.

use crate::alert::{self, Alert, AlertKind, Scene};
use crate::archive::Archive;
use crate::config::{ConfigError, EngineConfig};
use crate::event::{parse_event, Body, ButtonAction, ButtonPress, Event, EventType, PlateRead};
use crate::incidents::{shard_of, CallEvent, DeviceEvent, Progress, Sighting, Signal, SignalBatch};
use crate::places::{Placed, Places};
use crate::registry::{Registry, SensorKind};
use crate::reject::Reject;
use crate::watchlist::{Hit, MatchKind, ReadQuery, Watchlist};
use crate::zones::Zones;
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// A rejected input, by position in its batch.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectRecord {
    pub index: u32,
    pub reject: Reject,
    pub event_id: Option<String>,
    pub source: Option<EventType>,
}

/// What one batch produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchOutput {
    pub n_in: usize,
    /// Accepted events per [`EventType::index`].
    pub accepted_by_source: [u64; 3],
    pub alerts: Vec<Alert>,
    pub rejects: Vec<RejectRecord>,
    /// Watchlist hits not alerted because of where they happened (a zone that
    /// takes other lists, or outside the list's geofence).
    pub dropped_hits: u64,
}

impl BatchOutput {
    pub fn accepted(&self) -> u64 {
        self.accepted_by_source.iter().sum()
    }
}

/// Parses, validates, places and matches events.
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    watchlist: Arc<RwLock<Watchlist>>,
    /// Swapped whole on reload; a batch keeps the one it started with.
    places: Arc<RwLock<Arc<Places>>>,
}

impl Engine {
    /// An engine with no zones or registries.
    pub fn new(
        config: EngineConfig,
        watchlist: Arc<RwLock<Watchlist>>,
    ) -> Result<Self, ConfigError> {
        Engine::with_places(config, watchlist, Arc::default(), None, None)
    }

    /// An engine placing events with these zones and registries (see
    /// [`Engine::set_places`]).
    pub fn with_places(
        config: EngineConfig,
        watchlist: Arc<RwLock<Watchlist>>,
        zones: Arc<Zones>,
        cameras: Option<Registry>,
        devices: Option<Registry>,
    ) -> Result<Self, ConfigError> {
        config.check()?;
        let places = Places::new(zones, cameras, devices, &config)?;
        Ok(Engine {
            config,
            watchlist,
            places: Arc::new(RwLock::new(Arc::new(places))),
        })
    }

    /// An engine over a watchlist nobody else updates.
    pub fn with_watchlist(config: EngineConfig, watchlist: Watchlist) -> Result<Self, ConfigError> {
        Engine::new(config, Arc::new(RwLock::new(watchlist)))
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The watchlist, read-locked (a poisoned lock still gives the data: an
    /// update that panicked left the indexes consistent or not at all changed).
    pub fn watchlist(&self) -> RwLockReadGuard<'_, Watchlist> {
        self.watchlist.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The zones and registries in use.
    pub fn places(&self) -> Arc<Places> {
        Arc::clone(&self.places.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Use these zones and registries from the next batch on (a live reload:
    /// batches under way finish with the previous ones). Fails, changing
    /// nothing, if a per-list geofence names a zone that is not there.
    pub fn set_places(
        &self,
        zones: Arc<Zones>,
        cameras: Option<Registry>,
        devices: Option<Registry>,
    ) -> Result<(), ConfigError> {
        let places = Arc::new(Places::new(zones, cameras, devices, &self.config)?);
        *self.places.write().unwrap_or_else(|e| e.into_inner()) = places;
        Ok(())
    }

    /// Process one batch; `now_ms` stamps `emitted_at` on alerts.
    pub fn process(&self, batch: &[&[u8]], now_ms: i64) -> BatchOutput {
        let mut out = BatchOutput::default();
        self.process_into(batch, 0, now_ms, &mut out);
        out
    }

    /// Process `batch` and add its results to `out`; reject indices start at
    /// `first_index`. Lets a caller feed one logical batch in chunks.
    pub fn process_into(
        &self,
        batch: &[&[u8]],
        first_index: usize,
        now_ms: i64,
        out: &mut BatchOutput,
    ) {
        self.process_routed(batch, first_index, now_ms, out, None);
    }

    /// Like [`Engine::process_into`], but with `routes` every alert candidate,
    /// device event and call becomes a signal for the incident stage (see
    /// [`crate::incidents`]) instead of an alert in `out`.
    pub fn process_routed(
        &self,
        batch: &[&[u8]],
        first_index: usize,
        now_ms: i64,
        out: &mut BatchOutput,
        routes: Option<&mut Routes>,
    ) {
        self.process_archived(batch, first_index, now_ms, out, routes, None);
    }

    /// Like [`Engine::process_routed`], and with `archive` every accepted
    /// event is also written there in normalised form (see [`crate::archive`]).
    pub fn process_archived(
        &self,
        batch: &[&[u8]],
        first_index: usize,
        now_ms: i64,
        out: &mut BatchOutput,
        routes: Option<&mut Routes>,
        mut archive: Option<&mut Archive>,
    ) {
        out.n_in += batch.len();
        let places = self.places();
        let mut run = Run {
            engine: self,
            watchlist: self.watchlist(),
            places: &places,
            now_ms,
            hits: Vec::new(),
            zones: Vec::new(),
            routes,
            hit: false,
        };
        for (offset, bytes) in batch.iter().enumerate() {
            let index = (first_index + offset) as u32;
            let rejected = match parse_event(bytes, self.config.max_event_bytes) {
                Ok(event) => match run.event(&event, out) {
                    Ok(()) => {
                        if let Some(archive) = archive.as_deref_mut() {
                            archive.push(&event, run.hit);
                        }
                        continue;
                    }
                    Err(reject) => RejectRecord {
                        index,
                        reject,
                        source: Some(event.event_type()),
                        event_id: Some(event.event_id.into_owned()),
                    },
                },
                Err(rejected) => RejectRecord {
                    index,
                    reject: rejected.reject,
                    event_id: rejected.event_id,
                    source: rejected.source,
                },
            };
            out.rejects.push(rejected);
        }
    }
}

/// One batch's view: the locks taken and the scratch buffers reused.
struct Run<'e> {
    engine: &'e Engine,
    watchlist: RwLockReadGuard<'e, Watchlist>,
    places: &'e Places,
    now_ms: i64,
    hits: Vec<Hit>,
    /// Zones of the current event, then only the active ones.
    zones: Vec<u32>,
    /// Where signals go, when the incident stage follows.
    routes: Option<&'e mut Routes>,
    /// The last plate read produced an alert candidate (for the archive).
    hit: bool,
}

/// Signals for the incident stage, one batch per shard.
#[derive(Debug)]
pub struct Routes {
    shards: Vec<SignalBatch>,
    progress: Progress,
}

/// The key every call goes to: calls are few (a large centre gets about one a
/// second) and clustering needs all of an area's calls in one place.
const CALLS_KEY: &str = "calls";

impl Routes {
    pub fn new(shards: u16) -> Self {
        Routes {
            shards: (0..shards.max(1)).map(|_| SignalBatch::new()).collect(),
            progress: Progress::default(),
        }
    }

    fn push(&mut self, key: &str, signal: &Signal<'_>) {
        self.progress.see(signal);
        let shard = shard_of(key, self.shards.len() as u16);
        self.shards[usize::from(shard)].push(signal);
    }

    /// Every shard's batch (empty ones too: they carry the stream's progress),
    /// by shard index.
    pub fn finish(self) -> Vec<Vec<u8>> {
        let progress = self.progress;
        self.shards
            .into_iter()
            .map(|mut b| {
                b.set_progress(progress);
                b.into_bytes()
            })
            .collect()
    }
}

impl Run<'_> {
    /// Place a valid event and alert on it; `Err` if its sensor is unknown.
    fn event(&mut self, event: &Event<'_>, out: &mut BatchOutput) -> Result<(), Reject> {
        let places = self.places;
        self.zones.clear();
        let placed = match &event.body {
            Body::PlateRead(r) => places.place(
                SensorKind::Camera,
                &r.camera_id,
                r.location,
                &mut self.zones,
            )?,
            Body::ButtonPress(p) => places.place(
                SensorKind::Device,
                &p.device_id,
                p.location,
                &mut self.zones,
            )?,
            Body::Call(c) => {
                places.place_point(c.location, &mut self.zones);
                Placed {
                    location: c.location,
                    sensor: None,
                }
            }
        };
        out.accepted_by_source[event.event_type().index()] += 1;
        places.retain_active(&mut self.zones, event.ts_ms);
        match &event.body {
            Body::PlateRead(read) => self.plate_read(event, read, &placed, places, out),
            Body::ButtonPress(press) => self.device(event, press, &placed, out),
            Body::Call(call) => {
                if let Some(routes) = self.routes.as_deref_mut() {
                    let place = if call.location.is_some() {
                        alert::place_json(&scene(places, &placed, &self.zones))
                    } else {
                        Vec::new()
                    };
                    let signal = Signal::Call(CallEvent {
                        ts_ms: event.ts_ms,
                        call_id: &call.call_id,
                        line: call.line,
                        status: call.status,
                        incident_type: call.incident_type.as_deref(),
                        location: call.location,
                        accuracy_m: call.accuracy_m,
                        caller_hash: call.caller_hash.as_deref(),
                        event_id: &event.event_id,
                        place: &place,
                    });
                    routes.push(CALLS_KEY, &signal);
                }
            }
        }
        Ok(())
    }

    /// A button device's event: presses alert (tamper too, when routed);
    /// every event feeds supervision when routed.
    fn device(
        &mut self,
        event: &Event<'_>,
        press: &ButtonPress<'_>,
        placed: &Placed<'_>,
        out: &mut BatchOutput,
    ) {
        let places = self.places;
        let config = &self.engine.config;
        let (kind, priority) = match press.action {
            ButtonAction::Press => (
                Some(AlertKind::ButtonPress),
                config.priority.device(press.device_kind),
            ),
            ButtonAction::Tamper => (
                Some(AlertKind::DeviceTamper),
                config.priority.kind(AlertKind::DeviceTamper),
            ),
            ButtonAction::Heartbeat | ButtonAction::LowBattery => (None, 0),
        };
        let Some(routes) = self.routes.as_deref_mut() else {
            if kind == Some(AlertKind::ButtonPress) {
                let scene = scene(places, placed, &self.zones);
                out.alerts.push(alert::device_alert(
                    AlertKind::ButtonPress,
                    &event.event_id,
                    event.ts_ms,
                    self.now_ms,
                    press,
                    priority,
                    &scene,
                ));
            }
            return;
        };
        let scene = scene(places, placed, &self.zones);
        let alert = kind.map(|k| {
            alert::device_alert(
                k,
                &event.event_id,
                event.ts_ms,
                self.now_ms,
                press,
                priority,
                &scene,
            )
        });
        let place = alert::place_json(&scene);
        let signal = Signal::Device(DeviceEvent {
            ts_ms: event.ts_ms,
            device_id: &press.device_id,
            device_kind: press.device_kind,
            action: press.action,
            location: scene.location,
            event_id: &event.event_id,
            priority: alert.as_ref().map_or(0, |a| a.priority),
            alert: alert.as_ref().map_or(&[][..], |a| &a.json),
            place: &place,
        });
        routes.push(&press.device_id, &signal);
    }

    fn plate_read(
        &mut self,
        event: &Event<'_>,
        read: &PlateRead<'_>,
        placed: &Placed<'_>,
        places: &Places,
        out: &mut BatchOutput,
    ) {
        let watchlist = &self.watchlist;
        let vehicle = read.vehicle.as_ref();
        self.hits.clear();
        watchlist.match_read(
            &ReadQuery {
                plate: &read.plate,
                at_ms: event.ts_ms,
                region: placed
                    .sensor
                    .map(|s| s.region.as_str())
                    .filter(|r| !r.is_empty()),
                confidence: read.confidence,
                candidates: &read.candidates,
                make: vehicle.and_then(|v| v.make.as_deref()),
                color: vehicle.and_then(|v| v.color.as_deref()),
            },
            &mut self.hits,
        );
        self.hit = !self.hits.is_empty();
        let restricted = self
            .zones
            .iter()
            .any(|&i| places.zone(i).allow_list.is_some());
        if self.hits.is_empty() && !restricted {
            return;
        }
        let scene = scene(places, placed, &self.zones);
        for hit in &self.hits {
            let entry = watchlist.entry(hit.entry);
            let list = watchlist.list_name(entry.list);
            if places.drops(list, &self.zones).is_some() {
                out.dropped_hits += 1;
                continue;
            }
            let listed = entry.listed();
            let rules = &self.engine.config.priority;
            let (base_priority, base_rule) = match (entry.priority, watchlist.priority_of(entry)) {
                (Some(p), _) => (p, format!("entry {} is set to P{p}", entry.entry_id)),
                (None, Some(p)) => (p, format!("the watchlist sets list {list} to P{p}")),
                (None, None) => rules.list(list),
            };
            let alert = alert::plate_hit(
                &event.event_id,
                event.ts_ms,
                self.now_ms,
                read,
                hit,
                &alert::Listing {
                    entry,
                    list,
                    listed: &listed,
                    base_priority,
                    base_rule,
                    demotion: rules.demotion(hit.score),
                },
                &scene,
            );
            match self.routes.as_deref_mut() {
                None => out.alerts.push(alert),
                Some(routes) => {
                    let signal = sighting(
                        event,
                        read,
                        &scene,
                        &alert,
                        (AlertKind::PlateHit, &entry.entry_id, list),
                        // Corroborated, it pages as a strong match would here.
                        (hit.kind, hit.score, scene.boosted_priority(base_priority)),
                    );
                    routes.push(&entry.entry_id, &signal);
                }
            }
        }
        for &zone in &scene.zones {
            let Some(allow_list) = zone.allow_list.as_deref() else {
                continue;
            };
            let allowed = |plate| watchlist.allows(allow_list, plate, event.ts_ms);
            // A camera's alternative reading on the allow list is the benefit
            // of the doubt: an authorised vehicle must not page.
            if allowed(&read.plate) || read.candidates.iter().any(|c| allowed(&c.plate)) {
                continue;
            }
            self.hit = true;
            let base = self.engine.config.priority.kind(AlertKind::RestrictedZone);
            let alert = alert::restricted_zone(
                &event.event_id,
                event.ts_ms,
                self.now_ms,
                read,
                zone,
                allow_list,
                base,
                &scene,
            );
            match self.routes.as_deref_mut() {
                None => out.alerts.push(alert),
                Some(routes) => {
                    let signal = sighting(
                        event,
                        read,
                        &scene,
                        &alert,
                        (AlertKind::RestrictedZone, &zone.zone_id, allow_list),
                        (MatchKind::Exact, 1.0, base),
                    );
                    let key = format!("{}:{}", zone.zone_id, read.plate.as_str());
                    routes.push(&key, &signal);
                }
            }
        }
    }
}

/// A plate read's alert as a signal: `what` is (alert kind, subject, list),
/// `how` (match kind, score, base priority).
fn sighting<'a>(
    event: &'a Event<'_>,
    read: &'a PlateRead<'_>,
    scene: &Scene<'_>,
    alert: &'a Alert,
    what: (AlertKind, &'a str, &'a str),
    how: (MatchKind, f32, u8),
) -> Signal<'a> {
    Signal::Sighting(Sighting {
        ts_ms: event.ts_ms,
        alert_kind: what.0,
        subject: what.1,
        list: what.2,
        vehicle: read.plate.as_str(),
        match_kind: how.0,
        score: how.1,
        base_priority: how.2,
        priority: alert.priority,
        camera_id: &read.camera_id,
        location: scene.location,
        heading_deg: read.heading_deg,
        event_id: &event.event_id,
        alert: &alert.json,
    })
}

/// The alert's view of where an event happened (built only for alerts).
fn scene<'p>(places: &'p Places, placed: &Placed<'p>, active: &[u32]) -> Scene<'p> {
    Scene {
        location: placed.location,
        site: placed
            .sensor
            .map(|s| s.site.as_str())
            .filter(|s| !s.is_empty()),
        zones: active.iter().map(|&i| places.zone(i)).collect(),
        boost: places.boost(active).map(|(b, i)| (b, places.zone(i))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::Reason;

    fn engine() -> Engine {
        let wl = Watchlist::from_csv(
            b"entry_id,plate,list,priority\nSV-1,ABC123,stolen_vehicle,\nAA-1,ABC123,amber_alert,\n",
            "w.csv",
        )
        .unwrap();
        Engine::with_watchlist(EngineConfig::default(), wl).unwrap()
    }

    const READ: &[u8] = br#"{"type":"plate_read","event_id":"r1","ts":1795435200000,"camera_id":"C1","plate":"abc 123","lat":6.2,"lon":-75.5}"#;
    const MISS: &[u8] =
        br#"{"type":"plate_read","event_id":"r2","ts":1795435200000,"camera_id":"C1","plate":"XYZ999"}"#;
    const PRESS: &[u8] = br#"{"type":"button_press","event_id":"b1","ts":"2026-11-23T07:00:00-05:00","device_id":"D1","device_kind":"panic","action":"press"}"#;
    const HEARTBEAT: &[u8] = br#"{"type":"button_press","event_id":"b2","ts":0,"device_id":"D1","device_kind":"panic","action":"heartbeat"}"#;

    #[test]
    fn mixed_batch_balances_and_alerts() {
        let batch: Vec<&[u8]> = vec![READ, b"{bad", MISS, PRESS, HEARTBEAT, b"[]"];
        let out = engine().process(&batch, 1_795_435_201_000);
        assert_eq!(out.n_in, 6);
        assert_eq!(out.accepted(), 4);
        assert_eq!(out.accepted() as usize + out.rejects.len(), out.n_in);
        assert_eq!(out.accepted_by_source, [2, 2, 0]);
        let idx: Vec<_> = out
            .rejects
            .iter()
            .map(|r| (r.index, r.reject.reason))
            .collect();
        assert_eq!(idx, [(1, Reason::InvalidJson), (5, Reason::NotObject)]);
        let mut alerts: Vec<_> = out
            .alerts
            .iter()
            .map(|a| (a.kind.as_str(), a.priority))
            .collect();
        alerts.sort();
        assert_eq!(
            alerts,
            [("button_press", 1), ("plate_hit", 1), ("plate_hit", 2)]
        );
    }

    #[test]
    fn alert_json_carries_the_contract_fields() {
        let out = engine().process(&[READ], 1_795_435_201_000);
        let v: serde_json::Value = serde_json::from_slice(&out.alerts[0].json).unwrap();
        for key in [
            "alert_id",
            "kind",
            "priority",
            "reasons",
            "event_time",
            "emitted_at",
            "location",
            "events",
            "details",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["events"][0], "r1");
        assert_eq!(v["details"]["read_plate"], "abc 123");
        assert_eq!(v["details"]["listed_plate"], "ABC123");
        assert_eq!(v["details"]["match"]["kind"], "exact");
        assert_eq!(v["event_time"], "2026-11-23T12:00:00.000Z");
        assert_eq!(v["emitted_at"], "2026-11-23T12:00:01.000Z");
    }

    #[test]
    fn alert_ids_are_deterministic() {
        let a = engine().process(&[READ], 1);
        let b = engine().process(&[READ], 2);
        let ids = |o: &BatchOutput| {
            o.alerts
                .iter()
                .map(|a| a.alert_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
    }
}
