//! Plate incidents: one page per vehicle and listed entry (or restricted zone),
//! then updates; corroboration of weak look-alike hits by a second camera.
//!
//! Key = (alert kind, entry or zone, read plate, match kind): a hit on another
//! entry, or of another kind, is its own incident and never hidden by this one.
//! The first sighting pages; later ones within the list's suppression window
//! (from the last sighting) are updates of the same alert (`update` n, the
//! sightings so far, the track); once the window has passed (by the stream's
//! watermark) the incident is closed and the next sighting pages again.
//!
//! A weak hit (look-alike, edge, candidate) is corroborated when another camera
//! reads the same entry within a plausible travel time: exactly, or as a
//! look-alike with a *different* read plate (two independent misreads agreeing
//! on the listed plate). The same look-alike text read again is not evidence
//! of the listed plate: it is most likely a real plate that differs.

use super::codec::{DecodeError, Reader, Writer};
use super::config::IncidentConfig;
use super::signal::Sighting;
use super::{distance_m, hash_parts, rewrite_alert, round6, table_bytes, Interner, Update};
use crate::alert::{stable_id, Alert, AlertKind};
use crate::event::Location;
use crate::timestamp::format_rfc3339_utc;
use crate::watchlist::MatchKind;
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One sighting of an incident's track.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    ts_ms: i64,
    camera: u32,
    lat: f32,
    lon: f32,
    /// Degrees, or NaN.
    heading: f32,
}

/// An open incident, kept small: most incidents have one sighting and no track.
#[derive(Clone, Debug, PartialEq)]
struct Open {
    opened_ms: i64,
    /// The last sighting (the first point of a track, when one starts).
    last: Point,
    /// Suppression window, seconds (the list's).
    window_s: u32,
    /// How long after the last sighting it is kept, seconds: the window, or
    /// for a weak hit not yet corroborated the corroboration window if longer
    /// (a second camera may still confirm it after it stopped suppressing).
    keep_s: u32,
    /// Index into `tracks`, or `NO_TRACK`.
    track: u32,
    updates: u16,
    sightings: u16,
    priority: u8,
    base_priority: u8,
    match_kind: u8,
    corroborated: bool,
    /// Match score, in thousandths.
    score_milli: u16,
}

const NO_TRACK: u32 = u32::MAX;

impl Open {
    fn expires_ms(&self) -> i64 {
        self.last.ts_ms + i64::from(self.window_s) * 1000
    }

    fn kept_until_ms(&self) -> i64 {
        self.last.ts_ms + i64::from(self.keep_s.max(self.window_s)) * 1000
    }

    fn weak(&self) -> bool {
        MatchKind::ALL[usize::from(self.match_kind)] != MatchKind::Exact
            && MatchKind::ALL[usize::from(self.match_kind)] != MatchKind::Pattern
    }
}

/// A weak incident awaiting corroboration: only these need to know their
/// read plate (kept out of `Open`, which every incident pays for).
#[derive(Clone, Debug, PartialEq)]
struct Weak {
    key: u64,
    /// Hash of the read plate.
    vehicle: u64,
    /// The read plate (the corroboration update names the incident).
    plate: Box<str>,
}

/// Plate incidents of one shard.
#[derive(Clone, Debug, Default)]
pub struct Plates {
    open: FxHashMap<u64, Open>,
    /// Weak incidents by subject (entry hash), for corroboration.
    weak: FxHashMap<u64, Vec<Weak>>,
    /// The subject of each weak incident (to unlink it when it closes).
    weak_subject: FxHashMap<u64, u64>,
    tracks: Vec<Vec<Point>>,
    free_tracks: Vec<u32>,
    cameras: Interner,
    /// (time, incident key): one entry per incident, re-armed when popped
    /// early (its incident was seen again since).
    expiries: BinaryHeap<Reverse<(i64, u64)>>,
}

fn point(s: &Sighting<'_>, camera: u32) -> Point {
    let (lat, lon) = s
        .location
        .map_or((f32::NAN, f32::NAN), |l| (l.lat as f32, l.lon as f32));
    Point {
        ts_ms: s.ts_ms,
        camera,
        lat,
        lon,
        heading: s.heading_deg.map_or(f32::NAN, |h| h as f32),
    }
}

impl Plates {
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Heap bytes of the state (tables at capacity, tracks, camera names).
    pub fn memory_bytes(&self) -> usize {
        table_bytes(self.open.capacity(), std::mem::size_of::<(u64, Open)>())
            + self.weak.capacity() * (std::mem::size_of::<(u64, Vec<Weak>)>() + 1)
            + self.weak_subject.capacity() * 17
            + self
                .weak
                .values()
                .map(|v| {
                    v.capacity() * std::mem::size_of::<Weak>()
                        + v.iter().map(|w| w.plate.len()).sum::<usize>()
                })
                .sum::<usize>()
            + self.tracks.capacity() * std::mem::size_of::<Vec<Point>>()
            + self
                .tracks
                .iter()
                .map(|t| t.capacity() * std::mem::size_of::<Point>())
                .sum::<usize>()
            + self.expiries.capacity() * 16
            + self.cameras.memory_bytes()
    }

