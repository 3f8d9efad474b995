//! Engine configuration: limits and the priorities that decide how urgently an
//! alert pages. Deserialised from JSON (the Python layer turns TOML or keyword
//! arguments into that JSON) and checked before any event is processed.

use crate::priority::PriorityConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// How the engine behaves; every field has a default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Events larger than this are rejected as `too_large`.
    pub max_event_bytes: usize,
    /// The priority model: every rule that decides how urgently an alert pages.
    pub priority: PriorityConfig,
    /// Time zone (IANA name) of zone `active` windows for zones that name none.
    pub timezone: String,
    /// What to do with an event from a camera or device missing from its
    /// registry (when a registry is loaded).
    pub unknown_sensor: UnknownSensor,
    /// Per-list geofences: hits on the list alert only inside these zones
    /// (zone ids, or `kind:<kind>` for every zone of a kind).
    pub list_zones: BTreeMap<String, Vec<String>>,
    /// The incident stage: de-duplication, corroboration, supervision, calls.
    pub incidents: crate::incidents::IncidentConfig,
}

/// Policy for events whose camera or device is not in the registry.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSensor {
    /// Reject with reason `unknown_sensor`: a registry lists every sensor, so
    /// anything else is misconfigured or spoofed.
    #[default]
    Reject,
    /// Accept; locate by the event's own coordinates, if any (mobile cameras).
    Accept,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_event_bytes: 65_536,
            priority: PriorityConfig::default(),
            timezone: "UTC".into(),
            unknown_sensor: UnknownSensor::Reject,
            list_zones: BTreeMap::new(),
            incidents: Default::default(),
        }
    }
}

/// A configuration problem: which key, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "config key `{}`: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Keys the priority model replaced, and where each went: an old config must
/// fail with the way forward, not with "unknown field".
const MOVED: [(&str, &str); 10] = [
    ("default_list_priority", "priority.kinds.plate_hit"),
    ("list_priorities", "priority.lists"),
    ("button_priorities", "priority.devices"),
    ("restricted_zone_priority", "priority.kinds.restricted_zone"),
    (
        "incidents.offline_priority",
        "priority.kinds.device_offline",
    ),
    ("incidents.tamper_priority", "priority.kinds.device_tamper"),
    ("incidents.call_priority", "priority.kinds.call_incident"),
    (
        "incidents.presses_per_level",
        "priority.repetition.presses_per_level",
    ),
    (
        "incidents.calls_per_level",
        "priority.repetition.calls_per_level",
    ),
    ("incidents.call_types.*.priority", "priority.calls.<type>"),
];

fn moved_keys(config: &serde_json::Value) -> Result<(), ConfigError> {
    let moved = |old: &str, new: &str| {
        ConfigError {
        key: old.to_string(),
        message: format!(
            "moved to the priority model: write it as `{new}` ([engine.{}] in a run config; see docs/priority.md)",
            new.rsplit_once('.').map_or(new, |(table, _)| table)
        ),
    }
    };
    for (old, new) in MOVED {
        let mut at = Some(config);
        let mut path = String::new();
        for part in old.split('.') {
            if part == "*" {
                // incidents.call_types.<type>.priority
                let types = at.and_then(|v| v.as_object());
                let hit = types.and_then(|t| {
                    t.iter()
                        .find(|(_, s)| s.get("priority").is_some())
                        .map(|(name, _)| name.clone())
                });
                if let Some(name) = hit {
                    return Err(moved(&format!("{path}.{name}.priority"), new));
                }
                at = None;
                break;
            }
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(part);
            at = at.and_then(|v| v.get(part));
        }
        if at.is_some() {
            return Err(moved(old, new));
        }
    }
    Ok(())
}

