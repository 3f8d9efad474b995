//! Criterion benchmarks of the core's hot paths, each beside a baseline:
//! `serde_json` skipping the same bytes (`IgnoredAny`: the least any JSON
//! parser must do) and deserialising into a `serde_json::Value`; the watchlist
//! at 1M entries beside a plain `FxHashMap` probe and a hash-map look-alike
//! expansion (issue 3).
//! Run: `make bench-rust` (cargo bench -p sisec-core --bench core); only the
//! watchlist groups: `cargo bench -p sisec-core --bench core -- watchlist_`;
//! only the zones (issue 4; the workload of `benches/test_bench_zones.py`,
//! without Python): `cargo bench -p sisec-core --bench core -- zones_`; only
//! the incident state (issue 5; the workload of `benches/test_bench_incidents.py`,
//! without Python): `cargo bench -p sisec-core --bench core -- incidents`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rustc_hash::{FxHashMap, FxHashSet};
use sisec_core::event::Location;
use sisec_core::incidents::{
    decode_batch, shard_of, IncidentConfig, Progress, ShardState, Sighting, Signal, SignalBatch,
};
use sisec_core::watchlist::{MatchKind, MatchMode, DEFAULT_GROUPS};
use sisec_core::AlertKind;
use sisec_core::{
    event::parse_event, Engine, EngineConfig, EntrySpec, Hit, Plate, ReadQuery, Watchlist,
    WatchlistConfig, Zones,
};
use std::hint::black_box;
use std::sync::Arc;

/// A deterministic plate generator (xorshift), no rand dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn plate(&mut self) -> String {
        const L: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
        let mut s = String::new();
        for _ in 0..3 {
            s.push(L[(self.next() % L.len() as u64) as usize] as char);
        }
        for _ in 0..3 {
            s.push((b'0' + (self.next() % 10) as u8) as char);
        }
        s
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A plate of a format: `L` any letter (Colombia), `M` a letter but I, O, Q
    /// (Mexico), `D` a digit.
    fn plate_of(&mut self, format: &str) -> String {
        const L: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        const M: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
        const D: &[u8] = b"0123456789";
        format
            .bytes()
            .map(|f| {
                let set = match f {
                    b'L' => L,
                    b'M' => M,
                    _ => D,
                };
                set[self.below(set.len())] as char
            })
            .collect()
    }
    /// A plate of the Medellín/Mexico City mix: every format is a default template.
    fn realistic_plate(&mut self) -> String {
        // co_car, co_moto, mx_private, mx_old: 40/30/20/10 %.
        let format = match self.below(10) {
            0..=3 => "LLLDDD",
            4..=6 => "LLLDDL",
            7 | 8 => "MMMDDDM",
            _ => "MMMDDDD",
        };
        self.plate_of(format)
    }
}

fn reads(n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"type":"plate_read","event_id":"pr-{i:09}","ts":"2026-11-23T07:00:01.234-05:00","camera_id":"MDE-LPR-0123","plate":"{}","confidence":0.93,"lat":6.251234,"lon":-75.563412,"heading_deg":90.0,"vehicle":{{"class":"car","make":"Renault","color":"white"}},"image_ref":"img/2026/11/23/pr-{i:09}.jpg"}}"#,
                rng.plate()
            )
            .into_bytes()
        })
        .collect()
}

