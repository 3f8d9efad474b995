//! The priority model (`[engine.priority]`): how urgent an alert is, P1 (most
//! urgent) to P4, from rules an operator can read back in the alert's
//! `reasons`. One place for every rule:
//!
//! - **base** by alert kind, refined by watchlist list, device kind and call
//!   type (a listed entry's own priority wins over its list's);
//! - **match confidence**: a plate hit's score lowers it by levels
//!   (`confidence.score_levels`), so a lone look-alike does not page like a
//!   clean read;
//! - **zones**: an active zone raises or lowers it (a zone's own
//!   `priority_boost` wins over the boost of its kind);
//! - **repetition**: presses of one button and calls about one incident raise
//!   it a level every `presses_per_level` / `calls_per_level`;
//! - **corroboration**: a weak plate hit confirmed by another camera pages as a
//!   strong match would.
//!
//! Tables you write are merged over the built-in ones key by key, so adding
//! one list never drops the defaults of the others.

use crate::alert::AlertKind;
use crate::config::ConfigError;
use crate::event::DeviceKind;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// The most urgent priority.
pub const P_MIN: u8 = 1;
/// The least urgent priority.
pub const P_MAX: u8 = 4;

const KINDS: [(&str, u8); 7] = [
    ("plate_hit", 3),
    ("button_press", 2),
    ("restricted_zone", 2),
    ("device_tamper", 2),
    ("device_offline", 3),
    ("device_restored", 4),
    ("call_incident", 3),
];
const LISTS: [(&str, u8); 4] = [
    ("amber_alert", 1),
    ("stolen_vehicle", 2),
    ("wanted", 2),
    ("stolen_plate", 3),
];
const DEVICES: [(&str, u8); 4] = [
    ("panic", 1),
    ("school_link", 1),
    ("community_alarm", 2),
    ("business_aid", 2),
];
const CALLS: [(&str, u8); 7] = [
    ("disparos", 1),
    ("incendio", 1),
    ("riña", 2),
    ("hurto", 2),
    ("violencia_intrafamiliar", 2),
    ("accidente_transito", 2),
    ("emergencia_medica", 2),
];

fn table<V: Copy>(pairs: &[(&str, V)]) -> BTreeMap<String, V> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// A map deserialiser that merges what the config says over `defaults`.
fn merged<'de, D, V>(d: D, defaults: &[(&str, V)]) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Copy + Deserialize<'de>,
{
    let mut m = table(defaults);
    m.extend(BTreeMap::<String, V>::deserialize(d)?);
    Ok(m)
}

fn kinds<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u8>, D::Error> {
    merged(d, &KINDS)
}
fn lists<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u8>, D::Error> {
    merged(d, &LISTS)
}
fn devices<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u8>, D::Error> {
    merged(d, &DEVICES)
}
fn calls<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u8>, D::Error> {
    merged(d, &CALLS)
}

/// Every rule that sets a priority; every field has a default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityConfig {
    /// Base priority by alert kind (for plate hits: lists not in `lists`; for
    /// presses: device kinds not in `devices`; for calls: types not in `calls`).
    #[serde(deserialize_with = "kinds")]
    pub kinds: BTreeMap<String, u8>,
    /// Plate hits by watchlist list.
    #[serde(deserialize_with = "lists")]
    pub lists: BTreeMap<String, u8>,
    /// Button presses by device kind.
    #[serde(deserialize_with = "devices")]
    pub devices: BTreeMap<String, u8>,
    /// Call incidents by incident type.
    #[serde(deserialize_with = "calls")]
    pub calls: BTreeMap<String, u8>,
    /// Levels an active zone of this kind raises (+) or lowers (-) alerts at
    /// its place, when the zone sets no `priority_boost` of its own.
    pub zones: BTreeMap<String, i8>,
    pub confidence: Confidence,
    pub repetition: Repetition,
}

/// How a plate hit's match score lowers its priority.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Confidence {
    /// Descending score thresholds: a score at or above the first pages at the
    /// base priority, below the first but at or above the second one level
    /// lower, and so on; below the last, `len` levels lower (never past P4).
    pub score_levels: Vec<f64>,
}