impl EngineConfig {
    /// Parse JSON and check every value.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| ConfigError {
            key: String::new(),
            message: format!("engine config is not valid JSON: {e}"),
        })?;
        moved_keys(&value)?;
        let config: EngineConfig = serde_path_to_error::deserialize(&value).map_err(|e| {
            let key = e.path().to_string();
            ConfigError {
                key: if key == "." { String::new() } else { key },
                message: e.into_inner().to_string(),
            }
        })?;
        config.check()?;
        Ok(config)
    }

    /// Check every value, naming the key and the fix.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(256..=16 * 1024 * 1024).contains(&self.max_event_bytes) {
            return Err(ConfigError {
                key: "max_event_bytes".into(),
                message: format!(
                    "{} is outside 256..=16777216; events need room, and Kafka messages rarely exceed 1 MiB",
                    self.max_event_bytes
                ),
            });
        }
        self.priority.check()?;
        self.tz()?;
        self.incidents.check()?;
        for (list, zones) in &self.list_zones {
            if zones.is_empty() {
                return Err(ConfigError {
                    key: format!("list_zones.{list}"),
                    message: "is empty: name the zones (ids or kind:<kind>) where the list alerts, or remove the key".into(),
                });
            }
        }
        Ok(())
    }

    /// The configured time zone.
    pub fn tz(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.timezone.parse().map_err(|_| ConfigError {
            key: "timezone".into(),
            message: format!(
                "{:?} is not an IANA time zone name; use e.g. America/Bogota or America/Mexico_City",
                self.timezone
            ),
        })
    }

    /// The incident stage's settings, with the priority rules it applies.
    pub fn incident_stage(&self) -> crate::incidents::IncidentConfig {
        crate::incidents::IncidentConfig {
            priority: self.priority.clone(),
            ..self.incidents.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_checks() {
        EngineConfig::default().check().unwrap();
        assert_eq!(
            EngineConfig::from_json("{}").unwrap(),
            EngineConfig::default()
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = EngineConfig::from_json(r#"{"priority":{"lists":{"wanted":9}}}"#).unwrap_err();
        assert_eq!(e.key, "priority.lists.wanted");
        let e = EngineConfig::from_json(r#"{"priority":{"devices":{"siren":1}}}"#).unwrap_err();
        assert_eq!(e.key, "priority.devices.siren");
        let e = EngineConfig::from_json(r#"{"priority":{"zones":{"school":"up"}}}"#).unwrap_err();
        assert_eq!(e.key, "priority.zones.school", "{e}");
        let e = EngineConfig::from_json(r#"{"priority":{"repetition":{"press":1}}}"#).unwrap_err();
        assert_eq!(e.key, "priority.repetition.press", "{e}");
        assert!(e.message.contains("press"), "{e}");
        let e = EngineConfig::from_json(r#"{"max_event_bytes":1}"#).unwrap_err();
        assert_eq!(e.key, "max_event_bytes");
        let e = EngineConfig::from_json(r#"{"timezone":"Medellin"}"#).unwrap_err();
        assert_eq!(e.key, "timezone");
        let e = EngineConfig::from_json(r#"{"unknown_sensor":"drop"}"#).unwrap_err();
        assert!(e.message.contains("reject"), "{e}");
        let e = EngineConfig::from_json(r#"{"list_zones":{"wanted":[]}}"#).unwrap_err();
        assert_eq!(e.key, "list_zones.wanted");
        let e = EngineConfig::from_json(r#"{"typo":1}"#).unwrap_err();
        assert!(e.message.contains("typo"), "{e}");
    }

    #[test]
    fn moved_keys_say_where_they_went() {
        for (json, key, new) in [
            (
                r#"{"list_priorities":{"a":1}}"#,
                "list_priorities",
                "priority.lists",
            ),
            (
                r#"{"incidents":{"presses_per_level":2}}"#,
                "incidents.presses_per_level",
                "priority.repetition.presses_per_level",
            ),
            (
                r#"{"incidents":{"call_types":{"hurto":{"priority":1}}}}"#,
                "incidents.call_types.hurto.priority",
                "priority.calls.<type>",
            ),
        ] {
            let e = EngineConfig::from_json(json).unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.message.contains(new), "{e}");
        }
    }
}