fn watchlist(n: usize, rng: &mut Rng) -> Watchlist {
    let mut wl = Watchlist::new();
    for i in 0..n {
        let _ = wl.insert(EntrySpec {
            entry_id: format!("E{i}"),
            plate: rng.plate(),
            list: "stolen_vehicle".into(),
            ..Default::default()
        });
    }
    wl
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let events = reads(10_000, &mut rng);
    let slices: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
    let engine = Engine::with_watchlist(EngineConfig::default(), watchlist(100_000, &mut rng))
        .expect("default config");

    let mut g = c.benchmark_group("plate_reads");
    g.throughput(Throughput::Elements(slices.len() as u64));
    g.bench_function("engine_process_100k_watchlist", |b| {
        b.iter(|| black_box(engine.process(black_box(&slices), 0)))
    });
    g.bench_function("parse_event", |b| {
        b.iter(|| {
            for s in &slices {
                black_box(parse_event(black_box(s), 65_536).is_ok());
            }
        })
    });
    g.bench_function("baseline_serde_json_ignored_any", |b| {
        b.iter(|| {
            for s in &slices {
                black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(s)).is_ok());
            }
        })
    });
    g.bench_function("baseline_serde_json_value", |b| {
        b.iter_batched(
            || (),
            |()| {
                for s in &slices {
                    black_box(serde_json::from_slice::<serde_json::Value>(black_box(s)).is_ok());
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // Exact lookup of read plates (0.2 % listed) in a 100k-entry watchlist,
    // beside the plain hash-map probe it replaced.
    let listed: Vec<Plate> = (0..100_000)
        .map(|_| Plate::parse(&rng.plate()).unwrap())
        .collect();
    let mut wl = Watchlist::new();
    let mut plain: rustc_hash::FxHashMap<u64, u32> = Default::default();
    for (i, p) in listed.iter().enumerate() {
        let _ = wl.insert(EntrySpec {
            entry_id: format!("E{i}"),
            plate: p.to_string(),
            list: "stolen_vehicle".into(),
            ..Default::default()
        });
        plain.insert(p.key(), i as u32);
    }
    let reads: Vec<Plate> = (0..10_000)
        .map(|i| {
            if i % 500 == 0 {
                listed[i]
            } else {
                Plate::parse(&rng.plate()).unwrap()
            }
        })
        .collect();
    let mut g = c.benchmark_group("watchlist_exact_100k");
    g.throughput(Throughput::Elements(reads.len() as u64));
    g.bench_function("watchlist_exact_with_filter", |b| {
        b.iter(|| reads.iter().filter(|p| !wl.exact(p).is_empty()).count())
    });
    g.bench_function("baseline_fxhashmap_get", |b| {
        b.iter(|| {
            reads
                .iter()
                .filter(|p| plain.contains_key(&p.key()))
                .count()
        })
    });
    g.finish();
}

/// The generator's look-alike groups (`LOOKALIKE_GROUPS`): misreads are drawn
/// from these; the watchlist's defaults are a superset.
const GENERATOR_GROUPS: &[&str] = &[
    "0ODQ", "1IL", "2Z", "5S", "8B", "6G", "EF", "PR", "VY", "HKMN",
];

/// The other members of `c`'s group in `groups` (without weights).
fn lookalikes<'g>(groups: &'g [&'g str], c: u8) -> impl Iterator<Item = u8> + 'g {
    groups
        .iter()
        .map(|g| g.split(':').next().unwrap_or(g).as_bytes())
        .filter(move |g| g.contains(&c))
        .flat_map(move |g| g.iter().copied().filter(move |&x| x != c))
}

/// What a read is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ReadKind {
    /// A plate not on the list.
    Unlisted,
    /// A listed plate, read correctly.
    Exact,
    /// A listed plate misread: 3/4 one look-alike character (the generator's
    /// groups), the rest a dropped first or last character, as the Python
    /// generator's `misread` makes them.
    Misread,
}

/// `n` unique plates of the realistic mix: the listed ones, and the set of them.
fn listed_plates(rng: &mut Rng, n: usize) -> (Vec<String>, FxHashSet<String>) {
    let mut seen = FxHashSet::default();
    let mut listed = Vec::with_capacity(n);
    while listed.len() < n {
        let p = rng.realistic_plate();
        if seen.insert(p.clone()) {
            listed.push(p);
        }
    }
    (listed, seen)
}

fn read_of(rng: &mut Rng, listed: &[String], seen: &FxHashSet<String>, kind: ReadKind) -> Plate {
    let text = match kind {
        ReadKind::Unlisted => loop {
            let p = rng.realistic_plate();
            if !seen.contains(&p) {
                break p;
            }
        },
        ReadKind::Exact => listed[rng.below(listed.len())].clone(),
        ReadKind::Misread => {
            let mut b = listed[rng.below(listed.len())].clone().into_bytes();
            let r = rng.below(100);
            let positions: Vec<usize> = (0..b.len())
                .filter(|&j| lookalikes(GENERATOR_GROUPS, b[j]).next().is_some())
                .collect();
            if r < 76 && !positions.is_empty() {
                let j = positions[rng.below(positions.len())];
                let alts: Vec<u8> = lookalikes(GENERATOR_GROUPS, b[j]).collect();
                b[j] = alts[rng.below(alts.len())];
            } else if r < 88 {
                b.remove(0);
            } else {
                b.pop();
            }
            String::from_utf8(b).unwrap()
        }
    };
    Plate::parse(&text).unwrap()
}

/// The stream's mix: 97 % unlisted, 0.5 % listed read exactly, 2.5 % misreads.
fn mixed_reads(rng: &mut Rng, listed: &[String], seen: &FxHashSet<String>, n: usize) -> Vec<Plate> {
    (0..n)
        .map(|i| {
            let kind = match i % 200 {
                0 => ReadKind::Exact,
                1..=5 => ReadKind::Misread,
                _ => ReadKind::Unlisted,
            };
            read_of(rng, listed, seen, kind)
        })
        .collect()
}

fn build_watchlist(listed: &[String], config: &WatchlistConfig) -> Watchlist {
    let mut wl = Watchlist::with_config(config).unwrap();
    for (i, p) in listed.iter().enumerate() {
        wl.insert(EntrySpec {
            entry_id: format!("E{i:07}"),
            plate: p.clone(),
            list: "stolen_vehicle".into(),
            ..Default::default()
        })
        .unwrap();
    }
    wl
}

/// Base-37 key of plate bytes, as `Plate::key` computes it.
fn key_of(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |k, &c| {
        k * 37
            + match c {
                b'0'..=b'9' => u64::from(c - b'0') + 1,
                _ => u64::from(c - b'A') + 11,
            }
    })
}

/// The hash-map way to do what the watchlist does: probe the read, each
/// one-substitution look-alike variant (the watchlist's default groups), the read
/// with any symbol added at either end and without its first or last character.
fn expansion_hits(map: &FxHashMap<u64, u32>, table: &[Vec<u8>; 256], read: &[u8]) -> usize {
    const SYMBOLS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut hits = usize::from(map.contains_key(&key_of(read)));
    let mut buf = [0u8; 11];
    buf[..read.len()].copy_from_slice(read);
    for i in 0..read.len() {
        for &a in &table[usize::from(read[i])] {
            buf[i] = a;
            hits += usize::from(map.contains_key(&key_of(&buf[..read.len()])));
        }
        buf[i] = read[i];
    }
    if read.len() < 10 {
        let n = read.len();
        for &c in SYMBOLS {
            buf[0] = c;
            buf[1..=n].copy_from_slice(read);
            hits += usize::from(map.contains_key(&key_of(&buf[..=n])));
            buf[..n].copy_from_slice(read);
            buf[n] = c;
            hits += usize::from(map.contains_key(&key_of(&buf[..=n])));
        }
    }
    if read.len() > 2 {
        hits += usize::from(map.contains_key(&key_of(&read[1..])));
        hits += usize::from(map.contains_key(&key_of(&read[..read.len() - 1])));
    }
    hits
}

/// Issue 3: matching at 1M entries, per read (criterion's time / reads). Reads
/// are never repeated in a stream, so each iteration matches 100k distinct
/// reads: about as many cache lines of the indexes as the L3 cache holds.
fn bench_watchlist(c: &mut Criterion) {
    const ENTRIES: usize = 1_000_000;
    const READS: usize = 100_000;
    const BY_KIND: usize = READS;
    const AT_MS: i64 = 1_795_000_000_000;
    let mut rng = Rng(0x2026_1123_0000_0003);
    let (listed, seen) = listed_plates(&mut rng, ENTRIES);
    let reads = mixed_reads(&mut rng, &listed, &seen, READS);
    let exact_config = WatchlistConfig {
        max_substitutions: 0,
        edges: false,
        default_match: MatchMode::Exact,
        ..Default::default()
    };
    let exact = build_watchlist(&listed, &exact_config);
    let plain: FxHashMap<u64, u32> = listed
        .iter()
        .enumerate()
        .map(|(i, p)| (key_of(p.as_bytes()), i as u32))
        .collect();
    let mut out = Vec::new();
    // Like for like: the exact-only watchlist and the map agree on every read.
    let agree = reads.iter().all(|p| {
        out.clear();
        exact.match_read(&ReadQuery::plate(p, AT_MS), &mut out);
        out.len() == usize::from(plain.contains_key(&p.key()))
    });
    assert!(agree, "exact-only watchlist and hash map disagree");
    let match_all = |wl: &Watchlist, reads: &[Plate], out: &mut Vec<Hit>| {
        let mut n = 0;
        for p in reads {
            out.clear();
            wl.match_read(&ReadQuery::plate(p, AT_MS), out);
            n += out.len();
        }
        n
    };
    let map_get = |reads: &[Plate]| {
        reads
            .iter()
            .filter(|p| plain.contains_key(&p.key()))
            .count()
    };

    let mut g = c.benchmark_group("watchlist_exact_1m");
    g.throughput(Throughput::Elements(READS as u64));
    g.bench_function("match_read_exact_only", |b| {
        b.iter(|| match_all(&exact, black_box(&reads), &mut out))
    });
    g.bench_function("baseline_fxhashmap_get", |b| {
        b.iter(|| map_get(black_box(&reads)))
    });
    g.finish();
    drop(exact);

    let wl = build_watchlist(&listed, &WatchlistConfig::default());
    eprintln!(
        "watchlist_lookalike_1m: {} entries, memory_bytes {} ({:.1} B/entry), \
         size_of::<Entry>() {}",
        wl.len(),
        wl.memory_bytes(),
        wl.memory_bytes() as f64 / wl.len() as f64,
        std::mem::size_of::<sisec_core::watchlist::Entry>()
    );
    let by_kind = |rng: &mut Rng, kind| -> Vec<Plate> {
        (0..BY_KIND)
            .map(|_| read_of(rng, &listed, &seen, kind))
            .collect()
    };
    let unlisted = by_kind(&mut rng, ReadKind::Unlisted);
    let listed_exact = by_kind(&mut rng, ReadKind::Exact);
    let misreads = by_kind(&mut rng, ReadKind::Misread);
    // Every misread must be found, else the timing is of the wrong work.
    let found = misreads.iter().all(|p| {
        out.clear();
        wl.match_read(&ReadQuery::plate(p, AT_MS), &mut out);
        !out.is_empty()
    });
    assert!(found, "a misread of a listed plate was not matched");
    let mut table: [Vec<u8>; 256] = std::array::from_fn(|_| Vec::new());
    for (c, alts) in table.iter_mut().enumerate() {
        *alts = lookalikes(DEFAULT_GROUPS, c as u8).collect();
    }

    let mut g = c.benchmark_group("watchlist_lookalike_1m");
    g.throughput(Throughput::Elements(READS as u64));
    g.sample_size(30);
    g.bench_function("match_read_default_mix", |b| {
        b.iter(|| match_all(&wl, black_box(&reads), &mut out))
    });
    g.bench_function("baseline_fxhashmap_get", |b| {
        b.iter(|| map_get(black_box(&reads)))
    });
    g.bench_function("baseline_fxhashmap_expansion", |b| {
        b.iter(|| {
            black_box(&reads)
                .iter()
                .map(|p| expansion_hits(&plain, &table, p.as_str().as_bytes()))
                .sum::<usize>()
        })
    });
    g.finish();

    // Each kind of read alone (as many distinct reads as the mix).
    let mut g = c.benchmark_group("watchlist_lookalike_1m_by_read");
    g.throughput(Throughput::Elements(BY_KIND as u64));
    g.sample_size(30);
    for (name, reads) in [
        ("unlisted", &unlisted),
        ("listed_exact", &listed_exact),
        ("misread", &misreads),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| match_all(&wl, black_box(reads), &mut out))
        });
    }
    g.finish();
}

