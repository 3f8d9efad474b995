//! Reading a GeoJSON FeatureCollection without building a `serde_json::Value`
//! for every coordinate: positions become `(lon, lat)` pairs as they are parsed
//! (a `Value` per number and a `Vec` per position cost about half of a load).
//! Everything but the geometries stays a `Value`, so feature properties are
//! read as before. Nothing here rejects a document that parses as JSON: the
//! caller checks the shapes and words the errors.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// The document: its members but `features` (`Null` if it is not an object),
/// and `features` apart.
pub(super) struct Doc {
    pub(super) members: Value,
    pub(super) features: Option<Features>,
}

pub(super) enum Features {
    /// Each feature's members but `geometry` (`Null` if it is not an
    /// object), and its geometry.
    List(Vec<(Value, Geometry)>),
    NotAList,
}

pub(super) enum Geometry {
    Missing,
    NotAnObject,
    Object {
        kind: Option<Value>,
        coordinates: Option<Coords>,
    },
}

/// Coordinates as parsed: an array whose first two items are numbers is a
/// position (items after the second are ignored, as GeoJSON allows); a
/// non-empty array of positions only (a ring) is kept flat.
#[derive(Clone, Debug)]
pub(super) enum Coords {
    Num(f64),
    Pos(f64, f64),
    Ring(Vec<(f64, f64)>),
    List(Vec<Coords>),
    Other,
}

impl Coords {
    /// The items, when an array (a position is the array of its numbers).
    pub(super) fn as_list(&self) -> Option<Cow<'_, [Coords]>> {
        match self {
            Coords::List(v) => Some(Cow::Borrowed(v)),
            Coords::Ring(v) => Some(Cow::Owned(
                v.iter().map(|&(x, y)| Coords::Pos(x, y)).collect(),
            )),
            &Coords::Pos(x, y) => Some(Cow::Owned(vec![Coords::Num(x), Coords::Num(y)])),
            Coords::Num(_) | Coords::Other => None,
        }
    }
}

/// Reads and drops any value; `$out` for every kind but maps and arrays.
macro_rules! scalars {
    ($out:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
    };
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a GeoJSON document")
            }
            scalars!(Doc {
                members: Value::Null,
                features: None
            });
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Doc, A::Error> {
                skip_seq(seq)?;
                Ok(Doc {
                    members: Value::Null,
                    features: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
                let (mut members, mut features) = (Map::new(), None);
                while let Some(key) = map.next_key::<String>()? {
                    if key == "features" {
                        features = Some(map.next_value()?);
                    } else {
                        members.insert(key, map.next_value()?);
                    }
                }
                Ok(Doc {
                    members: Value::Object(members),
                    features,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Features {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Features;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("GeoJSON features")
            }
            scalars!(Features::NotAList);
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Features, A::Error> {
                skip_map(map)?;
                Ok(Features::NotAList)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Features, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(Feature(members, geometry)) = seq.next_element()? {
                    v.push((members, geometry));
                }
                Ok(Features::List(v))
            }
        }
        d.deserialize_any(V)
    }
}

struct Feature(Value, Geometry);

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Feature;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a GeoJSON feature")
            }
            scalars!(Feature(Value::Null, Geometry::Missing));
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Feature, A::Error> {
                skip_seq(seq)?;
                Ok(Feature(Value::Null, Geometry::Missing))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Feature, A::Error> {
                let (mut members, mut geometry) = (Map::new(), Geometry::Missing);
                while let Some(key) = map.next_key::<String>()? {
                    if key == "geometry" {
                        geometry = map.next_value()?;
                    } else {
                        members.insert(key, map.next_value()?);
                    }
                }
                Ok(Feature(Value::Object(members), geometry))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Geometry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Geometry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a GeoJSON geometry")
            }
            scalars!(Geometry::NotAnObject);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Geometry, A::Error> {
                skip_seq(seq)?;
                Ok(Geometry::NotAnObject)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Geometry, A::Error> {
                let (mut kind, mut coordinates) = (None, None);
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match &*key {
                        "type" => kind = Some(map.next_value()?),
                        "coordinates" => coordinates = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Geometry::Object { kind, coordinates })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Coords {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Coords;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("GeoJSON coordinates")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Coords, E> {
                Ok(Coords::Other)
            }
            fn visit_i64<E>(self, v: i64) -> Result<Coords, E> {
                Ok(Coords::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Coords, E> {
                Ok(Coords::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Coords, E> {
                Ok(Coords::Num(v))
            }
            fn visit_str<E>(self, _: &str) -> Result<Coords, E> {
                Ok(Coords::Other)
            }
            fn visit_unit<E>(self) -> Result<Coords, E> {
                Ok(Coords::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Coords, A::Error> {
                skip_map(map)?;
                Ok(Coords::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Coords, A::Error> {
                let mut items = match seq.next_element::<Coords>()? {
                    None => return Ok(Coords::List(Vec::new())),
                    Some(Coords::Pos(x, y)) => {
                        // A ring, as long as positions follow.
                        let mut ring = Vec::with_capacity(16);
                        ring.push((x, y));
                        loop {
                            match seq.next_element::<Coords>()? {
                                None => return Ok(Coords::Ring(ring)),
                                Some(Coords::Pos(x, y)) => ring.push((x, y)),
                                Some(other) => {
                                    let mut v: Vec<_> =
                                        ring.into_iter().map(|(x, y)| Coords::Pos(x, y)).collect();
                                    v.push(other);
                                    break v;
                                }
                            }
                        }
                    }
                    Some(Coords::Num(x)) => match seq.next_element::<Coords>()? {
                        Some(Coords::Num(y)) => {
                            skip_seq(seq)?;
                            return Ok(Coords::Pos(x, y));
                        }
                        second => std::iter::once(Coords::Num(x)).chain(second).collect(),
                    },
                    Some(first) => {
                        let mut v = Vec::with_capacity(8);
                        v.push(first);
                        v
                    }
                };
                while let Some(c) = seq.next_element()? {
                    items.push(c);
                }
                Ok(Coords::List(items))
            }
        }
        d.deserialize_any(V)
    }
}
