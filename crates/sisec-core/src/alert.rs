//! Alerts: what operators see. Built from one valid event and serialised to
//! JSON here, in the core, so the hot path never builds Python objects for
//! them. `docs/alerts.md` describes the fields.

use crate::event::{ButtonPress, Location, PlateRead};
use crate::timestamp::format_rfc3339_utc;
use crate::watchlist::{corroboration, Entry, Hit, MatchKind};
use crate::zones::Zone;
use serde::Serialize;

/// Version of the alert JSON layout; bump on incompatible changes.
pub const ALERT_SCHEMA_VERSION: u32 = 2;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// A plate read matched a watchlist entry.
    PlateHit,
    /// An alarm button was pressed.
    ButtonPress,
    /// A plate not on a restricted zone's allow list was read inside it.
    RestrictedZone,
    /// A device reported tampering.
    DeviceTamper,
    /// A supervised device stopped reporting.
    DeviceOffline,
    /// An offline device reports again.
    DeviceRestored,
    /// Emergency calls about one incident.
    CallIncident,
}

impl AlertKind {
    pub const ALL: [AlertKind; 7] = [
        AlertKind::PlateHit,
        AlertKind::ButtonPress,
        AlertKind::RestrictedZone,
        AlertKind::DeviceTamper,
        AlertKind::DeviceOffline,
        AlertKind::DeviceRestored,
        AlertKind::CallIncident,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::PlateHit => "plate_hit",
            AlertKind::ButtonPress => "button_press",
            AlertKind::RestrictedZone => "restricted_zone",
            AlertKind::DeviceTamper => "device_tamper",
            AlertKind::DeviceOffline => "device_offline",
            AlertKind::DeviceRestored => "device_restored",
            AlertKind::CallIncident => "call_incident",
        }
    }
}

/// Where an event happened, as alerts show it: its position and the zones
/// active there at the event's time, with the boost that applies.
#[derive(Clone, Debug, Default)]
pub struct Scene<'a> {
    pub location: Option<Location>,
    /// The registered site of the camera or device, if any.
    pub site: Option<&'a str>,
    pub zones: Vec<&'a Zone>,
    /// The zone boost that applies (see `Places::boost`).
    pub boost: Option<(i8, &'a Zone)>,
}

impl Scene<'_> {
    /// `priority` after the zone boost, and the reason when it changed.
    /// `priority` after the zone boost.
    pub(crate) fn boosted_priority(&self, priority: u8) -> u8 {
        self.boost.map_or(priority, |(b, _)| {
            crate::priority::shift(priority, i16::from(b))
        })
    }

    fn boosted(&self, priority: u8) -> (u8, Option<String>) {
        let Some((b, zone)) = self.boost else {
            return (priority, None);
        };
        let new = self.boosted_priority(priority);
        if new == priority {
            return (priority, None);
        }
        let verb = if b > 0 { "raises" } else { "lowers" };
        let name = if zone.name.is_empty() {
            &zone.zone_id
        } else {
            &zone.name
        };
        let reason = if zone.priority_boost.is_some() {
            format!(
                "zone {name} ({}) {verb} the priority: P{priority} -> P{new}",
                zone.kind
            )
        } else {
            let verb = if b > 0 { "raise" } else { "lower" };
            format!(
                "{} zones {verb} the priority: P{priority} -> P{new} (zone {name})",
                zone.kind
            )
        };
        (new, Some(reason))
    }

    fn zone_docs(&self) -> Vec<ZoneDoc<'_>> {
        self.zones
            .iter()
            .map(|z| ZoneDoc {
                zone_id: &z.zone_id,
                name: &z.name,
                kind: &z.kind,
            })
            .collect()
    }
}

#[derive(Serialize)]
struct ZoneDoc<'a> {
    zone_id: &'a str,
    name: &'a str,
    kind: &'a str,
}

/// One alert, with the fields routing needs and its full JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Deterministic: the same event and entry always give the same id, so a
    /// replay after a restart can be recognised downstream.
    pub alert_id: String,
    pub kind: AlertKind,
    /// 1 = most urgent .. 4.
    pub priority: u8,
    pub event_time_ms: i64,
    /// Groups alerts about the same thing (vehicle and entry, device, call).
    pub incident_key: String,
    /// 0: a page; n > 0: the n-th update of the alert with this `alert_id`.
    pub update: u16,
    /// An update that promotes a weak plate hit because another camera read
    /// the vehicle (every other update folds a repeated event).
    pub corroboration: bool,
    pub json: Vec<u8>,
}