/// The zones of `benches/test_bench_zones.py` (same shapes and sizes, another
/// random stream): a `grid`×`grid` quadrant grid with shared edges over a 0.2°
/// box, `circles` circles of 24-48 vertices and `concave` 60-vertex star-like
/// polygons, as a GeoJSON FeatureCollection.
fn zones_geojson(circles: usize, grid: usize, concave: usize, rng: &mut Rng) -> Vec<u8> {
    const BOX: (f64, f64, f64, f64) = (-75.70, 6.15, -75.50, 6.35);
    let (x0, y0, x1, y1) = BOX;
    let mut uniform =
        |a: f64, b: f64| a + (b - a) * (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
    let mut feats = Vec::new();
    let ring = |pts: &[(f64, f64)]| {
        let mut s: Vec<String> = pts.iter().map(|(x, y)| format!("[{x:?},{y:?}]")).collect();
        s.push(s[0].clone());
        s.join(",")
    };
    let feature = |id: String, ring: String| {
        format!(
            r#"{{"type":"Feature","properties":{{"zone_id":"{id}"}},"geometry":{{"type":"Polygon","coordinates":[[{ring}]]}}}}"#
        )
    };
    let (dx, dy) = ((x1 - x0) / grid as f64, (y1 - y0) / grid as f64);
    for i in 0..grid {
        for j in 0..grid {
            let (a, b) = (x0 + i as f64 * dx, y0 + j as f64 * dy);
            let r = ring(&[(a, b), (a + dx, b), (a + dx, b + dy), (a, b + dy)]);
            feats.push(feature(format!("Q{i}-{j}"), r));
        }
    }
    let tau = std::f64::consts::TAU;
    for k in 0..circles {
        let (cx, cy, r) = (uniform(x0, x1), uniform(y0, y1), uniform(0.0005, 0.004));
        let n = 24 + (uniform(0.0, 25.0) as usize);
        let pts: Vec<_> = (0..n)
            .map(|t| {
                let a = tau * t as f64 / n as f64;
                (cx + r * a.cos(), cy + r * a.sin())
            })
            .collect();
        feats.push(feature(format!("C{k}"), ring(&pts)));
    }
    for k in 0..concave {
        let (cx, cy, r) = (uniform(x0, x1), uniform(y0, y1), uniform(0.005, 0.03));
        let pts: Vec<_> = (0..60)
            .map(|t| {
                let (a, f) = (tau * t as f64 / 60.0, 0.6 + 0.4 * (t % 2) as f64);
                (cx + r * f * a.cos(), cy + r * f * a.sin())
            })
            .collect();
        feats.push(feature(format!("M{k}"), ring(&pts)));
    }
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        feats.join(",")
    )
    .into_bytes()
}

