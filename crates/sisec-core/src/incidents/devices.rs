//! Alarm devices: presses folded into one escalating alert, tamper alerts, and
//! heartbeat supervision.
//!
//! Presses of one device within `press_window_s` of its previous press are
//! one alert: the first pages, the next ones update it with the press count,
//! and every `presses_per_level` presses raise its priority a level. `tamper`
//! is its own alert (folded the same way). A device that has sent a heartbeat
//! and then is silent (no event of any kind) for its interval plus the grace
//! period, by the shard's watermark, raises `device_offline`; its next event
//! raises `device_restored`.

use super::codec::{DecodeError, Reader, Writer};
use super::config::IncidentConfig;
use super::signal::DeviceEvent;
use super::{finish, rewrite_alert, Update};
use crate::alert::{stable_id, Alert, AlertKind, ALERT_SCHEMA_VERSION};
use crate::event::{ButtonAction, DeviceKind};
use crate::timestamp::format_rfc3339_utc;
use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A folded run of presses (or tamper reports).
#[derive(Clone, Debug, Default, PartialEq)]
struct Run {
    opened_ms: i64,
    last_ms: i64,
    count: u16,
    priority: u8,
}

impl Run {
    fn open_at(&self, ts_ms: i64, window_ms: i64) -> bool {
        self.count > 0 && ts_ms - self.last_ms <= window_ms && ts_ms >= self.opened_ms - window_ms
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Device {
    id: Box<str>,
    kind: DeviceKind,
    /// `location`, `site` and `zones` of the last event, as JSON object text.
    place: Box<str>,
    /// Newest event time of any kind (i64::MIN: none).
    last_seen_ms: i64,
    /// Supervised once it has sent a heartbeat.
    supervised: bool,
    offline: bool,
    last_event_id: Box<str>,
    presses: Run,
    tampers: Run,
}

/// The devices of one shard.
#[derive(Clone, Debug, Default)]
pub struct Devices {
    by_id: FxHashMap<Box<str>, u32>,
    devices: Vec<Device>,
    /// (deadline, device); stale entries are skipped when popped.
    deadlines: BinaryHeap<Reverse<(i64, u32)>>,
}

fn run_id(device: &str, what: &str, opened_ms: i64) -> String {
    stable_id("dev", &[device, what, &opened_ms.to_string()])
}

impl Devices {
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    pub fn memory_bytes(&self) -> usize {
        self.devices.capacity() * std::mem::size_of::<Device>()
            + self
                .devices
                .iter()
                .map(|d| 2 * d.id.len() + d.place.len() + d.last_event_id.len())
                .sum::<usize>()
            + self.by_id.capacity() * 21
            + self.deadlines.capacity() * 16
    }

    fn deadline(d: &Device, config: &IncidentConfig) -> i64 {
        d.last_seen_ms
            .saturating_add(config.heartbeat_ms(d.kind.as_str()))
            .saturating_add(i64::from(config.heartbeat_grace_s) * 1000)
    }

    pub fn on_event(
        &mut self,
        e: &DeviceEvent<'_>,
        config: &IncidentConfig,
        now_ms: i64,
        out: &mut Vec<Alert>,
    ) {
        let i = match self.by_id.get(e.device_id) {
            Some(&i) => i,
            None => {
                let i = self.devices.len() as u32;
                self.devices.push(Device {
                    id: e.device_id.into(),
                    kind: e.device_kind,
                    place: "{}".into(),
                    last_seen_ms: i64::MIN,
                    supervised: false,
                    offline: false,
                    last_event_id: "".into(),
                    presses: Run::default(),
                    tampers: Run::default(),
                });
                self.by_id.insert(e.device_id.into(), i);
                i
            }
        };
        let d = &mut self.devices[i as usize];
        d.kind = e.device_kind;
        // A supervised device heard from after its deadline was offline in
        // between, whether or not the watermark said so in time: the alerts
        // depend on the events, not on how they were batched.
        let deadline = Self::deadline(d, config);
        if d.supervised && !d.offline && e.ts_ms > deadline {
            d.offline = true;
            out.push(status_alert(
                d,
                AlertKind::DeviceOffline,
                deadline,
                now_ms,
                config,
            ));
        }
        if !e.place.is_empty() {
            d.place = String::from_utf8_lossy(e.place).into();
        }
        if d.offline && e.ts_ms > d.last_seen_ms {
            d.offline = false;
            d.last_seen_ms = e.ts_ms;
            d.last_event_id = e.event_id.into();
            out.push(status_alert(
                d,
                AlertKind::DeviceRestored,
                e.ts_ms,
                now_ms,
                config,
            ));
        }
        if e.ts_ms > d.last_seen_ms {
            d.last_seen_ms = e.ts_ms;
            d.last_event_id = e.event_id.into();
        }
        if e.action == ButtonAction::Heartbeat {
            d.supervised = true;
        }
        if d.supervised {
            self.deadlines.push(Reverse((Self::deadline(d, config), i)));
        }
        let window_ms = i64::from(config.press_window_s) * 1000;
        let (run, what, base) = match e.action {
            ButtonAction::Press => (&mut d.presses, "press", e.priority),
            ButtonAction::Tamper => (&mut d.tampers, "tamper", e.priority),
            ButtonAction::Heartbeat | ButtonAction::LowBattery => return,
        };
        if e.alert.is_empty() {
            return;
        }
        let update = if run.open_at(e.ts_ms, window_ms) {
            run.count = run.count.saturating_add(1);
            run.last_ms = run.last_ms.max(e.ts_ms);
            run.opened_ms = run.opened_ms.min(e.ts_ms);
            run.count - 1
        } else {
            *run = Run {
                opened_ms: e.ts_ms,
                last_ms: e.ts_ms,
                count: 1,
                priority: base,
            };
            0
        };
        let levels = (run.count / config.priority.repetition.presses_per_level.max(1)) as u8;
        let escalated = base.saturating_sub(levels).max(1);
        run.priority = run.priority.min(escalated);
        let mut reasons = Vec::new();
        if update > 0 {
            reasons.push(format!(
                "{} {what}es within {} s of each other: one alert, updated",
                run.count, config.press_window_s
            ));
        }
        if run.priority < base {
            reasons.push(format!(
                "{} {what}es raise it from P{base} to P{} (a level every {})",
                run.count, run.priority, config.priority.repetition.presses_per_level
            ));
        }
        let mut incident = Map::new();
        incident.insert("count".into(), run.count.into());
        incident.insert("first".into(), format_rfc3339_utc(run.opened_ms).into());
        incident.insert("last".into(), format_rfc3339_utc(run.last_ms).into());
        out.push(rewrite_alert(
            e.alert,
            &Update {
                score: None,
                corroboration: false,
                alert_id: &run_id(&d.id, what, run.opened_ms),
                incident_key: None,
                update,
                priority: run.priority,
                extra_reasons: &reasons,
                incident,
                now_ms,
            },
        ));
    }

    /// Devices silent past their deadline go offline.
    pub fn advance(
        &mut self,
        watermark_ms: i64,
        config: &IncidentConfig,
        now_ms: i64,
        out: &mut Vec<Alert>,
    ) {
        while let Some(&Reverse((at, i))) = self.deadlines.peek() {
            if at >= watermark_ms {
                break;
            }
            self.deadlines.pop();
            let d = &mut self.devices[i as usize];
            if d.offline || !d.supervised || Self::deadline(d, config) != at {
                continue; // heard from since, or already reported
            }
            d.offline = true;
            out.push(status_alert(
                d,
                AlertKind::DeviceOffline,
                at,
                now_ms,
                config,
            ));
        }
    }

    pub(super) fn encode(&self, w: &mut Writer) {
        w.u32(self.devices.len() as u32);
        for d in &self.devices {
            w.str(&d.id);
            w.u8(DeviceKind::ALL
                .iter()
                .position(|k| *k == d.kind)
                .unwrap_or(0) as u8);
            w.str(&d.place);
            w.i64(d.last_seen_ms);
            w.u8(u8::from(d.supervised) | (u8::from(d.offline) << 1));
            w.str(&d.last_event_id);
            for r in [&d.presses, &d.tampers] {
                w.i64(r.opened_ms);
                w.i64(r.last_ms);
                w.u16(r.count);
                w.u8(r.priority);
            }
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>, config: &IncidentConfig) -> Result<Self, DecodeError> {
        let mut out = Devices::default();
        for i in 0..r.u32()? {
            let id: Box<str> = r.str()?.into();
            let kind = *DeviceKind::ALL
                .get(usize::from(r.u8()?))
                .ok_or_else(|| DecodeError("unknown device kind".into()))?;
            let place = r.str()?.into();
            let last_seen_ms = r.i64()?;
            let flags = r.u8()?;
            let last_event_id = r.str()?.into();
            let mut runs = [Run::default(), Run::default()];
            for run in &mut runs {
                *run = Run {
                    opened_ms: r.i64()?,
                    last_ms: r.i64()?,
                    count: r.u16()?,
                    priority: r.u8()?,
                };
            }
            let [presses, tampers] = runs;
            let d = Device {
                id: id.clone(),
                kind,
                place,
                last_seen_ms,
                supervised: flags & 1 != 0,
                offline: flags & 2 != 0,
                last_event_id,
                presses,
                tampers,
            };
            if d.supervised && !d.offline {
                out.deadlines.push(Reverse((Self::deadline(&d, config), i)));
            }
            out.by_id.insert(id, i);
            out.devices.push(d);
        }
        Ok(out)
    }
}

/// `device_offline` or `device_restored`, built here: no event carries it.
fn status_alert(
    d: &Device,
    kind: AlertKind,
    at_ms: i64,
    now_ms: i64,
    config: &IncidentConfig,
) -> Alert {
    let priority = config.priority.kind(kind);
    let interval_s = config.heartbeat_ms(d.kind.as_str()) / 1000;
    let (what, reasons) = match kind {
        AlertKind::DeviceOffline => (
            "offline",
            vec![
                format!(
                    "{} device {} has been silent since {} (heartbeat every {interval_s} s, grace {} s)",
                    d.kind.as_str(),
                    d.id,
                    format_rfc3339_utc(d.last_seen_ms),
                    config.heartbeat_grace_s
                ),
                format!("offline devices page at P{priority}"),
            ],
        ),
        _ => (
            "restored",
            vec![
                format!("{} device {} is reporting again", d.kind.as_str(), d.id),
                format!("restored devices page at P{priority}"),
            ],
        ),
    };
    let mut v = Map::new();
    v.insert("schema_version".into(), ALERT_SCHEMA_VERSION.into());
    v.insert("alert_id".into(), run_id(&d.id, what, at_ms).into());
    v.insert("update".into(), 0.into());
    v.insert("kind".into(), kind.as_str().into());
    v.insert("priority".into(), priority.into());
    // A silence, a return or a caller is what it is: no doubt to weigh.
    v.insert("score".into(), 1.0.into());
    v.insert("reasons".into(), reasons.into());
    v.insert("event_time".into(), format_rfc3339_utc(at_ms).into());
    v.insert("emitted_at".into(), format_rfc3339_utc(now_ms).into());
    let place: Map<String, Value> = serde_json::from_str(&d.place).unwrap_or_default();
    v.insert(
        "location".into(),
        place.get("location").cloned().unwrap_or(Value::Null),
    );
    if let Some(site) = place.get("site") {
        v.insert("site".into(), site.clone());
    }
    v.insert(
        "zones".into(),
        place.get("zones").cloned().unwrap_or_else(|| json!([])),
    );
    v.insert("events".into(), json!([&*d.last_event_id]));
    v.insert(
        "incident_key".into(),
        format!("device:{}:supervision", d.id).into(),
    );
    v.insert(
        "details".into(),
        json!({
            "device_id": &*d.id,
            "device_kind": d.kind.as_str(),
            "last_seen": format_rfc3339_utc(d.last_seen_ms),
        }),
    );
    finish(v)
}
