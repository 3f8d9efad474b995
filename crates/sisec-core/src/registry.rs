//! Sensor registries: where every fixed camera and alarm button is.
//!
//! Cameras (`camera_id`, `lat`, `lon`, optional `heading_deg`, `site`,
//! `municipality`, `region`) and button devices (`device_id`, `device_kind`,
//! `lat`, `lon`, optional `site`, `municipality`) come from CSV; other columns
//! are ignored and `#` starts a comment line. A bad row fails the load with the
//! file, the line and what to do: a registry is small and curated, and a sensor
//! silently left out would turn all its events into rejects.

use crate::event::{DeviceKind, Location};
use rustc_hash::FxHashMap;
use std::fmt;

/// Which registry: cameras or button devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorKind {
    Camera,
    Device,
}

impl SensorKind {
    /// The id column (and the event field holding the id).
    pub const fn id_column(self) -> &'static str {
        match self {
            SensorKind::Camera => "camera_id",
            SensorKind::Device => "device_id",
        }
    }

    const fn what(self) -> &'static str {
        match self {
            SensorKind::Camera => "camera",
            SensorKind::Device => "device",
        }
    }
}

/// One fixed sensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Sensor {
    pub id: String,
    pub location: Location,
    pub heading_deg: Option<f64>,
    pub site: String,
    pub municipality: String,
    /// Watchlist region of the place (`CO-ANT`, `MX-CMX`); empty if unknown.
    pub region: String,
    /// Devices only: the kind of button.
    pub device_kind: Option<DeviceKind>,
}

/// Why a registry could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryError {
    pub source: String,
    /// 1-based line of the CSV file, when about one row.
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for RegistryError {}

/// Sensors of one kind, by id.
#[derive(Clone, Debug)]
pub struct Registry {
    kind: SensorKind,
    sensors: Vec<Sensor>,
    by_id: FxHashMap<String, u32>,
}

impl Registry {
    /// An empty registry.
    pub fn new(kind: SensorKind) -> Self {
        Registry {
            kind,
            sensors: Vec::new(),
            by_id: FxHashMap::default(),
        }
    }