#[derive(Serialize)]
struct AlertDoc<'a, D: Serialize> {
    schema_version: u32,
    alert_id: &'a str,
    /// 0 here: the incident stage numbers the updates.
    update: u16,
    kind: &'static str,
    priority: u8,
    score: f64,
    reasons: Vec<String>,
    event_time: String,
    emitted_at: String,
    location: Option<LocationDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<&'a str>,
    /// Every zone active at the event's place and time (possibly none).
    zones: Vec<ZoneDoc<'a>>,
    events: [&'a str; 1],
    incident_key: &'a str,
    details: D,
}

#[derive(Serialize)]
struct LocationDoc {
    lat: f64,
    lon: f64,
}

fn location_doc(l: Option<Location>) -> Option<LocationDoc> {
    l.map(|l| LocationDoc {
        lat: l.lat,
        lon: l.lon,
    })
}

#[derive(Serialize)]
struct SubDoc {
    /// 1-based position in the normalised plate.
    position: u8,
    read: char,
    listed: char,
}

#[derive(Serialize)]
struct MatchDoc {
    kind: &'static str,
    score: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    substitutions: Vec<SubDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    edge: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    corroborated_by: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    contradicted_by: Vec<&'static str>,
}

#[derive(Serialize)]
struct VehicleDoc<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    make: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    color: Option<&'a str>,
}

#[derive(Serialize)]
struct HitDetails<'a> {
    entry_id: &'a str,
    list: &'a str,
    listed_plate: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    read_plate: &'a str,
    normalized_plate: &'a str,
    #[serde(rename = "match")]
    match_: MatchDoc,
    camera_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    heading_deg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vehicle: Option<VehicleDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_ref: Option<&'a str>,
}

#[derive(Serialize)]
struct ButtonDetails<'a> {
    device_id: &'a str,
    device_kind: &'static str,
    action: &'static str,
}

fn vehicle_doc<'a>(read: &'a PlateRead<'_>) -> Option<VehicleDoc<'a>> {
    read.vehicle.as_ref().map(|v| VehicleDoc {
        class: v.class.as_deref(),
        make: v.make.as_deref(),
        color: v.color.as_deref(),
    })
}

/// FNV-1a over the parts, with a separator so ("ab","c") != ("a","bc").
pub(crate) fn stable_id(prefix: &str, parts: &[&str]) -> String {
    format!("{prefix}-{:016x}", crate::incidents::hash_parts(parts))
}

/// What every alert has besides its place and details.
struct Head<'a> {
    kind: AlertKind,
    alert_id: String,
    incident_key: String,
    /// Before the zone boost.
    priority: u8,
    /// How sure the engine is that the alert is about a real event (0..1).
    score: f64,
    reasons: Vec<String>,
    event_id: &'a str,
    ts_ms: i64,
    now_ms: i64,
}

/// The alert: `head` with the scene's boost applied (and said), as JSON.
fn build<D: Serialize>(head: Head<'_>, scene: &Scene<'_>, details: D) -> Alert {
    let Head {
        kind,
        alert_id,
        incident_key,
        priority,
        score,
        mut reasons,
        event_id,
        ts_ms,
        now_ms,
    } = head;
    let (priority, boost_reason) = scene.boosted(priority);
    reasons.extend(boost_reason);
    let json = serde_json::to_vec(&AlertDoc {
        schema_version: ALERT_SCHEMA_VERSION,
        alert_id: &alert_id,
        update: 0,
        kind: kind.as_str(),
        priority,
        score,
        reasons,
        event_time: format_rfc3339_utc(ts_ms),
        emitted_at: format_rfc3339_utc(now_ms),
        location: location_doc(scene.location),
        site: scene.site,
        zones: scene.zone_docs(),
        events: [event_id],
        incident_key: &incident_key,
        details,
    })
    .expect("alert documents always serialise");
    Alert {
        alert_id,
        kind,
        priority,
        event_time_ms: ts_ms,
        incident_key,
        update: 0,
        corroboration: false,
        json,
    }
}

#[derive(Serialize)]
struct PlaceDoc<'a> {
    location: Option<LocationDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site: Option<&'a str>,
    zones: Vec<ZoneDoc<'a>>,
}