    /// A sighting: page, update, or corroborate.
    pub fn on_sighting(
        &mut self,
        s: &Sighting<'_>,
        config: &IncidentConfig,
        now_ms: i64,
        out: &mut Vec<Alert>,
    ) {
        let kind_ix = MatchKind::ALL
            .iter()
            .position(|k| *k == s.match_kind)
            .unwrap_or(0) as u8;
        let alert_kind = s.alert_kind.as_str();
        let subject = hash_parts(&[alert_kind, s.subject]);
        let vehicle = hash_parts(&[s.vehicle]);
        let key = hash_parts(&[alert_kind, s.subject, s.vehicle, s.match_kind.as_str()]);
        let camera = self.cameras.intern(s.camera_id);
        // An incident whose window has passed is closed even if the watermark
        // has not evicted it yet: a late batch must not extend it.
        if let Some(o) = self.open.get(&key) {
            if s.ts_ms > o.expires_ms() {
                self.close(key);
            }
        }
        if s.alert_kind == AlertKind::PlateHit {
            self.corroborate(s, subject, vehicle, config, now_ms, out);
        }
        let p = point(s, camera);
        match self.open.get_mut(&key) {
            None => {
                let mut open = Open {
                    opened_ms: s.ts_ms,
                    last: p,
                    window_s: config.window_s(s.list),
                    keep_s: 0,
                    track: NO_TRACK,
                    updates: 0,
                    sightings: 1,
                    priority: s.priority,
                    base_priority: s.base_priority,
                    match_kind: kind_ix,
                    corroborated: false,
                    score_milli: (s.score.clamp(0.0, 1.0) * 1000.0).round() as u16,
                };
                if open.weak() && s.alert_kind == AlertKind::PlateHit {
                    open.keep_s = config.corroboration_window_s;
                    self.weak.entry(subject).or_default().push(Weak {
                        key,
                        vehicle,
                        plate: s.vehicle.into(),
                    });
                    self.weak_subject.insert(key, subject);
                }
                self.expiries.push(Reverse((open.kept_until_ms(), key)));
                let incident = self.incident_doc(&open);
                out.push(rewrite_alert(
                    s.alert,
                    &Update {
                        score: None,
                        corroboration: false,
                        alert_id: &incident_id(key, open.opened_ms),
                        incident_key: None,
                        update: 0,
                        priority: open.priority,
                        extra_reasons: &[],
                        incident,
                        now_ms,
                    },
                ));
                self.open.insert(key, open);
            }
            Some(o) => {
                // Later sightings update the page; an earlier one (out of order)
                // joins the track without moving the incident back.
                if o.track == NO_TRACK {
                    let first = o.last;
                    o.track = match self.free_tracks.pop() {
                        Some(i) => {
                            self.tracks[i as usize].push(first);
                            i
                        }
                        None => {
                            self.tracks.push(vec![first]);
                            (self.tracks.len() - 1) as u32
                        }
                    };
                }
                let track = &mut self.tracks[o.track as usize];
                if track.len() >= usize::from(config.track_max) {
                    track.remove(1); // keep the first sighting and the newest ones
                }
                track.push(p);
                track.sort_by_key(|q| q.ts_ms);
                if p.ts_ms >= o.last.ts_ms {
                    o.last = p;
                }
                o.sightings = o.sightings.saturating_add(1);
                o.updates = o.updates.saturating_add(1);
                o.priority = o.priority.min(s.priority);
                let o = o.clone();
                let incident = self.incident_doc(&o);
                let reason = format!(
                    "sighting {} of this vehicle; the alert is updated, not paged again",
                    o.sightings
                );
                out.push(rewrite_alert(
                    s.alert,
                    &Update {
                        score: None,
                        corroboration: false,
                        alert_id: &incident_id(key, o.opened_ms),
                        incident_key: None,
                        update: o.updates,
                        priority: o.priority,
                        extra_reasons: &[reason],
                        incident,
                        now_ms,
                    },
                ));
            }
        }
    }