fn bench_zones(c: &mut Criterion) {
    let mut rng = Rng(0x5eed_2045);
    let zones =
        Zones::from_geojson(&zones_geojson(2400, 50, 100, &mut rng), "bench", None).unwrap();
    let points: Vec<(f64, f64)> = (0..200_000)
        .map(|_| {
            let f = |r: &mut Rng| (r.next() >> 11) as f64 / (1u64 << 53) as f64;
            (6.15 + 0.2 * f(&mut rng), -75.70 + 0.2 * f(&mut rng))
        })
        .collect();
    let mut found = Vec::new();
    let total: usize = points
        .iter()
        .map(|&(lat, lon)| {
            found.clear();
            zones.locate_into(lat, lon, &mut found);
            found.len()
        })
        .sum();
    eprintln!(
        "zones: {} zones, {:.2} zones per point",
        zones.len(),
        total as f64 / points.len() as f64
    );
    let mut g = c.benchmark_group("zones_5k_points_200k");
    g.throughput(Throughput::Elements(points.len() as u64));
    g.sample_size(20);
    g.bench_function("locate_into", |b| {
        b.iter(|| {
            let mut n = 0;
            for &(lat, lon) in black_box(&points) {
                found.clear();
                zones.locate_into(lat, lon, &mut found);
                n += found.len();
            }
            n
        })
    });
    let (lats, lons): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
    let (mut ps, mut zs) = (Vec::new(), Vec::new());
    g.bench_function("locate_many", |b| {
        b.iter(|| {
            ps.clear();
            zs.clear();
            zones.locate_many(black_box(&lats), black_box(&lons), &mut ps, &mut zs);
            zs.len()
        })
    });
    g.finish();

    let data = zones_geojson(7400, 50, 100, &mut rng);
    let mut g = c.benchmark_group("zones_build_10k");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(10);
    g.bench_function("serde_json_value_only", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&data)).unwrap())
    });
    g.bench_function("from_geojson", |b| {
        b.iter(|| Zones::from_geojson(black_box(&data), "bench", None).unwrap())
    });
    g.finish();
}