    /// Parse a registry CSV; the first bad row fails the load.
    pub fn from_csv(data: &[u8], source: &str, kind: SensorKind) -> Result<Self, RegistryError> {
        let fail = |line: Option<u64>, message: String| RegistryError {
            source: source.to_owned(),
            line,
            message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .flexible(false)
            .from_reader(data);
        let headers = reader
            .headers()
            .map_err(|e| fail(Some(1), format!("cannot read the header: {e}")))?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h.trim() == name);
        let required = match kind {
            SensorKind::Camera => &["camera_id", "lat", "lon"][..],
            SensorKind::Device => &["device_id", "device_kind", "lat", "lon"][..],
        };
        for name in required {
            if col(name).is_none() {
                return Err(fail(
                    Some(1),
                    format!(
                        "the header has no {name} column; a {} registry needs {}",
                        kind.what(),
                        required.join(", ")
                    ),
                ));
            }
        }
        let (id_c, lat_c, lon_c) = (
            col(kind.id_column()).unwrap_or(0),
            col("lat").unwrap_or(0),
            col("lon").unwrap_or(0),
        );
        let (heading_c, site_c, muni_c, region_c, dk_c) = (
            col("heading_deg"),
            col("site"),
            col("municipality"),
            col("region"),
            col("device_kind"),
        );
        let mut reg = Registry::new(kind);
        let mut first_line: FxHashMap<String, u64> = FxHashMap::default();
        for row in reader.records() {
            let row = row.map_err(|e| {
                let line = e.position().map(|p| p.line());
                fail(line, format!("not a valid CSV row: {e}"))
            })?;
            let line = row.position().map_or(0, |p| p.line());
            let field = |c: Option<usize>| c.and_then(|c| row.get(c)).unwrap_or("").trim();
            let bad = |m: String| fail(Some(line), m);
            let id = field(Some(id_c));
            if id.is_empty() || id.len() > 64 {
                return Err(bad(format!(
                    "{} must be 1 to 64 characters",
                    kind.id_column()
                )));
            }
            if let Some(prev) = first_line.insert(id.to_owned(), line) {
                return Err(bad(format!(
                    "{} {id} is already on line {prev}; each {} appears once",
                    kind.id_column(),
                    kind.what()
                )));
            }
            let number = |c: usize, name: &str, lo: f64, hi: f64| -> Result<f64, RegistryError> {
                field(Some(c))
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && (lo..=hi).contains(v))
                    .ok_or_else(|| {
                        bad(format!(
                            "{name} {:?} is not a number in {lo}..{hi}",
                            field(Some(c))
                        ))
                    })
            };
            let location = Location {
                lat: number(lat_c, "lat", -90.0, 90.0)?,
                lon: number(lon_c, "lon", -180.0, 180.0)?,
            };
            let heading_deg = match heading_c.map(|c| field(Some(c))) {
                None | Some("") => None,
                Some(_) => Some(number(heading_c.unwrap_or(0), "heading_deg", 0.0, 360.0)?),
            };
            let device_kind = match kind {
                SensorKind::Camera => None,
                SensorKind::Device => {
                    let text = field(dk_c);
                    Some(DeviceKind::parse(text).ok_or_else(|| {
                        bad(format!(
                            "device_kind {text:?} is not {}",
                            DeviceKind::expected()
                        ))
                    })?)
                }
            };
            reg.insert(Sensor {
                id: id.to_owned(),
                location,
                heading_deg,
                site: field(site_c).to_owned(),
                municipality: field(muni_c).to_owned(),
                region: field(region_c).to_owned(),
                device_kind,
            });
        }
        Ok(reg)
    }

    fn insert(&mut self, sensor: Sensor) {
        let i = self.sensors.len() as u32;
        self.by_id.insert(sensor.id.clone(), i);
        self.sensors.push(sensor);
    }

    /// The sensor's index, by id.
    pub fn find(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    pub fn sensor(&self, i: u32) -> &Sensor {
        &self.sensors[i as usize]
    }

    pub fn sensors(&self) -> &[Sensor] {
        &self.sensors
    }

    pub fn kind(&self) -> SensorKind {
        self.kind
    }

    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_load_with_optional_and_extra_columns() {
        let csv = b"camera_id,lat,lon,heading_deg,site,municipality,kind\n\
# a comment\n\
CAM-1,6.25,-75.57,90,Av. 80,Medellin,fixed\n\
CAM-2,6.26,-75.58,,Calle 10,,arch\n";
        let r = Registry::from_csv(csv, "cameras.csv", SensorKind::Camera).unwrap();
        assert_eq!(r.len(), 2);
        let c = r.sensor(r.find("CAM-1").unwrap());
        assert_eq!((c.location.lat, c.location.lon), (6.25, -75.57));
        assert_eq!(
            (c.heading_deg, c.site.as_str(), c.municipality.as_str()),
            (Some(90.0), "Av. 80", "Medellin")
        );
        assert_eq!(r.sensor(r.find("CAM-2").unwrap()).heading_deg, None);
        assert_eq!(r.find("CAM-3"), None);
    }

    #[test]
    fn devices_need_a_known_kind() {
        let ok = b"device_id,device_kind,lat,lon,site\nD1,panic,6.2,-75.5,Tienda\n";
        let r = Registry::from_csv(ok, "devices.csv", SensorKind::Device).unwrap();
        assert_eq!(r.sensor(0).device_kind, Some(DeviceKind::Panic));
        let bad = b"device_id,device_kind,lat,lon\nD1,panik,6.2,-75.5\n";
        let e = Registry::from_csv(bad, "devices.csv", SensorKind::Device).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e
            .to_string()
            .starts_with("devices.csv line 2: device_kind \"panik\""));
    }

    #[test]
    fn bad_rows_name_file_line_and_fix() {
        let cases: [(&[u8], Option<u64>, &str); 5] = [
            (
                b"camera,lat,lon\nC1,6,-75\n",
                Some(1),
                "no camera_id column",
            ),
            (
                b"camera_id,lat,lon\nC1,6,-75\nC1,6,-75\n",
                Some(3),
                "already on line 2",
            ),
            (b"camera_id,lat,lon\nC1,96,-75\n", Some(2), "lat \"96\""),
            (b"camera_id,lat,lon\nC1,6,abc\n", Some(2), "lon \"abc\""),
            (b"camera_id,lat,lon\n,6,-75\n", Some(2), "camera_id must be"),
        ];
        for (data, line, text) in cases {
            let e = Registry::from_csv(data, "c.csv", SensorKind::Camera).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(text), "{e} lacks {text}");
        }
        let ragged = b"camera_id,lat,lon\nC1,6,-75,extra\n";
        let e = Registry::from_csv(ragged, "c.csv", SensorKind::Camera).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }
}