    /// Promote weak incidents of `s`'s entry that `s` corroborates.
    fn corroborate(
        &mut self,
        s: &Sighting<'_>,
        subject: u64,
        vehicle: u64,
        config: &IncidentConfig,
        now_ms: i64,
        out: &mut Vec<Alert>,
    ) {
        let Some(keys) = self.weak.get(&subject) else {
            return;
        };
        let exact = s.match_kind == MatchKind::Exact;
        let lookalike = s.match_kind == MatchKind::Lookalike;
        if !exact && !lookalike {
            return;
        }
        let camera = self.cameras.find(s.camera_id);
        let mut promoted = Vec::new();
        for w in keys {
            let (key, weak_vehicle) = (&w.key, &w.plate);
            let Some(o) = self.open.get(key) else {
                continue;
            };
            if o.corroborated
                || Some(o.last.camera) == camera
                || (lookalike && w.vehicle == vehicle)
            {
                continue;
            }
            let dt_ms = (s.ts_ms - o.last.ts_ms).abs();
            if dt_ms > i64::from(config.corroboration_window_s) * 1000 {
                continue;
            }
            let there = (!o.last.lat.is_nan()).then(|| Location {
                lat: f64::from(o.last.lat),
                lon: f64::from(o.last.lon),
            });
            let (Some(a), Some(b)) = (s.location, there) else {
                continue;
            };
            let metres = distance_m(a, b);
            // No faster than a car driven hard, allowing a minute of clock skew
            // between cameras.
            let max_m = config.max_speed_kmh / 3.6 * ((dt_ms as f64 / 1000.0) + 60.0);
            if metres <= max_m {
                promoted.push((*key, weak_vehicle.clone(), metres, dt_ms));
            }
        }
        for (key, weak_vehicle, metres, dt_ms) in promoted {
            let Some(o) = self.open.get_mut(&key) else {
                continue;
            };
            o.corroborated = true;
            o.keep_s = 0;
            o.updates = o.updates.saturating_add(1);
            let s1 = f32::from(o.score_milli) / 1000.0;
            let combined = 1.0 - (1.0 - s1) * (1.0 - s.score.clamp(0.0, 1.0));
            o.score_milli = (combined * 1000.0).round() as u16;
            if config.priority.repetition.corroboration {
                o.priority = o.priority.min(o.base_priority);
            }
            let o = o.clone();
            let how = if exact {
                "read the listed plate exactly"
            } else {
                "read another look-alike of the listed plate"
            };
            let reason = format!(
                "corroborated: camera {} {how}, {:.1} km away and {}:{:02} min apart; \
                 score {combined:.2}, shown at P{}",
                s.camera_id,
                metres / 1000.0,
                dt_ms / 60_000,
                (dt_ms / 1000) % 60,
                o.priority
            );
            let mut incident = self.incident_doc(&o);
            incident.insert(
                "corroborated_by".into(),
                serde_json::json!({
                    "camera_id": s.camera_id,
                    "event_id": s.event_id,
                    "match": s.match_kind.as_str(),
                    "read_plate": s.vehicle,
                    "time": format_rfc3339_utc(s.ts_ms),
                }),
            );
            let kind = MatchKind::ALL[usize::from(o.match_kind)].as_str();
            let incident_key = format!("plate_hit:{}:{weak_vehicle}:{kind}", s.subject);
            // The update carries the corroborating read's details, under the
            // weak incident's id and key.
            out.push(rewrite_alert(
                s.alert,
                &Update {
                    score: Some(f64::from(o.score_milli) / 1000.0),
                    corroboration: true,
                    alert_id: &incident_id(key, o.opened_ms),
                    incident_key: Some(&incident_key),
                    update: o.updates,
                    priority: o.priority,
                    extra_reasons: &[reason],
                    incident,
                    now_ms,
                },
            ));
        }
    }

    fn incident_doc(&self, o: &Open) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("opened_at".into(), format_rfc3339_utc(o.opened_ms).into());
        m.insert("last_seen".into(), format_rfc3339_utc(o.last.ts_ms).into());
        m.insert("sightings".into(), o.sightings.into());
        m.insert(
            "score".into(),
            serde_json::Value::from(f64::from(o.score_milli) / 1000.0),
        );
        m.insert("corroborated".into(), o.corroborated.into());
        let track: Vec<serde_json::Value> = if o.track == NO_TRACK {
            vec![self.point_doc(&o.last)]
        } else {
            self.tracks[o.track as usize]
                .iter()
                .map(|p| self.point_doc(p))
                .collect()
        };
        m.insert("track".into(), track.into());
        m
    }

    fn point_doc(&self, p: &Point) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("camera_id".into(), self.cameras.name(p.camera).into());
        m.insert("time".into(), format_rfc3339_utc(p.ts_ms).into());
        if !p.lat.is_nan() {
            m.insert("lat".into(), round6(f64::from(p.lat)).into());
            m.insert("lon".into(), round6(f64::from(p.lon)).into());
        }
        if !p.heading.is_nan() {
            m.insert("heading_deg".into(), f64::from(p.heading).into());
        }
        m.into()
    }

    fn close(&mut self, key: u64) {
        if let Some(o) = self.open.remove(&key) {
            if o.track != NO_TRACK {
                self.tracks[o.track as usize].clear();
                self.free_tracks.push(o.track);
            }
            if let Some(subject) = self.weak_subject.remove(&key) {
                if let Some(v) = self.weak.get_mut(&subject) {
                    v.retain(|w| w.key != key);
                    if v.is_empty() {
                        self.weak.remove(&subject);
                    }
                }
            }
        }
    }

    /// Close incidents whose window ended before `watermark_ms`.
    pub fn advance(&mut self, watermark_ms: i64) {
        while let Some(&Reverse((at, key))) = self.expiries.peek() {
            if at >= watermark_ms {
                break;
            }
            self.expiries.pop();
            match self.open.get(&key).map(Open::kept_until_ms) {
                Some(until) if until <= at => self.close(key),
                // Seen since: wait for its new time.
                Some(until) => self.expiries.push(Reverse((until, key))),
                None => {}
            }
        }
    }
}