/// Where an event happened, as JSON object text (`location`, `site`,
/// `zones`): what the incident stage shows for alerts no event carries.
pub fn place_json(scene: &Scene<'_>) -> Vec<u8> {
    serde_json::to_vec(&PlaceDoc {
        location: location_doc(scene.location),
        site: scene.site,
        zones: scene.zone_docs(),
    })
    .expect("place documents always serialise")
}

/// What the listed entry and its list say about a hit.
pub struct Listing<'a> {
    pub entry: &'a Entry,
    pub list: &'a str,
    /// The listed plate or pattern as text.
    pub listed: &'a str,
    /// The list's (or entry's) priority before the match strength demotes it.
    pub base_priority: u8,
    /// The rule that set `base_priority`, in words.
    pub base_rule: String,
    /// Levels the match score lowers it (`PriorityConfig::demotion`).
    pub demotion: u8,
}

fn how_matched(hit: &Hit, listed: &str) -> String {
    let subs = hit
        .substitutions()
        .iter()
        .map(|s| {
            format!(
                "{} read for {} at position {}",
                s.read as char,
                s.listed as char,
                s.pos + 1
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    match hit.kind {
        MatchKind::Exact => "exact match".into(),
        MatchKind::Lookalike => format!("look-alike match ({subs})"),
        MatchKind::Edge => format!(
            "edge match ({})",
            match hit.edge.map(|e| e.as_str()) {
                Some("dropped_first") => "first character not read",
                Some("dropped_last") => "last character not read",
                Some("extra_first") => "an extra first character read",
                _ => "an extra last character read",
            }
        ),
        MatchKind::Pattern => format!("matches the partial plate {listed}"),
        MatchKind::Candidate => "the camera's alternative reading matches".into(),
    }
}

/// A plate read that matched a listed entry (exactly or not: `hit` says how).
pub fn plate_hit(
    event_id: &str,
    ts_ms: i64,
    now_ms: i64,
    read: &PlateRead<'_>,
    hit: &Hit,
    listing: &Listing<'_>,
    scene: &Scene<'_>,
) -> Alert {
    let Listing {
        entry,
        list,
        listed,
        base_priority,
        ref base_rule,
        demotion,
    } = *listing;
    let priority = crate::priority::shift(base_priority, -i16::from(demotion));
    let plate = listed;
    let alert_id = stable_id("hit", &[event_id, &read.camera_id, &entry.entry_id]);
    let incident_key = format!(
        "plate_hit:{}:{}:{}",
        entry.entry_id,
        read.plate.as_str(),
        hit.kind.as_str()
    );
    let mut reasons = vec![
        format!("plate {plate} is on list {list} (entry {})", entry.entry_id),
        format!(
            "read as {:?} by camera {}: {}, score {:.2}",
            read.plate_raw,
            read.camera_id,
            how_matched(hit, listed),
            hit.score
        ),
    ];
    if hit.corroboration & corroboration::CANDIDATE != 0 && hit.kind != MatchKind::Candidate {
        reasons.push("the camera's alternative reading is the listed plate".into());
    }
    if hit.corroboration & corroboration::VEHICLE != 0 {
        reasons.push("make/colour agree with the entry".into());
    }
    if hit.corroboration & corroboration::VEHICLE_MISMATCH != 0 {
        reasons.push("make/colour differ from the entry".into());
    }
    reasons.push(base_rule.clone());
    if priority != base_priority {
        reasons.push(format!(
            "the match alone is weak evidence (score {:.2}): P{base_priority} -> P{priority}",
            hit.score
        ));
    }
    let mut corroborated_by = Vec::new();
    let mut contradicted_by = Vec::new();
    if hit.corroboration & corroboration::CANDIDATE != 0 {
        corroborated_by.push("candidate");
    }
    if hit.corroboration & corroboration::VEHICLE != 0 {
        corroborated_by.push("vehicle");
    }
    if hit.corroboration & corroboration::VEHICLE_MISMATCH != 0 {
        contradicted_by.push("vehicle");
    }
    let details = HitDetails {
        entry_id: &entry.entry_id,
        list,
        listed_plate: plate,
        note: entry.note.as_deref(),
        read_plate: &read.plate_raw,
        normalized_plate: read.plate.as_str(),
        match_: MatchDoc {
            kind: hit.kind.as_str(),
            // Three decimals: a stable, readable document.
            score: (f64::from(hit.score) * 1000.0).round() / 1000.0,
            substitutions: hit
                .substitutions()
                .iter()
                .map(|s| SubDoc {
                    position: s.pos + 1,
                    read: s.read as char,
                    listed: s.listed as char,
                })
                .collect(),
            edge: hit.edge.map(|e| e.as_str()),
            corroborated_by,
            contradicted_by,
        },
        camera_id: &read.camera_id,
        confidence: read.confidence,
        heading_deg: read.heading_deg,
        vehicle: vehicle_doc(read),
        image_ref: read.image_ref.as_deref(),
    };
    build(
        Head {
            kind: AlertKind::PlateHit,
            alert_id,
            incident_key,
            priority,
            score: details.match_.score,
            reasons,
            event_id,
            ts_ms,
            now_ms,
        },
        scene,
        details,
    )
}

/// A button press, or a device's tamper report (`kind` `ButtonPress` or
/// `DeviceTamper`).
pub fn device_alert(
    kind: AlertKind,
    event_id: &str,
    ts_ms: i64,
    now_ms: i64,
    press: &ButtonPress<'_>,
    priority: u8,
    scene: &Scene<'_>,
) -> Alert {
    let device_kind = press.device_kind.as_str();
    let (prefix, what) = match kind {
        AlertKind::DeviceTamper => ("tamper", "reports tampering"),
        _ => ("btn", "was pressed"),
    };
    let alert_id = stable_id(prefix, &[event_id, &press.device_id]);
    let incident_key = format!("{}:{}", kind.as_str(), press.device_id);
    let reasons = vec![
        format!("{device_kind} button {} {what}", press.device_id),
        match kind {
            AlertKind::DeviceTamper => format!("tampering pages at P{priority}"),
            _ => format!("{device_kind} buttons page at P{priority}"),
        },
    ];
    build(
        Head {
            kind,
            alert_id,
            incident_key,
            priority,
            score: 1.0,
            reasons,
            event_id,
            ts_ms,
            now_ms,
        },
        scene,
        ButtonDetails {
            device_id: &press.device_id,
            device_kind,
            action: press.action.as_str(),
        },
    )
}

#[derive(Serialize)]
struct RestrictedDetails<'a> {
    zone_id: &'a str,
    allow_list: &'a str,
    read_plate: &'a str,
    normalized_plate: &'a str,
    camera_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    heading_deg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vehicle: Option<VehicleDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_ref: Option<&'a str>,
}

/// A read, inside a restricted zone, of a plate not on the zone's allow list.
#[allow(clippy::too_many_arguments)]
pub fn restricted_zone(
    event_id: &str,
    ts_ms: i64,
    now_ms: i64,
    read: &PlateRead<'_>,
    zone: &Zone,
    allow_list: &str,
    priority: u8,
    scene: &Scene<'_>,
) -> Alert {
    let alert_id = stable_id("zone", &[event_id, &read.camera_id, &zone.zone_id]);
    let plate = read.plate.as_str();
    let incident_key = format!("restricted_zone:{}:{plate}", zone.zone_id);
    let name = if zone.name.is_empty() {
        &zone.zone_id
    } else {
        &zone.name
    };
    let reasons = vec![
        format!(
            "plate {plate} (read as {:?} by camera {}) is not on allow list {allow_list} of restricted zone {name}",
            read.plate_raw, read.camera_id
        ),
        format!("plates not on a restricted zone's allow list page at P{priority}"),
    ];
    build(
        Head {
            kind: AlertKind::RestrictedZone,
            alert_id,
            incident_key,
            priority,
            // The read may be a misread of an authorised plate: as sure as the read.
            score: read.confidence.map_or(1.0, crate::incidents::round6),
            reasons,
            event_id,
            ts_ms,
            now_ms,
        },
        scene,
        RestrictedDetails {
            zone_id: &zone.zone_id,
            allow_list,
            read_plate: &read.plate_raw,
            normalized_plate: plate,
            camera_id: &read.camera_id,
            confidence: read.confidence,
            heading_deg: read.heading_deg,
            vehicle: vehicle_doc(read),
            image_ref: read.image_ref.as_deref(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_separate_parts() {
        assert_ne!(stable_id("x", &["ab", "c"]), stable_id("x", &["a", "bc"]));
        assert_eq!(stable_id("x", &["a"]), stable_id("x", &["a"]));
        assert_eq!(stable_id("x", &["a"]).len(), 18);
    }
}