/// An alert document like the engine's for an exact plate hit (~750 bytes).
fn hit_doc(entry: &str, plate: &str, camera: &str, event_id: &str, ts: &str) -> String {
    format!(
        r#"{{"schema_version":1,"alert_id":"hit-{event_id}","kind":"plate_hit","priority":2,"event_time":"{ts}","emitted_at":"{ts}","events":["{event_id}"],"location":{{"lat":6.2010000000000005,"lon":-75.59949999999999}},"zones":[],"incident_key":"plate_hit:{entry}:{plate}:exact","update":0,"reasons":["plate {plate} is on list stolen_vehicle (entry {entry})","read as \"{plate}\" by camera {camera}: exact match, score 0.99","entry {entry} is set to P2"],"details":{{"camera_id":"{camera}","confidence":0.93,"entry_id":"{entry}","heading_deg":90.0,"list":"stolen_vehicle","listed_plate":"{plate}","match":{{"kind":"exact","score":0.99}},"normalized_plate":"{plate}","read_plate":"{plate}"}}}}"#
    )
}

/// One read of a listed plate: (time, plate index, camera, sighting number).
type TrackedRead = (i64, usize, usize, usize);

/// Signal batches of one engine batch of reads: one per shard (by entry id, as
/// the engine routes plate hits), each telling the whole batch's progress.
fn shard_batches(reads: &[TrackedRead], shards: u16, full_doc: bool) -> Vec<Vec<u8>> {
    let mut out: Vec<SignalBatch> = (0..shards).map(|_| SignalBatch::new()).collect();
    let mut progress = Progress::default();
    for &(ts_ms, i, camera, k) in reads {
        let entry = format!("E{i:07}");
        let plate = format!("P{i:07}");
        let camera_id = format!("MDE-LPR-{camera:04}");
        let event_id = format!("pr-{i:07}-{k}");
        let alert = if full_doc {
            hit_doc(
                &entry,
                &plate,
                &camera_id,
                &event_id,
                "2026-11-23T12:00:00.000Z",
            )
        } else {
            r#"{"kind":"plate_hit","reasons":[]}"#.to_owned()
        };
        let signal = Signal::Sighting(Sighting {
            ts_ms,
            alert_kind: AlertKind::PlateHit,
            subject: &entry,
            list: "stolen_vehicle",
            vehicle: &plate,
            match_kind: MatchKind::Exact,
            score: 0.99,
            base_priority: 2,
            priority: 2,
            camera_id: &camera_id,
            location: Some(Location {
                lat: 6.2 + camera as f64 * 0.001,
                lon: -75.6 + camera as f64 * 0.0005,
            }),
            heading_deg: Some((camera % 360) as f64),
            event_id: &event_id,
            alert: alert.as_bytes(),
        });
        progress.see(&signal);
        out[usize::from(shard_of(&entry, shards))].push(&signal);
    }
    out.into_iter()
        .map(|mut b| {
            b.set_progress(progress);
            b.into_bytes()
        })
        .collect()
}