impl Default for Confidence {
    fn default() -> Self {
        Confidence {
            score_levels: vec![0.8, 0.5, 0.2],
        }
    }
}

/// How repeated and corroborating evidence raises a priority.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Repetition {
    /// Every this many presses of one button raise its alert a level.
    pub presses_per_level: u16,
    /// Every this many calls about one incident raise it a level.
    pub calls_per_level: u16,
    /// A weak plate hit corroborated by another camera pages at the priority a
    /// strong match would have (false: corroboration is only reported).
    pub corroboration: bool,
}

impl Default for Repetition {
    fn default() -> Self {
        Repetition {
            presses_per_level: 3,
            calls_per_level: 3,
            corroboration: true,
        }
    }
}

impl Default for PriorityConfig {
    fn default() -> Self {
        PriorityConfig {
            kinds: table(&KINDS),
            lists: table(&LISTS),
            devices: table(&DEVICES),
            calls: table(&CALLS),
            zones: BTreeMap::new(),
            confidence: Confidence::default(),
            repetition: Repetition::default(),
        }
    }
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: format!("priority.{key}"),
        message: message.into(),
    }
}

/// `Ok` for 1..=4, else an error naming `key`.
pub fn check_level(key: &str, p: u8) -> Result<(), ConfigError> {
    if (P_MIN..=P_MAX).contains(&p) {
        Ok(())
    } else {
        Err(err(
            key,
            format!("priority {p} is not 1, 2, 3 or 4 (1 = most urgent)"),
        ))
    }
}

impl PriorityConfig {
    /// Check every value, naming the key and the fix.
    pub fn check(&self) -> Result<(), ConfigError> {
        for (kind, p) in &self.kinds {
            if !AlertKind::ALL.iter().any(|k| k.as_str() == kind) {
                let all: Vec<_> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
                return Err(err(
                    &format!("kinds.{kind}"),
                    format!("unknown alert kind; use one of {}", all.join(", ")),
                ));
            }
            check_level(&format!("kinds.{kind}"), *p)?;
        }
        for (list, p) in &self.lists {
            check_level(&format!("lists.{list}"), *p)?;
        }
        for (kind, p) in &self.devices {
            if !DeviceKind::ALL.iter().any(|k| k.as_str() == kind) {
                return Err(err(
                    &format!("devices.{kind}"),
                    "unknown device kind; use panic, community_alarm, school_link or business_aid",
                ));
            }
            check_level(&format!("devices.{kind}"), *p)?;
        }
        for (t, p) in &self.calls {
            check_level(&format!("calls.{t}"), *p)?;
        }
        for (kind, b) in &self.zones {
            if !(-3..=3).contains(b) {
                return Err(err(
                    &format!("zones.{kind}"),
                    format!("{b} levels: use -3..3 (positive raises, negative lowers)"),
                ));
            }
        }
        let levels = &self.confidence.score_levels;
        let descending = levels.windows(2).all(|w| w[0] > w[1]);
        if levels.len() > 3 || !descending || !levels.iter().all(|s| *s > 0.0 && *s <= 1.0) {
            return Err(err(
                "confidence.score_levels",
                format!(
                    "{levels:?}: give at most 3 descending scores in (0, 1], e.g. [0.8, 0.5, 0.2]"
                ),
            ));
        }
        let r = &self.repetition;
        if r.presses_per_level == 0 {
            return Err(err(
                "repetition.presses_per_level",
                "must be at least 1 (use a large number to never escalate)",
            ));
        }
        if r.calls_per_level == 0 {
            return Err(err(
                "repetition.calls_per_level",
                "must be at least 1 (use a large number to never escalate)",
            ));
        }
        Ok(())
    }

    /// Base priority of an alert kind.
    pub fn kind(&self, kind: AlertKind) -> u8 {
        self.kinds.get(kind.as_str()).copied().unwrap_or(P_MAX)
    }