/// The incident's alert id: stable across its updates, new for each incident
/// (its key and opening time).
fn incident_id(key: u64, opened_ms: i64) -> String {
    stable_id("inc", &[&key.to_string(), &opened_ms.to_string()])
}

impl Plates {
    pub(super) fn encode(&self, w: &mut Writer) {
        self.cameras.encode(w);
        let point = |w: &mut Writer, p: &Point| {
            w.i64(p.ts_ms);
            w.u32(p.camera);
            w.f32(p.lat);
            w.f32(p.lon);
            w.f32(p.heading);
        };
        // Sorted: the same state always gives the same bytes.
        let mut keys: Vec<u64> = self.open.keys().copied().collect();
        keys.sort_unstable();
        w.u32(keys.len() as u32);
        for key in &keys {
            let o = &self.open[key];
            w.u64(*key);
            w.i64(o.opened_ms);
            point(w, &o.last);
            w.u32(o.window_s);
            w.u32(o.keep_s);
            w.u16(o.updates);
            w.u16(o.sightings);
            w.u8(o.priority);
            w.u8(o.base_priority);
            w.u8(o.match_kind);
            w.u8(u8::from(o.corroborated));
            w.u16(o.score_milli);
            let track: &[Point] = if o.track == NO_TRACK {
                &[]
            } else {
                &self.tracks[o.track as usize]
            };
            w.u16(track.len() as u16);
            track.iter().for_each(|p| point(w, p));
        }
        let mut weak: Vec<(u64, u64, u64, &str)> = self
            .weak
            .iter()
            .flat_map(|(s, v)| v.iter().map(move |x| (*s, x.key, x.vehicle, &*x.plate)))
            .collect();
        weak.sort_unstable();
        w.u32(weak.len() as u32);
        for (subject, key, vehicle, plate) in weak {
            w.u64(subject);
            w.u64(key);
            w.u64(vehicle);
            w.str(plate);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = Plates {
            cameras: Interner::decode(r)?,
            ..Plates::default()
        };
        let point = |r: &mut Reader<'_>| -> Result<Point, DecodeError> {
            Ok(Point {
                ts_ms: r.i64()?,
                camera: r.u32()?,
                lat: r.f32()?,
                lon: r.f32()?,
                heading: r.f32()?,
            })
        };
        for _ in 0..r.u32()? {
            let key = r.u64()?;
            let mut o = Open {
                opened_ms: r.i64()?,
                last: point(r)?,
                window_s: r.u32()?,
                keep_s: r.u32()?,
                track: NO_TRACK,
                updates: r.u16()?,
                sightings: r.u16()?,
                priority: r.u8()?,
                base_priority: r.u8()?,
                match_kind: r.u8()?,
                corroborated: r.u8()? != 0,
                score_milli: r.u16()?,
            };
            if usize::from(o.match_kind) >= MatchKind::ALL.len() {
                return Err(DecodeError(format!("unknown match kind {}", o.match_kind)));
            }
            let n = r.u16()?;
            if n > 0 {
                let track = (0..n).map(|_| point(r)).collect::<Result<Vec<_>, _>>()?;
                o.track = out.tracks.len() as u32;
                out.tracks.push(track);
            }
            out.expiries.push(Reverse((o.kept_until_ms(), key)));
            out.open.insert(key, o);
        }
        for _ in 0..r.u32()? {
            let (subject, key, vehicle) = (r.u64()?, r.u64()?, r.u64()?);
            let plate: Box<str> = r.str()?.into();
            out.weak.entry(subject).or_default().push(Weak {
                key,
                vehicle,
                plate,
            });
            out.weak_subject.insert(key, subject);
        }
        Ok(out)
    }
}