/// Fresh shard states, every engine batch's shard batches applied in turn:
/// the states and the number of pages and updates.
fn apply_all(
    config: &Arc<IncidentConfig>,
    batches: &[Vec<Vec<u8>>],
    now_ms: i64,
) -> (Vec<ShardState>, usize) {
    let mut states: Vec<ShardState> = (0..config.shards)
        .map(|_| ShardState::new(Arc::clone(config)))
        .collect();
    let mut out = Vec::new();
    let mut alerts = 0;
    for shards in batches {
        for (state, bytes) in states.iter_mut().zip(shards) {
            out.clear();
            state.apply(bytes, now_ms, &mut out).expect("valid batch");
            alerts += out.len();
        }
    }
    (states, alerts)
}

/// Issue 5: the incident state's cost per signal and bytes per tracked plate.
/// The workload of `benches/test_bench_incidents.py`: 100,000 listed plates,
/// plate i read exactly 1 + i % 3 times (200,000 sightings) by 200 cameras, 30 s
/// to 7 min apart over an hour, in time order; engine batches of 10,000 reads,
/// 64 shards. Each iteration applies every batch to 64 fresh `ShardState`s
/// (pages and updates with their alert documents; dropping the states is not
/// timed). Floors: decoding the same batches only, and decoding plus an
/// alert-document rewrite like the state's (serde_json parse, four fields and
/// the `incident` object set, serialise) without any state.
fn bench_incidents(c: &mut Criterion) {
    const PLATES: usize = 100_000;
    const CAMERAS: usize = 200;
    const BATCH: usize = 10_000;
    const T0: i64 = 1_795_435_200_000;
    let config = Arc::new(IncidentConfig::default());
    let mut rng = Rng(0x2026_1124_0000_0005);
    let mut reads: Vec<TrackedRead> = Vec::new();
    for i in 0..PLATES {
        let mut t = T0 + rng.below(3_600_000) as i64;
        for k in 0..1 + i % 3 {
            reads.push((t, i, rng.below(CAMERAS), k));
            t += 30_000 + rng.below(390_000) as i64;
        }
    }
    reads.sort_by_key(|r| r.0);
    let batches: Vec<Vec<Vec<u8>>> = reads
        .chunks(BATCH)
        .map(|chunk| shard_batches(chunk, config.shards, true))
        .collect();
    let (_, alerts) = apply_all(&config, &batches, T0);
    assert_eq!(alerts, reads.len(), "every sighting pages or updates");

    let mut g = c.benchmark_group("incidents");
    g.throughput(Throughput::Elements(reads.len() as u64));
    g.sample_size(10);
    g.bench_function("apply_sightings", |b| {
        b.iter_batched(
            || (),
            |()| apply_all(&config, black_box(&batches), T0),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("floor_decode_only", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for bytes in batches.iter().flatten() {
                decode_batch(black_box(bytes), |s| {
                    if let Signal::Sighting(s) = s {
                        n += s.alert.len();
                    }
                })
                .expect("valid batch");
            }
            n
        })
    });
    g.bench_function("floor_decode_serde_json_rewrite", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for bytes in batches.iter().flatten() {
                decode_batch(black_box(bytes), |s| {
                    let Signal::Sighting(s) = s else { return };
                    let mut v: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_slice(s.alert).expect("JSON object");
                    v.insert("alert_id".into(), "inc-0123456789abcdef".into());
                    v.insert("update".into(), 0.into());
                    v.insert("priority".into(), s.priority.into());
                    v.insert("emitted_at".into(), "2026-11-23T12:00:00.000Z".into());
                    v.insert(
                        "incident".into(),
                        serde_json::json!({
                            "opened_at": "2026-11-23T12:00:00.000Z",
                            "last_seen": "2026-11-23T12:00:00.000Z",
                            "sightings": 1,
                            "score": 0.99,
                            "corroborated": false,
                            "track": [{"camera_id": s.camera_id, "time": "2026-11-23T12:00:00.000Z",
                                       "lat": 6.2, "lon": -75.6, "heading_deg": 90.0}],
                        }),
                    );
                    n += serde_json::to_vec(&v).expect("serialises").len();
                })
                .expect("valid batch");
            }
            n
        })
    });
    g.finish();
    drop(batches);

    // Bytes per tracked plate: every plate read `sightings` times within 240 s
    // (less than the window minus the lateness), so none closes; small alert
    // documents (the state keeps none); batches built and applied one at a time.
    for (plates, sightings) in [(100_000usize, 1usize), (100_000, 4), (1_000_000, 1)] {
        let mut states: Vec<ShardState> = (0..config.shards)
            .map(|_| ShardState::new(Arc::clone(&config)))
            .collect();
        let tracked: Vec<TrackedRead> = (0..sightings)
            .flat_map(|k| {
                (0..plates).map(move |i| {
                    let ts = T0 + k as i64 * 60_000 + (i % 60_000) as i64;
                    (ts, i, i % CAMERAS, k)
                })
            })
            .collect();
        let mut out = Vec::new();
        for chunk in tracked.chunks(BATCH) {
            let shards = shard_batches(chunk, config.shards, false);
            for (state, bytes) in states.iter_mut().zip(&shards) {
                out.clear();
                state.apply(bytes, T0, &mut out).expect("valid batch");
            }
        }
        let (open, bytes) = states
            .iter()
            .map(ShardState::size)
            .fold((0, 0), |(p, b), s| (p + s.plates, b + s.bytes));
        assert_eq!(open, plates, "every plate tracked");
        eprintln!(
            "incidents memory: {plates} plates x {sightings} sighting(s), {} shards: \
             ShardState::size() {bytes} bytes, {:.1} B per tracked plate (target 64)",
            config.shards,
            bytes as f64 / plates as f64
        );
    }
}

criterion_group!(
    benches,
    bench,
    bench_watchlist,
    bench_zones,
    bench_incidents
);
criterion_main!(benches);
