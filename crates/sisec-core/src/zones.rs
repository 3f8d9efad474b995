//! Zones (geofences): police quadrants, school perimeters, restricted areas.
//!
//! Loaded from a GeoJSON FeatureCollection of Polygon and MultiPolygon features
//! (holes included); every invalid geometry fails the load with the feature's
//! index, its `zone_id` and what to do. `locate` returns every zone containing a
//! point. **Boundary rule:** a zone is closed, so a point exactly on an edge or a
//! vertex of a zone's outer ring or of one of its holes is inside the zone (what
//! shapely calls `covers`): a car on the line between two quadrants belongs to
//! both, never to neither.
//!
//! The index (`index`) is a uniform grid over the zones' extent. Each cell keeps
//! the zones that cover it entirely (no test needed) and, per polygon whose
//! boundary comes near it, only the edges near the cell, so a lookup is one cell
//! read plus a few edge tests near boundaries.

mod geojson;
mod geometry;
mod index;

use geojson::{Coords, Features, Geometry};
use geometry::{check_ring, Polygon};
use index::Index;
use serde_json::Value;
use std::fmt;

/// One zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    pub zone_id: String,
    pub name: String,
    pub kind: String,
    /// Levels this zone raises (+) or lowers (-) priorities; `None`: its
    /// kind's boost from `[engine.priority] zones` applies.
    pub priority_boost: Option<i8>,
    /// Local time windows `[start, end)` in minutes of the day (end < start wraps).
    pub active: Vec<(u16, u16)>,
    /// Only hits on these lists alert here (`None`: every list).
    pub lists: Option<Vec<String>>,
    /// A restricted zone: plates NOT on this allow list alert.
    pub allow_list: Option<String>,
    /// The time zone of `active` (IANA name); `None`: the engine's.
    pub timezone: Option<chrono_tz::Tz>,
}

/// Why zones could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonesError {
    pub source: String,
    /// Index of the feature in the collection, when about one feature.
    pub feature: Option<usize>,
    pub zone_id: Option<String>,
    pub message: String,
}

impl fmt::Display for ZonesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.feature, &self.zone_id) {
            (Some(i), Some(id)) => {
                write!(f, "{} feature {i} ({id}): {}", self.source, self.message)
            }
            (Some(i), None) => write!(f, "{} feature {i}: {}", self.source, self.message),
            _ => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for ZonesError {}

/// Where zones are expected (lon/lat box): a geometry outside it that would fall
/// inside with lat and lon swapped is reported as swapped.
pub type BBox = (f64, f64, f64, f64);

/// A set of zones with its point index.
#[derive(Clone, Debug, Default)]
pub struct Zones {
    zones: Vec<Zone>,
    polygons: Vec<Polygon>,
    index: Index,
}

/// Parse `HH:MM-HH:MM[,HH:MM-HH:MM...]`.
pub fn parse_windows(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
    };
    s.split(',')
        .map(|w| {
            let (a, b) = w.split_once('-').ok_or(())?;
            Ok((minute(a).ok_or(())?, minute(b).ok_or(())?))
        })
        .collect::<Result<Vec<_>, ()>>()
        .map_err(|()| format!("active {s:?} must be windows like 07:00-18:00 (comma-separated)"))
}

impl Zone {
    /// Is the zone active at `minute` of the local day?
    pub fn active_at(&self, minute: u16) -> bool {
        self.active.is_empty()
            || self.active.iter().any(|&(a, b)| {
                if a <= b {
                    a <= minute && minute < b
                } else {
                    minute >= a || minute < b
                }
            })
    }
}

fn parse_ring(v: &Coords, what: &str, bbox: Option<BBox>) -> Result<Vec<(f64, f64)>, String> {
    let list;
    let positions: Vec<Option<(f64, f64)>>;
    let arr: &mut dyn Iterator<Item = Option<(f64, f64)>> = match v {
        // The usual case: every item a position.
        Coords::Ring(r) => &mut r.iter().copied().map(Some),
        _ => {
            list = v
                .as_list()
                .ok_or_else(|| format!("{what} must be an array of [lon, lat] positions"))?;
            positions = list
                .iter()
                .map(|pos| match *pos {
                    Coords::Pos(x, y) => Some((x, y)),
                    _ => None,
                })
                .collect();
            &mut positions.iter().copied()
        }
    };
    let mut ring = Vec::with_capacity(arr.size_hint().0);
    for (k, xy) in arr.enumerate() {
        let (lon, lat) =
            xy.ok_or_else(|| format!("{what} position {k} must be [lon, lat] numbers"))?;
        if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
            let hint = if (-90.0..=90.0).contains(&lon) && (-180.0..=180.0).contains(&lat) {
                "; GeoJSON is [lon, lat]: are they swapped?"
            } else {
                ""
            };
            return Err(format!(
                "{what} position {k} [{lon}, {lat}] is out of range (lon -180..180, lat -90..90){hint}"
            ));
        }
        if let Some((x0, y0, x1, y1)) = bbox {
            let inb = |x: f64, y: f64| x >= x0 && x <= x1 && y >= y0 && y <= y1;
            if !inb(lon, lat) && inb(lat, lon) {
                return Err(format!(
                    "{what} position {k} [{lon}, {lat}] lies outside the expected area but \
                     inside it with lat and lon swapped; GeoJSON is [lon, lat]"
                ));
            }
        }
        ring.push((lon, lat));
    }
    check_ring(&ring, what)?;
    Ok(ring)
}

