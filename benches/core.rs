//! Criterion benchmarks of the core's hot paths, each beside a baseline:
//! `serde_json` skipping the same bytes (`IgnoredAny`: the least any JSON
//! parser must do) and deserialising into a `serde_json::Value`.
//! Run: `make bench-rust` (cargo bench -p sisec-core).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sisec_core::{event::parse_event, Engine, EngineConfig, EntrySpec, Plate, Watchlist};
use std::hint::black_box;

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
    let engine = Engine::with_watchlist(EngineConfig::default(), watchlist(100_000, &mut rng));

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

criterion_group!(benches, bench);
criterion_main!(benches);
