//! Where each event happened, and what the zones there do to its alerts.
//!
//! An event is placed by its sensor's registry entry when the sensor is fixed
//! and registered (its zones were computed once, when the registry was
//! loaded), else by its own coordinates (located per event). A sensor missing
//! from a loaded registry is rejected (`unknown_sensor`) or, if configured,
//! placed by its own coordinates.
//!
//! Zones then act on alerts at the event's time: a zone outside its `active`
//! windows does nothing; an active zone's `priority_boost` raises (or lowers)
//! priority, its `lists` drop hits on other lists, its `allow_list` makes any
//! other plate an alert; a per-list geofence (`list_zones` in the engine
//! config) drops a list's hits outside its zones.

use crate::config::{ConfigError, EngineConfig, UnknownSensor};
use crate::event::Location;
use crate::registry::{Registry, Sensor, SensorKind};
use crate::reject::{Reason, Reject};
use crate::zones::{Zone, Zones};
use chrono::Timelike;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Zone indices per sensor, flat: sensor `i` has `items[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug, Default)]
struct ZonesBySensor {
    offsets: Vec<u32>,
    items: Vec<u32>,
}

impl ZonesBySensor {
    fn build(sensors: &[Sensor], zones: &Zones) -> Self {
        let mut out = ZonesBySensor {
            offsets: Vec::with_capacity(sensors.len() + 1),
            items: Vec::new(),
        };
        out.offsets.push(0);
        for s in sensors {
            zones.locate_into(s.location.lat, s.location.lon, &mut out.items);
            out.offsets.push(out.items.len() as u32);
        }
        out
    }

    fn get(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.items[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// A registry with its sensors' zones.
#[derive(Clone, Debug)]
struct Located {
    registry: Registry,
    zones: ZonesBySensor,
}

/// Why a hit is not alerted in this place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// An active zone takes only other lists (the zone's index).
    ZoneLists(u32),
    /// The list alerts only inside its geofence, and the event is outside.
    ListGeofence,
}

/// Zones, registries and the geofences resolved against the zones. Immutable:
/// a reload builds a new one and the engine swaps it in between batches.
#[derive(Clone, Debug)]
pub struct Places {
    zones: Arc<Zones>,
    cameras: Option<Located>,
    devices: Option<Located>,
    /// Per list: a bit per zone where the list alerts.
    geofences: FxHashMap<String, Vec<u64>>,
    tz: chrono_tz::Tz,
    unknown: UnknownSensor,
    /// Boosts by zone kind (`[engine.priority] zones`).
    kind_boosts: std::collections::BTreeMap<String, i8>,
}

/// Where an event was placed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed<'p> {
    pub location: Option<Location>,
    /// The registry entry, when the sensor is registered.
    pub sensor: Option<&'p Sensor>,
}

impl Places {
    /// Places with no zones and no registries, for `config`.
    pub fn none(config: &EngineConfig) -> Result<Self, ConfigError> {
        Places::new(Arc::new(Zones::default()), None, None, config)
    }

    /// Resolve `config`'s geofences against `zones` (an unknown zone id is an
    /// error naming the key) and compute every registered sensor's zones.
    pub fn new(
        zones: Arc<Zones>,
        cameras: Option<Registry>,
        devices: Option<Registry>,
        config: &EngineConfig,
    ) -> Result<Self, ConfigError> {
        let mut geofences = FxHashMap::default();
        for (list, selectors) in &config.list_zones {
            let mut bits = vec![0u64; zones.len().div_ceil(64)];
            for sel in selectors {
                let picked: Vec<u32> = (0..zones.len() as u32)
                    .filter(|&i| {
                        let z = zones.zone(i);
                        match sel.strip_prefix("kind:") {
                            Some(kind) => z.kind == kind,
                            None => z.zone_id == *sel,
                        }
                    })
                    .collect();
                if picked.is_empty() {
                    return Err(ConfigError {
                        key: format!("list_zones.{list}"),
                        message: format!(
                            "{sel:?} matches no zone in the zones file ({} zones); use a zone_id \
                             from it or kind:<kind>",
                            zones.len()
                        ),
                    });
                }
                for i in picked {
                    bits[i as usize / 64] |= 1 << (i % 64);
                }
            }
            geofences.insert(list.clone(), bits);
        }
        let locate = |r: Registry| Located {
            zones: ZonesBySensor::build(r.sensors(), &zones),
            registry: r,
        };
        Ok(Places {
            cameras: cameras.map(locate),
            devices: devices.map(locate),
            zones,
            geofences,
            tz: config.tz()?,
            unknown: config.unknown_sensor,
            kind_boosts: config.priority.zones.clone(),
        })
    }

    pub fn zones(&self) -> &Zones {
        &self.zones
    }

    pub fn zone(&self, i: u32) -> &Zone {
        self.zones.zone(i)
    }

    /// The registry of `kind`, if loaded.
    pub fn registry(&self, kind: SensorKind) -> Option<&Registry> {
        match kind {
            SensorKind::Camera => self.cameras.as_ref(),
            SensorKind::Device => self.devices.as_ref(),
        }
        .map(|l| &l.registry)
    }

    /// Place an event from sensor `id`, carrying `own` coordinates or not; its
    /// zones are appended to `zones_out`.
    pub fn place(
        &self,
        kind: SensorKind,
        id: &str,
        own: Option<Location>,
        zones_out: &mut Vec<u32>,
    ) -> Result<Placed<'_>, Reject> {
        let located = match kind {
            SensorKind::Camera => self.cameras.as_ref(),
            SensorKind::Device => self.devices.as_ref(),
        };
        if let Some(l) = located {
            if let Some(i) = l.registry.find(id) {
                zones_out.extend_from_slice(l.zones.get(i));
                let sensor = l.registry.sensor(i);
                return Ok(Placed {
                    location: Some(sensor.location),
                    sensor: Some(sensor),
                });
            }
            if self.unknown == UnknownSensor::Reject {
                let what = match kind {
                    SensorKind::Camera => "camera",
                    SensorKind::Device => "device",
                };
                return Err(unknown(kind, what, id));
            }
        }
        self.place_point(own, zones_out);
        Ok(Placed {
            location: own,
            sensor: None,
        })
    }

    /// Zones of an event placed by its own coordinates (calls, mobile cameras).
    pub fn place_point(&self, own: Option<Location>, zones_out: &mut Vec<u32>) {
        if let Some(l) = own {
            self.zones.locate_into(l.lat, l.lon, zones_out);
        }
    }

    /// Keep the zones active at `ts_ms` (their `active` windows, in local time).
    pub fn retain_active(&self, zones: &mut Vec<u32>, ts_ms: i64) {
        let mut default_minute = None;
        zones.retain(|&i| {
            let z = self.zones.zone(i);
            if z.active.is_empty() {
                return true;
            }
            let minute = match z.timezone {
                Some(tz) => local_minute(tz, ts_ms),
                None => *default_minute.get_or_insert_with(|| local_minute(self.tz, ts_ms)),
            };
            z.active_at(minute)
        });
    }

    /// The boost that applies among `active` zones, with the zone giving it:
    /// the largest raise, or if no zone raises, the largest lowering. A zone's
    /// own `priority_boost` wins over its kind's.
    pub fn boost(&self, active: &[u32]) -> Option<(i8, u32)> {
        let boosts = active.iter().map(|&i| {
            let z = self.zones.zone(i);
            let kind = || self.kind_boosts.get(&z.kind).copied();
            (z.priority_boost.or_else(kind).unwrap_or(0), i)
        });
        let up = boosts.clone().filter(|b| b.0 > 0).max_by_key(|b| b.0);
        up.or_else(|| boosts.filter(|b| b.0 < 0).min_by_key(|b| b.0))
    }

    /// Why a hit on `list` is not alerted among `active` zones, if it is not.
    pub fn drops(&self, list: &str, active: &[u32]) -> Option<Dropped> {
        for &i in active {
            if let Some(lists) = &self.zones.zone(i).lists {
                if !lists.iter().any(|l| l == list) {
                    return Some(Dropped::ZoneLists(i));
                }
            }
        }
        let fence = self.geofences.get(list)?;
        let inside = active
            .iter()
            .any(|&i| fence[i as usize / 64] & (1 << (i % 64)) != 0);
        (!inside).then_some(Dropped::ListGeofence)
    }
}

#[cold]
fn unknown(kind: SensorKind, what: &str, id: &str) -> Reject {
    Reject::field(
        Reason::UnknownSensor,
        kind.id_column(),
        format!(
            "{what} {id:?} is not in the {what} registry; add it there, or set \
             unknown_sensor = \"accept\" to place such events by their own coordinates"
        ),
    )
}

/// Minute of the local day at `ts_ms` in `tz`.
fn local_minute(tz: chrono_tz::Tz, ts_ms: i64) -> u16 {
    chrono::DateTime::from_timestamp_millis(ts_ms).map_or(0, |t| {
        let local = t.with_timezone(&tz);
        (local.hour() * 60 + local.minute()) as u16
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(id: &str, x0: f64, y0: f64, x1: f64, y1: f64, extra: &str) -> String {
        format!(
            r#"{{"type":"Feature","properties":{{"zone_id":"{id}"{extra}}},"geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}"#
        )
    }

    fn zones() -> Arc<Zones> {
        let fc = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            [
                square("Q1", 0.0, 0.0, 2.0, 2.0, r#","kind":"sector""#),
                square(
                    "S1",
                    0.0,
                    0.0,
                    1.0,
                    1.0,
                    r#","kind":"school","priority_boost":1,"active":"06:00-18:00","timezone":"America/Bogota""#,
                ),
                square("H1", 1.0, 1.0, 2.0, 2.0, r#","kind":"hospital","lists":["amber_alert"],"priority_boost":-1"#),
            ]
            .join(",")
        );
        Arc::new(Zones::from_geojson(fc.as_bytes(), "z", None).unwrap())
    }

    fn cameras() -> Registry {
        Registry::from_csv(
            b"camera_id,lat,lon\nC-SCHOOL,0.5,0.5\nC-HOSP,1.5,1.5\n",
            "c.csv",
            SensorKind::Camera,
        )
        .unwrap()
    }

    fn ids(p: &Places, zones: &[u32]) -> Vec<String> {
        let mut v: Vec<_> = zones.iter().map(|&i| p.zone(i).zone_id.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn registered_sensors_are_placed_by_the_registry() {
        let p = Places::new(zones(), Some(cameras()), None, &EngineConfig::default()).unwrap();
        let mut z = Vec::new();
        let placed = p
            .place(
                SensorKind::Camera,
                "C-SCHOOL",
                Some(Location { lat: 9.0, lon: 9.0 }),
                &mut z,
            )
            .unwrap();
        assert_eq!(placed.location, Some(Location { lat: 0.5, lon: 0.5 }));
        assert_eq!(ids(&p, &z), ["Q1", "S1"]);
        let e = p
            .place(SensorKind::Camera, "C-NEW", None, &mut z)
            .unwrap_err();
        assert_eq!(
            (e.reason, e.field.as_deref()),
            (Reason::UnknownSensor, Some("camera_id"))
        );
        // No device registry: devices are placed by their own coordinates.
        z.clear();
        p.place(
            SensorKind::Device,
            "D1",
            Some(Location { lat: 1.5, lon: 1.5 }),
            &mut z,
        )
        .unwrap();
        assert_eq!(ids(&p, &z), ["H1", "Q1"]);
    }

    #[test]
    fn unknown_sensors_can_be_accepted() {
        let config = EngineConfig {
            unknown_sensor: UnknownSensor::Accept,
            ..EngineConfig::default()
        };
        let p = Places::new(zones(), Some(cameras()), None, &config).unwrap();
        let mut z = Vec::new();
        let own = Some(Location { lat: 0.5, lon: 1.5 });
        let placed = p
            .place(SensorKind::Camera, "MOBILE-1", own, &mut z)
            .unwrap();
        assert_eq!((placed.location, placed.sensor), (own, None));
        assert_eq!(ids(&p, &z), ["Q1"]);
    }

    #[test]
    fn windows_boosts_lists_and_geofences() {
        let config = EngineConfig {
            list_zones: [("stolen_plate".to_string(), vec!["kind:school".to_string()])].into(),
            ..EngineConfig::default()
        };
        let p = Places::new(zones(), Some(cameras()), None, &config).unwrap();
        let mut z = Vec::new();
        p.place(SensorKind::Camera, "C-SCHOOL", None, &mut z)
            .unwrap();
        // 2026-11-23 12:00 UTC is 07:00 in Bogota: the school is active.
        let (day, night) = (1_795_435_200_000, 1_795_435_200_000 + 12 * 3_600_000);
        let mut active = z.clone();
        p.retain_active(&mut active, day);
        assert_eq!(ids(&p, &active), ["Q1", "S1"]);
        assert_eq!(p.boost(&active).map(|b| b.0), Some(1));
        assert_eq!(p.drops("stolen_plate", &active), None);
        let mut active = z.clone();
        p.retain_active(&mut active, night);
        assert_eq!(ids(&p, &active), ["Q1"], "19:00 in Bogota: school closed");
        assert_eq!(p.boost(&active), None);
        assert_eq!(
            p.drops("stolen_plate", &active),
            Some(Dropped::ListGeofence)
        );
        assert_eq!(p.drops("wanted", &active), None, "no geofence on wanted");

        let mut z = Vec::new();
        p.place(SensorKind::Camera, "C-HOSP", None, &mut z).unwrap();
        let h1 = z.iter().copied().find(|&i| p.zone(i).zone_id == "H1");
        assert_eq!(p.drops("wanted", &z), h1.map(Dropped::ZoneLists));
        assert_eq!(p.drops("amber_alert", &z), None);
        assert_eq!(p.boost(&z).map(|b| b.0), Some(-1), "only a lowering");
    }

    #[test]
    fn geofences_name_unknown_zones() {
        let config = EngineConfig {
            list_zones: [("wanted".to_string(), vec!["Q9".to_string()])].into(),
            ..EngineConfig::default()
        };
        let e = Places::new(zones(), None, None, &config).unwrap_err();
        assert_eq!(e.key, "list_zones.wanted");
        assert!(e.message.contains("\"Q9\" matches no zone"), "{e}");
        assert!(Places::none(&config).is_err(), "no zones: nowhere to alert");
    }
}
