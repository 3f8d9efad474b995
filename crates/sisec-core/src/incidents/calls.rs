//! Emergency calls clustered into incidents.
//!
//! A call opens or joins an incident when it is classified with an emergency
//! type: it joins the open incident of a compatible type whose centre is within
//! the type's radius and whose last call is within the type's window (defaults
//! 100 m and 10 min); otherwise it opens one (a page). Each joining call updates
//! the incident (calls, types, distinct callers), and every `calls_per_level`
//! calls raise its priority a level. Calls that are abandoned, never
//! classified, or classified as not an emergency (`broma`, ...) never open an
//! incident; near an open one they are counted as unconfirmed. Incidents close
//! when the watermark passes their last call plus the window.

use super::codec::{DecodeError, Reader, Writer};
use super::config::IncidentConfig;
use super::signal::CallEvent;
use super::{distance_m, finish, hash_parts, round6, Interner};
use crate::alert::{stable_id, Alert, AlertKind, ALERT_SCHEMA_VERSION};
use crate::event::{CallStatus, Location};
use crate::timestamp::format_rfc3339_utc;
use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value};

const NONE: u32 = u32::MAX;

/// How long after its window an incident is kept for calls still being classified.
const CLASSIFY_MARGIN_MS: i64 = 300_000;

/// Classified types that are not emergencies (they never open an incident).
pub const NON_EMERGENCY_CALL_TYPES: [&str; 3] = ["broma", "llamada_silenciosa", "informativa"];

#[derive(Clone, Debug, PartialEq)]
struct Call {
    id: Box<str>,
    ts_ms: i64,
    /// NaN when unknown.
    lat: f64,
    lon: f64,
    caller: u64,
    line: u8,
    /// The incident it joined, or NONE.
    incident: u32,
    /// `place` JSON of the call (zones at its location).
    place: Box<str>,
}

#[derive(Clone, Debug, PartialEq)]
struct Incident {
    id: u32,
    /// When its first call was classified: with that call, its alert id
    /// (set once; a call that rang earlier but was classified later must not
    /// change it).
    first_ms: i64,
    /// When its earliest call rang.
    opened_ms: i64,
    /// Its latest classification, and its latest call's ring time: calls join
    /// by either (classification can take minutes).
    last_ms: i64,
    last_rang_ms: i64,
    lat: f64,
    lon: f64,
    /// Located calls in the centre's running mean.
    located: u16,
    calls: Vec<u32>,
    types: Vec<u32>,
    callers: Vec<u64>,
    unconfirmed: u16,
    updates: u16,
    priority: u8,
    base_priority: u8,
    /// Radius and window of its first type.
    radius_m: f64,
    window_ms: i64,
    /// The place of its first located call.
    place: Box<str>,
}

/// Calls and call incidents of one shard.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    calls: Vec<Call>,
    by_id: FxHashMap<Box<str>, u32>,
    incidents: Vec<Incident>,
    types: Interner,
    next_incident: u32,
}

impl Calls {
    pub fn len(&self) -> usize {
        self.incidents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.incidents.is_empty()
    }

    pub fn memory_bytes(&self) -> usize {
        self.calls.capacity() * std::mem::size_of::<Call>()
            + self
                .calls
                .iter()
                .map(|c| 2 * c.id.len() + c.place.len())
                .sum::<usize>()
            + self.by_id.capacity() * 21
            + self.incidents.capacity() * std::mem::size_of::<Incident>()
            + self
                .incidents
                .iter()
                .map(|i| {
                    i.calls.len() * 4 + i.types.len() * 4 + i.callers.len() * 8 + i.place.len()
                })
                .sum::<usize>()
            + self.types.memory_bytes()
    }

