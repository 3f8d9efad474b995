//! Engine configuration: limits and the priorities that decide how urgently an
//! alert pages. Deserialised from JSON (the Python layer turns TOML or keyword
//! arguments into that JSON) and checked before any event is processed.

use crate::event::DeviceKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// How the engine behaves; every field has a default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Events larger than this are rejected as `too_large`.
    pub max_event_bytes: usize,
    /// Priority of a hit on a list missing from `list_priorities`.
    pub default_list_priority: u8,
    /// Priority of a hit per watchlist list (1 = most urgent .. 4).
    pub list_priorities: BTreeMap<String, u8>,
    /// Priority of a button press per device kind.
    pub button_priorities: BTreeMap<String, u8>,
    /// Time zone (IANA name) of zone `active` windows for zones that name none.
    pub timezone: String,
    /// What to do with an event from a camera or device missing from its
    /// registry (when a registry is loaded).
    pub unknown_sensor: UnknownSensor,
    /// Priority of a read of a plate not on a restricted zone's allow list.
    pub restricted_zone_priority: u8,
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
        let lists = [
            ("amber_alert", 1),
            ("stolen_vehicle", 2),
            ("wanted", 2),
            ("stolen_plate", 3),
        ];
        let buttons = [
            ("panic", 1),
            ("school_link", 1),
            ("community_alarm", 2),
            ("business_aid", 2),
        ];
        EngineConfig {
            max_event_bytes: 65_536,
            default_list_priority: 3,
            list_priorities: lists.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            button_priorities: buttons.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            timezone: "UTC".into(),
            unknown_sensor: UnknownSensor::Reject,
            restricted_zone_priority: 2,
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

fn check_priority(key: String, p: u8) -> Result<(), ConfigError> {
    if (1..=4).contains(&p) {
        Ok(())
    } else {
        Err(ConfigError {
            key,
            message: format!("priority {p} is not 1, 2, 3 or 4 (1 = most urgent)"),
        })
    }
}

impl EngineConfig {
    /// Parse JSON and check every value.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: EngineConfig = serde_json::from_str(json).map_err(|e| ConfigError {
            key: String::new(),
            message: format!("engine config is not valid: {e}"),
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
        check_priority("default_list_priority".into(), self.default_list_priority)?;
        for (list, p) in &self.list_priorities {
            check_priority(format!("list_priorities.{list}"), *p)?;
        }
        for (kind, p) in &self.button_priorities {
            if !DeviceKind::ALL.iter().any(|k| k.as_str() == kind) {
                return Err(ConfigError {
                    key: format!("button_priorities.{kind}"),
                    message: "unknown device kind; use panic, community_alarm, school_link or business_aid".into(),
                });
            }
            check_priority(format!("button_priorities.{kind}"), *p)?;
        }
        check_priority(
            "restricted_zone_priority".into(),
            self.restricted_zone_priority,
        )?;
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

    /// Priority of a hit on `list`.
    pub fn list_priority(&self, list: &str) -> u8 {
        self.list_priorities
            .get(list)
            .copied()
            .unwrap_or(self.default_list_priority)
    }

    /// Priority of a press on a device of `kind`.
    pub fn button_priority(&self, kind: DeviceKind) -> u8 {
        self.button_priorities
            .get(kind.as_str())
            .copied()
            .unwrap_or(2)
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
        let e = EngineConfig::from_json(r#"{"list_priorities":{"wanted":9}}"#).unwrap_err();
        assert_eq!(e.key, "list_priorities.wanted");
        let e = EngineConfig::from_json(r#"{"button_priorities":{"siren":1}}"#).unwrap_err();
        assert_eq!(e.key, "button_priorities.siren");
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
}