fn string_prop(props: &Value, key: &str) -> Result<Option<String>, String> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("property {key} must be a string, not {other}")),
    }
}

impl Zones {
    /// Parse a GeoJSON FeatureCollection; `bbox` (lon0, lat0, lon1, lat1), when
    /// given, catches swapped coordinates.
    pub fn from_geojson(
        data: &[u8],
        source: &str,
        bbox: Option<BBox>,
    ) -> Result<Zones, ZonesError> {
        let err = |feature: Option<usize>, zone_id: Option<String>, message: String| ZonesError {
            source: source.to_owned(),
            feature,
            zone_id,
            message,
        };
        let doc: geojson::Doc = serde_json::from_slice(data)
            .map_err(|e| err(None, None, format!("not valid JSON: {e}")))?;
        if doc.members.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
            return Err(err(
                None,
                None,
                "must be a GeoJSON FeatureCollection".into(),
            ));
        }
        let Some(Features::List(features)) = &doc.features else {
            return Err(err(
                None,
                None,
                "a FeatureCollection needs a features array".into(),
            ));
        };
        let mut zones = Zones::default();
        let mut seen = std::collections::HashMap::new();
        for (i, (f, geometry)) in features.iter().enumerate() {
            let props = f.get("properties").cloned().unwrap_or(Value::Null);
            let zone_id = props
                .get("zone_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let fail = |m: String| err(Some(i), zone_id.clone(), m);
            let id = zone_id
                .clone()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| {
                    fail("has no zone_id property; every zone needs a unique one".into())
                })?;
            if let Some(prev) = seen.insert(id.clone(), i) {
                return Err(fail(format!("zone_id is already used by feature {prev}")));
            }
            let s = |k: &str| string_prop(&props, k).map_err(&fail);
            let boost = match props.get("priority_boost") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .filter(|b| (-3..=3).contains(b))
                        .ok_or_else(|| fail("priority_boost must be a whole number -3..3".into()))?
                        as i8,
                ),
            };
            let active = match s("active")? {
                None => Vec::new(),
                Some(a) => parse_windows(&a).map_err(&fail)?,
            };
            let lists = match props.get("lists") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => Some(
                    a.iter()
                        .map(|x| x.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| fail("lists must be an array of list names".into()))?,
                ),
                Some(_) => return Err(fail("lists must be an array of list names".into())),
            };
            let zone = Zone {
                zone_id: id,
                name: s("name")?.unwrap_or_default(),
                kind: s("kind")?.unwrap_or_default(),
                priority_boost: boost,
                active,
                lists,
                allow_list: s("allow_list")?,
                timezone: match s("timezone")? {
                    None => None,
                    Some(tz) => Some(tz.parse::<chrono_tz::Tz>().map_err(|_| {
                        fail(format!(
                            "timezone {tz:?} is not an IANA time zone name \
                             (e.g. America/Bogota, America/Mexico_City)"
                        ))
                    })?),
                },
            };
            let (kind, coords) = match geometry {
                Geometry::Missing => return Err(fail("has no geometry".into())),
                Geometry::Object {
                    kind,
                    coordinates: Some(coords),
                } => (kind, coords),
                _ => return Err(fail("geometry has no coordinates".into())),
            };
            let multi;
            let polys: &[Coords] = match kind.as_ref().and_then(Value::as_str) {
                Some("Polygon") => std::slice::from_ref(coords),
                Some("MultiPolygon") => {
                    multi = coords
                        .as_list()
                        .ok_or_else(|| fail("MultiPolygon coordinates must be an array".into()))?;
                    &multi
                }
                other => {
                    return Err(fail(format!(
                        "geometry type {other:?} is not a zone; use Polygon or MultiPolygon"
                    )))
                }
            };
            let zi = zones.zones.len() as u32;
            for (pi, p) in polys.iter().enumerate() {
                let rings_v = p
                    .as_list()
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| fail(format!("polygon {pi} needs an outer ring")))?;
                let mut rings = Vec::with_capacity(rings_v.len());
                for (ri, r) in rings_v.iter().enumerate() {
                    let what = if ri == 0 {
                        format!("polygon {pi} outer ring")
                    } else {
                        format!("polygon {pi} hole {ri}")
                    };
                    rings.push(parse_ring(r, &what, bbox).map_err(&fail)?);
                }
                let outer = &rings[0];
                let bbox = outer.iter().fold(
                    (
                        f64::INFINITY,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        f64::NEG_INFINITY,
                    ),
                    |(a, b, c, d), &(x, y)| (a.min(x), b.min(y), c.max(x), d.max(y)),
                );
                zones.polygons.push(Polygon {
                    zone: zi,
                    rings,
                    bbox,
                });
            }
            zones.zones.push(zone);
        }
        zones.index = Index::build(&zones.polygons);
        Ok(zones)
    }

    /// Every zone covering (lat, lon), by index, appended to `out` (no repeats).
    pub fn locate_into(&self, lat: f64, lon: f64, out: &mut Vec<u32>) {
        self.index.locate_into(&self.polygons, lat, lon, out);
    }

    /// `locate_into` for many points (`lats[i]`, `lons[i]`), faster than one at
    /// a time (memory is fetched ahead): for each point `i`, in order, and each
    /// zone `z` covering it, `i` is appended to `points` and `z` to `zones`.
    /// Extra elements of the longer slice are ignored.
    pub fn locate_many(
        &self,
        lats: &[f64],
        lons: &[f64],
        points: &mut Vec<u32>,
        zones: &mut Vec<u32>,
    ) {
        self.index
            .locate_batch(&self.polygons, lats, lons, points, zones);
    }

    /// Every zone covering (lat, lon), by index.
    pub fn locate(&self, lat: f64, lon: f64) -> Vec<u32> {
        let mut v = Vec::new();
        self.locate_into(lat, lon, &mut v);
        v
    }

    pub fn zone(&self, i: u32) -> &Zone {
        &self.zones[i as usize]
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(id: &str, x0: f64, y0: f64, x1: f64, y1: f64, extra: &str) -> String {
        format!(
            r#"{{"type":"Feature","properties":{{"zone_id":"{id}"{extra}}},"geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}"#
        )
    }

    fn fc(features: &[String]) -> Vec<u8> {
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        )
        .into_bytes()
    }

    fn ids(z: &Zones, lat: f64, lon: f64) -> Vec<String> {
        let mut v: Vec<_> = z
            .locate(lat, lon)
            .iter()
            .map(|&i| z.zone(i).zone_id.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn nested_touching_and_boundary_points() {
        let z = Zones::from_geojson(
            &fc(&[
                square("A", 0.0, 0.0, 1.0, 1.0, ""),
                square("B", 1.0, 0.0, 2.0, 1.0, ""),
                square("ALL", -1.0, -1.0, 3.0, 2.0, r#","kind":"municipality""#),
            ]),
            "z.geojson",
            None,
        )
        .unwrap();
        assert_eq!(ids(&z, 0.5, 0.5), ["A", "ALL"]);
        assert_eq!(
            ids(&z, 0.5, 1.0),
            ["A", "ALL", "B"],
            "on the shared edge: both"
        );
        assert_eq!(ids(&z, 1.0, 1.0), ["A", "ALL", "B"], "on a shared vertex");
        assert_eq!(ids(&z, 1.5, 0.5), ["ALL"]);
        assert_eq!(ids(&z, 5.0, 5.0), Vec::<String>::new());
        assert_eq!(ids(&z, f64::NAN, 0.5), Vec::<String>::new());
    }

    #[test]
    fn holes_and_multipolygons() {
        let ring = |x0: f64, y0: f64, x1: f64, y1: f64| {
            format!("[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]")
        };
        let f = format!(
            r#"{{"type":"Feature","properties":{{"zone_id":"M"}},"geometry":{{"type":"MultiPolygon","coordinates":[[{},{}],[{}]]}}}}"#,
            ring(0.0, 0.0, 4.0, 4.0),
            ring(1.0, 1.0, 2.0, 2.0),
            ring(10.0, 10.0, 11.0, 11.0)
        );
        let z = Zones::from_geojson(&fc(&[f]), "z", None).unwrap();
        assert_eq!(ids(&z, 0.5, 0.5), ["M"]);
        assert_eq!(ids(&z, 1.5, 1.5), Vec::<String>::new(), "in the hole");
        assert_eq!(
            ids(&z, 1.0, 1.5),
            ["M"],
            "on the hole's edge: the zone is closed"
        );
        assert_eq!(ids(&z, 10.5, 10.5), ["M"], "the second polygon");
    }

    #[test]
    fn invalid_geometry_names_feature_and_fix() {
        let bad = |geom: &str| {
            let f = format!(
                r#"{{"type":"Feature","properties":{{"zone_id":"Z9"}},"geometry":{geom}}}"#
            );
            Zones::from_geojson(
                &fc(&[square("OK", 0.0, 0.0, 1.0, 1.0, ""), f]),
                "z.geojson",
                Some((-80.0, 0.0, -70.0, 10.0)),
            )
            .unwrap_err()
        };
        let e = bad(r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}"#);
        assert_eq!((e.feature, e.zone_id.as_deref()), (Some(1), Some("Z9")));
        assert!(
            e.to_string().starts_with("z.geojson feature 1 (Z9): "),
            "{e}"
        );
        assert!(e.message.contains("not closed"), "{e}");
        let e = bad(r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}"#);
        assert!(e.message.contains("at least 4"), "{e}");
        let e = bad(r#"{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}"#);
        assert!(e.message.contains("intersects itself"), "{e}");
        let e = bad(r#"{"type":"Polygon","coordinates":[[[0,0],[200,0],[1,1],[0,0]]]}"#);
        assert!(e.message.contains("out of range"), "{e}");
        let e = bad(
            r#"{"type":"Polygon","coordinates":[[[6.2,-75.6],[6.3,-75.6],[6.3,-75.5],[6.2,-75.6]]]}"#,
        );
        assert!(e.message.contains("swapped"), "{e}");
        let e = bad(r#"{"type":"Point","coordinates":[0,0]}"#);
        assert!(e.message.contains("Polygon or MultiPolygon"), "{e}");
        let dup = Zones::from_geojson(
            &fc(&[
                square("A", 0.0, 0.0, 1.0, 1.0, ""),
                square("A", 1.0, 0.0, 2.0, 1.0, ""),
            ]),
            "z",
            None,
        )
        .unwrap_err();
        assert!(dup.message.contains("already used by feature 0"), "{dup}");
        let e = Zones::from_geojson(b"{}", "z", None).unwrap_err();
        assert!(e.message.contains("FeatureCollection"));
    }

    /// Odd shapes of JSON are refused with the same messages as when the whole
    /// document was read into a `serde_json::Value`.
    #[test]
    fn odd_documents_and_geometries() {
        let msg = |doc: &str| {
            Zones::from_geojson(doc.as_bytes(), "z", None)
                .unwrap_err()
                .message
        };
        let one = |geom: &str| {
            msg(&format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"zone_id":"A"}},"geometry":{geom}}}]}}"#
            ))
        };
        assert!(msg("[1, 2]").contains("must be a GeoJSON FeatureCollection"));
        assert!(msg("null").contains("must be a GeoJSON FeatureCollection"));
        assert!(msg(r#"{"features":[]}"#).contains("must be a GeoJSON FeatureCollection"));
        assert!(
            msg(r#"{"type":"FeatureCollection","features":{}}"#).contains("needs a features array")
        );
        assert!(msg(r#"{"type":"FeatureCollection"}"#).contains("needs a features array"));
        assert!(msg(r#"{"type":"FeatureCollection","features":[1]}"#).contains("has no zone_id"));
        assert!(
            msg(r#"{"type":"FeatureCollection","features":[{"properties":{"zone_id":"A"}}]}"#)
                .contains("has no geometry")
        );
        assert!(msg(r#"{"type": "FeatureCollection", "features": [1,"#)
            .starts_with("not valid JSON: EOF"));
        assert!(one("null").contains("geometry has no coordinates"));
        assert!(one(r#"{"type":"Polygon"}"#).contains("geometry has no coordinates"));
        assert!(one(r#"{"type":"Polygon","coordinates":null}"#)
            .contains("polygon 0 needs an outer ring"));
        assert!(
            one(r#"{"type":"Polygon","coordinates":[]}"#).contains("polygon 0 needs an outer ring")
        );
        assert!(one(r#"{"type":"Polygon","coordinates":[0, 0]}"#)
            .contains("polygon 0 outer ring must be an array of [lon, lat] positions"));
        assert!(one(r#"{"type":"Polygon","coordinates":[[0, 0]]}"#)
            .contains("polygon 0 outer ring position 0 must be [lon, lat] numbers"));
        assert!(
            one(r#"{"type":"Polygon","coordinates":[[[0,0],[1,"a"],[1,1],[0,0]]]}"#)
                .contains("position 1 must be [lon, lat] numbers")
        );
        assert!(
            one(r#"{"type":"Polygon","coordinates":[[[0,0],[1],[1,1],[0,0]]]}"#)
                .contains("position 1 must be [lon, lat] numbers")
        );
        assert!(
            one(r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]],{}]}"#)
                .contains("polygon 0 hole 1 must be an array")
        );
        assert!(one(r#"{"type":"MultiPolygon","coordinates":3}"#)
            .contains("MultiPolygon coordinates must be an array"));
        assert!(
            one(r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]], 5]}"#)
                .contains("polygon 1 needs an outer ring")
        );
        assert!(one(r#"{"type":"LineString","coordinates":[[0,0],[1,1]]}"#)
            .contains("Polygon or MultiPolygon"));
        // Extra numbers in a position (altitude) and members are ignored.
        let z = Zones::from_geojson(
            br#"{"type":"FeatureCollection","bbox":[0,0,1,1],"features":[{"type":"Feature","id":7,"properties":{"zone_id":"A"},"geometry":{"type":"Polygon","bbox":[0,0,1,1],"coordinates":[[[0,0,5],[1,0,5,"x"],[1,1],[0,1],[0,0]]]}}]}"#,
            "z",
            None,
        )
        .unwrap();
        assert_eq!(ids(&z, 0.5, 0.5), ["A"]);
    }

    #[test]
    fn properties_and_windows() {
        let z = Zones::from_geojson(
            &fc(&[square(
                "S",
                0.0,
                0.0,
                1.0,
                1.0,
                r#","name":"Colegio","kind":"school","priority_boost":1,"active":"06:00-18:00","lists":["wanted"],"allow_list":"flota","timezone":"America/Bogota""#,
            )]),
            "z",
            None,
        )
        .unwrap();
        let s = z.zone(0);
        assert_eq!(
            (s.name.as_str(), s.kind.as_str(), s.priority_boost),
            ("Colegio", "school", Some(1))
        );
        assert_eq!(s.lists.as_deref(), Some(&["wanted".to_string()][..]));
        assert_eq!(s.allow_list.as_deref(), Some("flota"));
        assert_eq!(s.timezone, Some(chrono_tz::America::Bogota));
        let e = Zones::from_geojson(
            &fc(&[square("T", 0.0, 0.0, 1.0, 1.0, r#","timezone":"Bogota""#)]),
            "z",
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("IANA"), "{e}");
        assert!(s.active_at(6 * 60) && s.active_at(17 * 60 + 59) && !s.active_at(18 * 60));
        let night = Zone {
            active: parse_windows("22:00-06:00").unwrap(),
            ..s.clone()
        };
        assert!(night.active_at(23 * 60) && night.active_at(60) && !night.active_at(12 * 60));
        assert!(parse_windows("7-18").is_err());
        assert!(parse_windows("07:00-25:00").is_err());
    }

    /// A brute-force check of the grid index on random points and many zones.
    #[test]
    fn index_agrees_with_testing_every_polygon() {
        let mut feats = Vec::new();
        let mut x: u64 = 7;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1_000_000) as f64 / 1_000_000.0
        };
        for i in 0..500 {
            let (cx, cy, r) = (rnd() * 10.0, rnd() * 10.0, 0.05 + rnd() * 0.8);
            let n = 5 + (i % 20);
            let pts: Vec<String> = (0..=n)
                .map(|k| {
                    let a = std::f64::consts::TAU * (k % n) as f64 / n as f64;
                    format!("[{},{}]", cx + r * a.cos(), cy + r * a.sin())
                })
                .collect();
            feats.push(format!(
                r#"{{"type":"Feature","properties":{{"zone_id":"Z{i}"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}"#,
                pts.join(",")
            ));
        }
        let z = Zones::from_geojson(&fc(&feats), "z", None).unwrap();
        for _ in 0..50_000 {
            let (lon, lat) = (rnd() * 11.0 - 0.5, rnd() * 11.0 - 0.5);
            let mut got = z.locate(lat, lon);
            got.sort();
            let want: Vec<u32> = z
                .polygons
                .iter()
                .filter(|p| p.covers((lon, lat)))
                .map(|p| p.zone)
                .collect();
            assert_eq!(got, want, "({lat}, {lon})");
        }
    }
}