    pub fn on_call(
        &mut self,
        e: &CallEvent<'_>,
        config: &IncidentConfig,
        now_ms: i64,
        out: &mut Vec<Alert>,
    ) {
        let ci = match self.by_id.get(e.call_id) {
            Some(&i) => i,
            None => {
                let i = self.calls.len() as u32;
                self.calls.push(Call {
                    id: e.call_id.into(),
                    ts_ms: e.ts_ms,
                    lat: f64::NAN,
                    lon: f64::NAN,
                    caller: 0,
                    line: e.line as u8,
                    incident: NONE,
                    place: "{}".into(),
                });
                self.by_id.insert(e.call_id.into(), i);
                i
            }
        };
        {
            let c = &mut self.calls[ci as usize];
            c.ts_ms = c.ts_ms.min(e.ts_ms);
            if let Some(l) = e.location {
                c.lat = l.lat;
                c.lon = l.lon;
                if !e.place.is_empty() {
                    c.place = String::from_utf8_lossy(e.place).into();
                }
            }
            if let Some(h) = e.caller_hash {
                c.caller = hash_parts(&[h]);
            }
        }
        let emergency = e.status == CallStatus::Classified
            && e.incident_type
                .is_some_and(|t| !NON_EMERGENCY_CALL_TYPES.contains(&t));
        if !emergency {
            if matches!(e.status, CallStatus::Abandoned | CallStatus::Received) {
                self.count_unconfirmed(ci, e.ts_ms, config);
            }
            return;
        }
        let itype = e.incident_type.unwrap_or_default();
        let t = self.types.intern(itype);
        let c = self.calls[ci as usize].clone();
        if c.incident != NONE {
            // Classified again (or re-typed): the incident learns the type.
            if let Some(ii) = self.incident_index(c.incident) {
                if !self.incidents[ii].types.contains(&t) {
                    self.incidents[ii].types.push(t);
                    self.emit(ii, e.ts_ms, now_ms, config, out);
                }
            }
            return;
        }
        let (radius_m, window_ms) = config.call_reach(itype);
        let here = (!c.lat.is_nan()).then_some(Location {
            lat: c.lat,
            lon: c.lon,
        });
        let types = &self.types;
        let joined = here.and_then(|here| {
            self.incidents
                .iter()
                .enumerate()
                .filter(|(_, inc)| {
                    inc.located > 0
                        && ((e.ts_ms - inc.last_ms).abs() <= window_ms.max(inc.window_ms)
                            || (c.ts_ms - inc.last_rang_ms).abs() <= window_ms.max(inc.window_ms))
                        && inc
                            .types
                            .iter()
                            .any(|&u| config.compatible(types.name(u), itype))
                })
                .map(|(ii, inc)| {
                    let d = distance_m(
                        here,
                        Location {
                            lat: inc.lat,
                            lon: inc.lon,
                        },
                    );
                    (ii, d, inc.radius_m.max(radius_m))
                })
                .filter(|&(_, d, r)| d <= r)
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(ii, _, _)| ii)
        });
        let ii = match joined {
            Some(ii) => ii,
            None => {
                let base = config.priority.call(itype);
                self.next_incident += 1;
                self.incidents.push(Incident {
                    id: self.next_incident,
                    first_ms: e.ts_ms,
                    opened_ms: e.ts_ms,
                    last_ms: e.ts_ms,
                    last_rang_ms: c.ts_ms,
                    lat: 0.0,
                    lon: 0.0,
                    located: 0,
                    calls: Vec::new(),
                    types: vec![t],
                    callers: Vec::new(),
                    unconfirmed: 0,
                    updates: 0,
                    priority: base,
                    base_priority: base,
                    radius_m,
                    window_ms,
                    place: c.place.clone(),
                });
                self.incidents.len() - 1
            }
        };
        let inc = &mut self.incidents[ii];
        let opening = inc.calls.is_empty();
        self.calls[ci as usize].incident = inc.id;
        inc.calls.push(ci);
        inc.last_ms = inc.last_ms.max(e.ts_ms);
        inc.last_rang_ms = inc.last_rang_ms.max(c.ts_ms);
        inc.opened_ms = inc.opened_ms.min(c.ts_ms.min(e.ts_ms));
        if !inc.types.contains(&t) {
            inc.types.push(t);
        }
        if c.caller != 0 && !inc.callers.contains(&c.caller) {
            inc.callers.push(c.caller);
        }
        if let Some(here) = here {
            inc.located += 1;
            let n = f64::from(inc.located);
            inc.lat += (here.lat - inc.lat) / n;
            inc.lon += (here.lon - inc.lon) / n;
            if inc.place.as_ref() == "{}" {
                inc.place = c.place.clone();
            }
        }
        if !opening {
            inc.updates = inc.updates.saturating_add(1);
        }
        let levels = (inc.calls.len()
            / usize::from(config.priority.repetition.calls_per_level.max(1)))
            as u8;
        inc.priority = inc.base_priority.saturating_sub(levels).max(1);
        self.emit(ii, e.ts_ms, now_ms, config, out);
    }

    fn incident_index(&self, id: u32) -> Option<usize> {
        self.incidents.iter().position(|i| i.id == id)
    }

    fn count_unconfirmed(&mut self, ci: u32, ts_ms: i64, config: &IncidentConfig) {
        let c = &self.calls[ci as usize];
        if c.lat.is_nan() || c.incident != NONE {
            return;
        }
        let here = Location {
            lat: c.lat,
            lon: c.lon,
        };
        for inc in &mut self.incidents {
            if inc.located > 0
                && (ts_ms - inc.last_ms).abs() <= inc.window_ms
                && distance_m(
                    here,
                    Location {
                        lat: inc.lat,
                        lon: inc.lon,
                    },
                ) <= inc.radius_m.max(config.call_radius_m)
            {
                inc.unconfirmed = inc.unconfirmed.saturating_add(1);
                return;
            }
        }
    }

    fn emit(
        &self,
        ii: usize,
        ts_ms: i64,
        now_ms: i64,
        config: &IncidentConfig,
        out: &mut Vec<Alert>,
    ) {
        let inc = &self.incidents[ii];
        let types: Vec<&str> = inc.types.iter().map(|&t| self.types.name(t)).collect();
        let (radius, window) = (inc.radius_m, inc.window_ms / 1000);
        let mut reasons = vec![format!(
            "{} call(s) about {} within {radius:.0} m and {} min ({} distinct caller(s))",
            inc.calls.len(),
            types.join(", "),
            window / 60,
            inc.callers.len()
        )];
        reasons.push(format!(
            "{} incidents page at P{}",
            types[0], inc.base_priority
        ));
        if inc.priority < inc.base_priority {
            reasons.push(format!(
                "{} calls raise it to P{} (a level every {})",
                inc.calls.len(),
                inc.priority,
                config.priority.repetition.calls_per_level
            ));
        }
        let call_ids: Vec<&str> = inc
            .calls
            .iter()
            .map(|&c| &*self.calls[c as usize].id)
            .collect();
        let lines: Vec<&str> = inc
            .calls
            .iter()
            .map(|&c| {
                crate::event::CallLine::ALL
                    .get(usize::from(self.calls[c as usize].line))
                    .map_or("other", |l| l.as_str())
            })
            .collect();
        let first_call = call_ids.first().copied().unwrap_or_default();
        let mut v = Map::new();
        v.insert("schema_version".into(), ALERT_SCHEMA_VERSION.into());
        v.insert(
            "alert_id".into(),
            stable_id("call", &[first_call, &inc.first_ms.to_string()]).into(),
        );
        v.insert("update".into(), inc.updates.into());
        v.insert("kind".into(), AlertKind::CallIncident.as_str().into());
        v.insert("priority".into(), inc.priority.into());
        // A silence, a return or a caller is what it is: no doubt to weigh.
        v.insert("score".into(), 1.0.into());
        v.insert("reasons".into(), reasons.into());
        v.insert("event_time".into(), format_rfc3339_utc(ts_ms).into());
        v.insert("emitted_at".into(), format_rfc3339_utc(now_ms).into());
        let place: Map<String, Value> = serde_json::from_str(&inc.place).unwrap_or_default();
        v.insert(
            "location".into(),
            if inc.located > 0 {
                json!({"lat": round6(inc.lat), "lon": round6(inc.lon)})
            } else {
                Value::Null
            },
        );
        v.insert(
            "zones".into(),
            place.get("zones").cloned().unwrap_or_else(|| json!([])),
        );
        v.insert("events".into(), json!([first_call]));
        v.insert("incident_key".into(), format!("call:{first_call}").into());
        v.insert(
            "details".into(),
            json!({"call_ids": call_ids, "lines": lines, "incident_types": types}),
        );
        v.insert(
            "incident".into(),
            json!({
                "calls": inc.calls.len(),
                "callers": inc.callers.len(),
                "unconfirmed_calls": inc.unconfirmed,
                "opened_at": format_rfc3339_utc(inc.opened_ms),
                "last_call": format_rfc3339_utc(inc.last_ms),
            }),
        );
        out.push(finish(v));
    }

    /// Close incidents (and forget calls) the watermark has passed.
    pub fn advance(&mut self, watermark_ms: i64) {
        let before = self.incidents.len();
        // Kept a little past the window: a call that rang inside it may be
        // classified minutes later.
        self.incidents.retain(|inc| {
            inc.last_ms.max(inc.last_rang_ms) + inc.window_ms + CLASSIFY_MARGIN_MS >= watermark_ms
        });
        let horizon = |c: &Call| c.ts_ms + 2 * 3_600_000 >= watermark_ms;
        let stale = self.calls.iter().any(|c| !horizon(c));
        if before == self.incidents.len() && !stale {
            return;
        }
        // Keep calls of open incidents and recent unjoined ones; re-index.
        let open: Vec<u32> = self.incidents.iter().map(|i| i.id).collect();
        let keep: Vec<bool> = self
            .calls
            .iter()
            .map(|c| {
                if c.incident != NONE {
                    open.contains(&c.incident)
                } else {
                    horizon(c)
                }
            })
            .collect();
        let mut remap = vec![NONE; self.calls.len()];
        let mut calls = Vec::with_capacity(self.calls.len());
        for (i, c) in std::mem::take(&mut self.calls).into_iter().enumerate() {
            if keep[i] {
                remap[i] = calls.len() as u32;
                calls.push(c);
            }
        }
        self.calls = calls;
        self.by_id = self
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i as u32))
            .collect();
        for inc in &mut self.incidents {
            for c in &mut inc.calls {
                *c = remap[*c as usize];
            }
        }
    }

    pub(super) fn encode(&self, w: &mut Writer) {
        self.types.encode(w);
        w.u32(self.next_incident);
        w.u32(self.calls.len() as u32);
        for c in &self.calls {
            w.str(&c.id);
            w.i64(c.ts_ms);
            w.f64(c.lat);
            w.f64(c.lon);
            w.u64(c.caller);
            w.u8(c.line);
            w.u32(c.incident);
            w.str(&c.place);
        }
        w.u32(self.incidents.len() as u32);
        for i in &self.incidents {
            w.u32(i.id);
            w.i64(i.first_ms);
            w.i64(i.opened_ms);
            w.i64(i.last_ms);
            w.i64(i.last_rang_ms);
            w.f64(i.lat);
            w.f64(i.lon);
            w.u16(i.located);
            w.u32(i.calls.len() as u32);
            i.calls.iter().for_each(|&c| w.u32(c));
            w.u32(i.types.len() as u32);
            i.types.iter().for_each(|&t| w.u32(t));
            w.u32(i.callers.len() as u32);
            i.callers.iter().for_each(|&c| w.u64(c));
            w.u16(i.unconfirmed);
            w.u16(i.updates);
            w.u8(i.priority);
            w.u8(i.base_priority);
            w.f64(i.radius_m);
            w.i64(i.window_ms);
            w.str(&i.place);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = Calls {
            types: Interner::decode(r)?,
            next_incident: r.u32()?,
            ..Calls::default()
        };
        for i in 0..r.u32()? {
            let c = Call {
                id: r.str()?.into(),
                ts_ms: r.i64()?,
                lat: r.f64()?,
                lon: r.f64()?,
                caller: r.u64()?,
                line: r.u8()?,
                incident: r.u32()?,
                place: r.str()?.into(),
            };
            out.by_id.insert(c.id.clone(), i);
            out.calls.push(c);
        }
        for _ in 0..r.u32()? {
            let id = r.u32()?;
            let first_ms = r.i64()?;
            let opened_ms = r.i64()?;
            let last_ms = r.i64()?;
            let last_rang_ms = r.i64()?;
            let (lat, lon) = (r.f64()?, r.f64()?);
            let located = r.u16()?;
            let calls = (0..r.u32()?).map(|_| r.u32()).collect::<Result<_, _>>()?;
            let types = (0..r.u32()?).map(|_| r.u32()).collect::<Result<_, _>>()?;
            let callers = (0..r.u32()?).map(|_| r.u64()).collect::<Result<_, _>>()?;
            out.incidents.push(Incident {
                id,
                first_ms,
                opened_ms,
                last_ms,
                last_rang_ms,
                lat,
                lon,
                located,
                calls,
                types,
                callers,
                unconfirmed: r.u16()?,
                updates: r.u16()?,
                priority: r.u8()?,
                base_priority: r.u8()?,
                radius_m: r.f64()?,
                window_ms: r.i64()?,
                place: r.str()?.into(),
            });
        }
        Ok(out)
    }
}
