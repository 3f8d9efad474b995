//! Settings of the incident stage (`[engine.incidents]`); every field has a
//! default, checked with the key named on error.

use crate::config::ConfigError;
use crate::priority::PriorityConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Per incident type: how far and how long apart calls may be and still be one
/// incident (its priority is in `[engine.priority] calls`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CallTypeSettings {
    pub radius_m: Option<f64>,
    pub window_s: Option<u32>,
}

/// How the incident stage de-duplicates, corroborates, supervises and clusters.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentConfig {
    /// State shards (Bytewax keys). Fixed for a deployment: recovery state is
    /// stored per shard.
    pub shards: u16,
    /// How far behind the newest event time the watermark trails (out-of-order
    /// tolerance across partitions).
    pub lateness_s: u32,
    /// Suppression window of plate hits, from the last sighting.
    pub plate_window_s: u32,
    /// Per-list suppression windows.
    pub list_windows_s: BTreeMap<String, u32>,
    /// A second camera corroborates a weak hit within this time.
    pub corroboration_window_s: u32,
    /// Fastest plausible travel between two cameras.
    pub max_speed_kmh: f64,
    /// Most sightings kept in an incident's track (the first and the newest).
    pub track_max: u16,
    /// Presses of one device within this time of the last are one alert.
    pub press_window_s: u32,
    /// Expected heartbeat interval per device kind (default for others: 300 s).
    pub heartbeat_interval_s: BTreeMap<String, u32>,
    /// Silence beyond interval + grace raises `device_offline`.
    pub heartbeat_grace_s: u32,
    /// Calls within this distance and time of an incident's calls join it.
    pub call_radius_m: f64,
    pub call_window_s: u32,
    /// Per incident type overrides (radius, window).
    pub call_types: BTreeMap<String, CallTypeSettings>,
    /// Groups of incident types that may be one incident (a type always
    /// matches itself), e.g. `[["riña", "disparos"]]`.
    pub compatible_types: Vec<Vec<String>>,
    /// The priority rules, from `[engine.priority]` (`EngineConfig::incident_stage`).
    #[serde(skip)]
    pub priority: PriorityConfig,
}

const DEFAULT_HEARTBEAT_S: u32 = 300;

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            shards: 64,
            lateness_s: 30,
            plate_window_s: 300,
            list_windows_s: BTreeMap::new(),
            corroboration_window_s: 1800,
            max_speed_kmh: 180.0,
            track_max: 16,
            press_window_s: 60,
            heartbeat_interval_s: BTreeMap::new(),
            heartbeat_grace_s: 120,
            call_radius_m: 100.0,
            call_window_s: 600,
            call_types: BTreeMap::new(),
            compatible_types: vec![vec!["riña".into(), "disparos".into()]],
            priority: PriorityConfig::default(),
        }
    }
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: format!("incidents.{key}"),
        message: message.into(),
    }
}

impl IncidentConfig {
    /// Check every value, naming the key and the fix.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(1..=4096).contains(&self.shards) {
            return Err(err(
                "shards",
                "must be 1..4096 (64 suits up to ~32 workers)",
            ));
        }
        if self.lateness_s > 3600 {
            return Err(err(
                "lateness_s",
                "more than an hour delays every supervision alert by that much; use 0..3600",
            ));
        }
        for (key, v) in [
            ("plate_window_s", self.plate_window_s),
            ("press_window_s", self.press_window_s),
            ("call_window_s", self.call_window_s),
            ("corroboration_window_s", self.corroboration_window_s),
        ] {
            if v == 0 || v > 86_400 {
                return Err(err(key, format!("{v} s: use 1..86400")));
            }
        }
        for (list, v) in &self.list_windows_s {
            if *v == 0 || *v > 86_400 {
                return Err(err(&format!("list_windows_s.{list}"), "use 1..86400 s"));
            }
        }
        if !(self.max_speed_kmh > 0.0 && self.max_speed_kmh <= 1000.0) {
            return Err(err("max_speed_kmh", "use a speed in km/h, 1..1000"));
        }
        if self.track_max < 2 {
            return Err(err("track_max", "keep at least 2 sightings"));
        }
        if !(self.call_radius_m > 0.0 && self.call_radius_m <= 10_000.0) {
            return Err(err("call_radius_m", "use metres, 1..10000"));
        }
        for (kind, v) in &self.heartbeat_interval_s {
            if !crate::event::DeviceKind::ALL
                .iter()
                .any(|k| k.as_str() == kind)
            {
                return Err(err(
                    &format!("heartbeat_interval_s.{kind}"),
                    "unknown device kind; use panic, community_alarm, school_link or business_aid",
                ));
            }
            if *v == 0 {
                return Err(err(&format!("heartbeat_interval_s.{kind}"), "must be > 0"));
            }
        }
        for (t, s) in &self.call_types {
            if s.radius_m.is_some_and(|r| !(r > 0.0 && r <= 10_000.0)) {
                return Err(err(
                    &format!("call_types.{t}.radius_m"),
                    "use metres, 1..10000",
                ));
            }
            if s.window_s.is_some_and(|w| w == 0 || w > 86_400) {
                return Err(err(&format!("call_types.{t}.window_s"), "use 1..86400 s"));
            }
        }
        Ok(())
    }

    /// Suppression window of hits on `list`, seconds.
    pub fn window_s(&self, list: &str) -> u32 {
        self.list_windows_s
            .get(list)
            .copied()
            .unwrap_or(self.plate_window_s)
    }

    /// Expected heartbeat interval of a device kind, ms.
    pub fn heartbeat_ms(&self, kind: &str) -> i64 {
        i64::from(
            self.heartbeat_interval_s
                .get(kind)
                .copied()
                .unwrap_or(DEFAULT_HEARTBEAT_S),
        ) * 1000
    }

    /// Radius and window (ms) within which calls of `incident_type` join.
    pub fn call_reach(&self, incident_type: &str) -> (f64, i64) {
        let t = self.call_types.get(incident_type);
        (
            t.and_then(|t| t.radius_m).unwrap_or(self.call_radius_m),
            i64::from(t.and_then(|t| t.window_s).unwrap_or(self.call_window_s)) * 1000,
        )
    }

    /// May calls of types `a` and `b` be one incident?
    pub fn compatible(&self, a: &str, b: &str) -> bool {
        a == b
            || self
                .compatible_types
                .iter()
                .any(|g| g.iter().any(|t| t == a) && g.iter().any(|t| t == b))
    }
}