    /// Base priority of a hit on `list`, and the rule that set it.
    pub fn list(&self, list: &str) -> (u8, String) {
        match self.lists.get(list) {
            Some(p) => (*p, format!("hits on list {list} page at P{p}")),
            None => {
                let p = self.kind(AlertKind::PlateHit);
                (p, format!("hits on lists without a priority page at P{p}"))
            }
        }
    }

    /// Base priority of a press on a device of `kind`.
    pub fn device(&self, kind: DeviceKind) -> u8 {
        self.devices
            .get(kind.as_str())
            .copied()
            .unwrap_or_else(|| self.kind(AlertKind::ButtonPress))
    }

    /// Base priority of a call incident of `incident_type`.
    pub fn call(&self, incident_type: &str) -> u8 {
        self.calls
            .get(incident_type)
            .copied()
            .unwrap_or_else(|| self.kind(AlertKind::CallIncident))
    }

    /// Levels a match `score` lowers a hit's priority.
    pub fn demotion(&self, score: f32) -> u8 {
        let s = f64::from(score);
        let levels = &self.confidence.score_levels;
        levels.iter().position(|t| s >= *t).unwrap_or(levels.len()) as u8
    }

    /// Boost of a zone: its own, else its kind's.
    pub fn zone_boost(&self, own: Option<i8>, kind: &str) -> i8 {
        own.or_else(|| self.zones.get(kind).copied()).unwrap_or(0)
    }
}

/// `p` moved by `levels` (positive raises: P3 + 1 level = P2), within P1..P4.
pub fn shift(p: u8, levels: i16) -> u8 {
    (i16::from(p) - levels).clamp(i16::from(P_MIN), i16::from(P_MAX)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> PriorityConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn tables_merge_over_the_defaults() {
        let c = parse(r#"{"lists":{"hurto_con_violencia":1,"stolen_plate":4}}"#);
        assert_eq!(c.list("hurto_con_violencia").0, 1);
        assert_eq!(c.list("stolen_plate").0, 4);
        assert_eq!(c.list("amber_alert").0, 1, "defaults stay");
        assert_eq!(c.list("other").0, 3, "kinds.plate_hit");
        c.check().unwrap();
    }

    #[test]
    fn demotion_follows_the_thresholds() {
        let c = PriorityConfig::default();
        let d: Vec<u8> = [0.95, 0.8, 0.79, 0.5, 0.3, 0.1]
            .iter()
            .map(|s| c.demotion(*s))
            .collect();
        assert_eq!(d, [0, 0, 1, 1, 2, 3]);
        let c = parse(r#"{"confidence":{"score_levels":[0.6]}}"#);
        assert_eq!((c.demotion(0.7), c.demotion(0.5)), (0, 1));
        let c = parse(r#"{"confidence":{"score_levels":[]}}"#);
        assert_eq!(
            c.demotion(0.01),
            0,
            "no thresholds: the score never demotes"
        );
    }

    #[test]
    fn zone_boosts_prefer_the_zone_s_own() {
        let c = parse(r#"{"zones":{"school":1,"hospital":-1}}"#);
        assert_eq!(c.zone_boost(None, "school"), 1);
        assert_eq!(c.zone_boost(Some(0), "school"), 0);
        assert_eq!(c.zone_boost(None, "park"), 0);
        assert_eq!(shift(2, 1), 1);
        assert_eq!(shift(1, 2), 1);
        assert_eq!(shift(3, -3), 4);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (json, key) in [
            (r#"{"kinds":{"plate_hits":1}}"#, "priority.kinds.plate_hits"),
            (r#"{"lists":{"wanted":0}}"#, "priority.lists.wanted"),
            (r#"{"devices":{"siren":1}}"#, "priority.devices.siren"),
            (r#"{"calls":{"disparos":5}}"#, "priority.calls.disparos"),
            (r#"{"zones":{"school":4}}"#, "priority.zones.school"),
            (
                r#"{"confidence":{"score_levels":[0.5,0.8]}}"#,
                "priority.confidence.score_levels",
            ),
            (
                r#"{"repetition":{"calls_per_level":0}}"#,
                "priority.repetition.calls_per_level",
            ),
        ] {
            assert_eq!(parse(json).check().unwrap_err().key, key, "{json}");
        }
    }
}
