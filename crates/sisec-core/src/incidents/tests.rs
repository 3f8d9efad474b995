//! The incident stage on hand-made signals: pages, updates, windows,
//! corroboration, presses, supervision, call clusters, snapshots.

use super::*;
use crate::event::{ButtonAction, CallLine, CallStatus, DeviceKind};
use crate::watchlist::MatchKind;
use serde_json::Value;

const T0: i64 = 1_795_435_200_000; // 2026-11-23 12:00 UTC
const MIN: i64 = 60_000;

fn doc(kind: &str, priority: u8, ts: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schema_version": 1, "alert_id": "raw", "kind": kind, "priority": priority,
        "reasons": ["raw"], "event_time": crate::timestamp::format_rfc3339_utc(ts),
        "emitted_at": "x", "location": null, "zones": [], "events": ["e"],
        "incident_key": format!("{kind}:k"), "details": {}
    }))
    .unwrap()
}

struct Run {
    state: ShardState,
    out: Vec<Alert>,
}

impl Run {
    fn new() -> Self {
        Run::with(IncidentConfig::default())
    }

    fn with(config: IncidentConfig) -> Self {
        Run {
            state: ShardState::new(Arc::new(config)),
            out: Vec::new(),
        }
    }

    fn feed(&mut self, signals: &[Signal<'_>]) -> Vec<Value> {
        self.feed_at(signals, i64::MIN)
    }

    /// Feed signals, telling every kind's progress at least `max_ts`.
    fn feed_at(&mut self, signals: &[Signal<'_>], max_ts: i64) -> Vec<Value> {
        let mut batch = SignalBatch::new();
        let mut progress = Progress {
            plates: max_ts,
            devices: max_ts,
            calls: max_ts,
        };
        for s in signals {
            batch.push(s);
            progress.see(s);
        }
        batch.set_progress(progress);
        let start = self.out.len();
        self.state
            .apply(&batch.into_bytes(), T0, &mut self.out)
            .unwrap();
        self.out[start..]
            .iter()
            .map(|a| serde_json::from_slice(&a.json).unwrap())
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn hit<'a>(
    entry: &'a str,
    list: &'a str,
    vehicle: &'a str,
    kind: MatchKind,
    camera: &'a str,
    ts: i64,
    lat: f64,
    alert: &'a [u8],
) -> Signal<'a> {
    let weak = kind != MatchKind::Exact;
    Signal::Sighting(Sighting {
        ts_ms: ts,
        alert_kind: AlertKind::PlateHit,
        subject: entry,
        list,
        vehicle,
        match_kind: kind,
        score: if weak { 0.1 } else { 1.0 },
        base_priority: 2,
        priority: if weak { 4 } else { 2 },
        camera_id: camera,
        location: Some(Location { lat, lon: -75.57 }),
        heading_deg: Some(90.0),
        event_id: camera,
        alert,
    })
}

#[test]
fn one_vehicle_over_six_cameras_pages_once_then_updates() {
    let mut run = Run::new();
    let cams = ["C1", "C2", "C3", "C4", "C5", "C6"];
    let mut all = Vec::new();
    for (i, cam) in cams.iter().enumerate() {
        let ts = T0 + i as i64 * MIN;
        let d = doc("plate_hit", 2, ts);
        let lat = 6.20 + 0.01 * i as f64;
        all.extend(run.feed(&[hit(
            "SV-1",
            "stolen_vehicle",
            "ABC123",
            MatchKind::Exact,
            cam,
            ts,
            lat,
            &d,
        )]));
    }
    assert_eq!(all.len(), 6);
    let ids: Vec<_> = all.iter().map(|a| a["alert_id"].clone()).collect();
    assert!(ids.iter().all(|i| *i == ids[0] && i != "raw"), "{ids:?}");
    let updates: Vec<_> = all.iter().map(|a| a["update"].as_u64().unwrap()).collect();
    assert_eq!(updates, [0, 1, 2, 3, 4, 5]);
    let last = &all[5]["incident"];
    assert_eq!(last["sightings"], 6);
    let track: Vec<_> = last["track"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["camera_id"].as_str().unwrap())
        .collect();
    assert_eq!(track, cams);
    assert!(all[1]["reasons"].to_string().contains("sighting 2"));
}

#[test]
fn two_lists_on_one_vehicle_page_twice() {
    let mut run = Run::new();
    let d = doc("plate_hit", 2, T0);
    let out = run.feed(&[
        hit(
            "SV-1",
            "stolen_vehicle",
            "ABC123",
            MatchKind::Exact,
            "C1",
            T0,
            6.2,
            &d,
        ),
        hit(
            "AA-1",
            "amber_alert",
            "ABC123",
            MatchKind::Exact,
            "C1",
            T0,
            6.2,
            &d,
        ),
        hit(
            "SV-1",
            "stolen_vehicle",
            "ABC123",
            MatchKind::Exact,
            "C2",
            T0 + MIN,
            6.21,
            &d,
        ),
        hit(
            "AA-1",
            "amber_alert",
            "ABC123",
            MatchKind::Exact,
            "C2",
            T0 + MIN,
            6.21,
            &d,
        ),
    ]);
    let pages: Vec<_> = out.iter().filter(|a| a["update"] == 0).collect();
    assert_eq!(pages.len(), 2);
    assert_ne!(pages[0]["alert_id"], pages[1]["alert_id"]);
    // A look-alike hit on the same entry is another kind: its own page.
    let weak = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "A8C123",
        MatchKind::Lookalike,
        "C3",
        T0 + 2 * MIN,
        6.22,
        &d,
    )]);
    assert_eq!(weak[0]["update"], 0);
}

#[test]
fn a_sighting_after_the_window_pages_again() {
    let mut run = Run::new(); // window 300 s from the last sighting
    let d = doc("plate_hit", 2, T0);
    let first = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "ABC123",
        MatchKind::Exact,
        "C1",
        T0,
        6.2,
        &d,
    )]);
    let inside = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "ABC123",
        MatchKind::Exact,
        "C2",
        T0 + 4 * MIN,
        6.2,
        &d,
    )]);
    assert_eq!(inside[0]["update"], 1);
    // 4 + 5 min later: past the window even before the watermark catches up.
    let after = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "ABC123",
        MatchKind::Exact,
        "C3",
        T0 + 9 * MIN + 1000,
        6.2,
        &d,
    )]);
    assert_eq!(after[0]["update"], 0);
    assert_ne!(after[0]["alert_id"], first[0]["alert_id"]);
    // The watermark closes incidents: memory returns.
    run.feed_at(&[], T0 + 60 * MIN);
    assert_eq!(run.state.size().plates, 0);
}

#[test]
fn a_second_camera_corroborates_a_lookalike() {
    let mut run = Run::new();
    let d = doc("plate_hit", 4, T0);
    let weak = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "A8C123",
        MatchKind::Lookalike,
        "C1",
        T0,
        6.20,
        &d,
    )]);
    assert_eq!(weak[0]["priority"], 4);
    // The same misread text again at another camera is not evidence.
    let same = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "A8C123",
        MatchKind::Lookalike,
        "C2",
        T0 + MIN,
        6.21,
        &d,
    )]);
    assert_eq!((same.len(), same[0]["update"].as_u64()), (1, Some(1)));
    assert_eq!(same[0]["priority"], 4);
    // Too far for the time: 100 km in 2 minutes is not the same car.
    let far = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "ABC123",
        MatchKind::Exact,
        "C9",
        T0 + 2 * MIN,
        7.1,
        &d,
    )]);
    assert_eq!(far.len(), 1, "only the exact page");
    // An exact read 3 km away 5 minutes later corroborates.
    let d2 = doc("plate_hit", 2, T0);
    let out = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "ABC123",
        MatchKind::Exact,
        "C3",
        T0 + 6 * MIN,
        6.23,
        &d2,
    )]);
    let promoted: Vec<_> = out
        .iter()
        .filter(|a| a["alert_id"] == weak[0]["alert_id"])
        .collect();
    assert_eq!(promoted.len(), 1, "{out:?}");
    let p = promoted[0];
    assert_eq!(p["priority"], 2, "raised to the list's priority");
    assert_eq!(p["incident"]["corroborated"], true);
    assert_eq!(p["incident"]["corroborated_by"]["camera_id"], "C3");
    assert!(p["incident"]["score"].as_f64().unwrap() > 0.9);
    assert!(p["reasons"].to_string().contains("corroborated: camera C3"));
    assert_eq!(p["incident_key"], "plate_hit:SV-1:A8C123:lookalike");
}

fn device<'a>(id: &'a str, action: ButtonAction, ts: i64, alert: &'a [u8]) -> Signal<'a> {
    Signal::Device(DeviceEvent {
        ts_ms: ts,
        device_id: id,
        device_kind: DeviceKind::Panic,
        action,
        location: None,
        event_id: "e",
        priority: 2,
        alert,
        place: br#"{"location":{"lat":6.2,"lon":-75.5},"zones":[{"zone_id":"Q1","name":"Q","kind":"sector"}]}"#,
    })
}

#[test]
fn ten_presses_are_one_escalating_alert() {
    let mut run = Run::new();
    let d = doc("button_press", 2, T0);
    let mut out = Vec::new();
    for i in 0..10 {
        out.extend(run.feed(&[device("D1", ButtonAction::Press, T0 + i * 5000, &d)]));
    }
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|a| a["alert_id"] == out[0]["alert_id"]));
    let prio: Vec<_> = out
        .iter()
        .map(|a| a["priority"].as_u64().unwrap())
        .collect();
    assert_eq!(prio, [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(out[9]["incident"]["count"], 10);
    // 61 s after the last press: a new activation.
    let again = run.feed(&[device("D1", ButtonAction::Press, T0 + 45_000 + 61_000, &d)]);
    assert_eq!(
        (again[0]["update"].as_u64(), again[0]["priority"].as_u64()),
        (Some(0), Some(2))
    );
    assert_ne!(again[0]["alert_id"], out[0]["alert_id"]);
}

#[test]
fn tamper_is_its_own_alert() {
    let mut run = Run::new();
    let press = doc("button_press", 2, T0);
    let tamper = doc("device_tamper", 2, T0);
    let out = run.feed(&[
        device("D1", ButtonAction::Press, T0, &press),
        device("D1", ButtonAction::Tamper, T0 + 1000, &tamper),
    ]);
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[1]["kind"].as_str(), out[1]["update"].as_u64()),
        (Some("device_tamper"), Some(0))
    );
    assert_ne!(out[0]["alert_id"], out[1]["alert_id"]);
}

#[test]
fn a_silent_device_goes_offline_and_comes_back() {
    let mut run = Run::new(); // heartbeat 300 s, grace 120 s, lateness 30 s
    assert!(run
        .feed(&[device("D1", ButtonAction::Heartbeat, T0, b"")])
        .is_empty());
    // Other traffic moves the watermark; at T0 + 7 min + 30 s it is T0 + 7 min.
    let busy = doc("button_press", 2, T0);
    assert!(run
        .feed(&[device("D2", ButtonAction::Press, T0 + 6 * MIN, &busy)])
        .iter()
        .all(|a| a["kind"] == "button_press"));
    let off = run.feed_at(&[], T0 + 7 * MIN + 30_001);
    assert_eq!(off.len(), 1);
    assert_eq!(off[0]["kind"], "device_offline");
    assert_eq!(
        off[0]["event_time"],
        crate::timestamp::format_rfc3339_utc(T0 + 7 * MIN)
    );
    assert_eq!(off[0]["zones"][0]["zone_id"], "Q1", "where the device is");
    assert!(run.feed_at(&[], T0 + 30 * MIN).is_empty(), "reported once");
    let back = run.feed(&[device("D1", ButtonAction::Heartbeat, T0 + 31 * MIN, b"")]);
    assert_eq!(back[0]["kind"], "device_restored");
    // A device that never sent a heartbeat is not supervised.
    assert!(run
        .feed_at(&[], T0 + 600 * MIN)
        .iter()
        .all(|a| a["details"]["device_id"] != "D2"));
}

fn call<'a>(
    id: &'a str,
    status: CallStatus,
    itype: Option<&'a str>,
    ts: i64,
    lat: f64,
) -> Signal<'a> {
    Signal::Call(CallEvent {
        ts_ms: ts,
        call_id: id,
        line: CallLine::L123,
        status,
        incident_type: itype,
        location: Some(Location { lat, lon: -75.57 }),
        accuracy_m: None,
        caller_hash: Some(id),
        event_id: id,
        place: b"",
    })
}

#[test]
fn a_call_cluster_ignores_noise_nearby() {
    let mut run = Run::new();
    let m = 1.0 / 111_000.0; // a metre of latitude
    let out = run.feed(&[
        call("A", CallStatus::Received, None, T0, 6.2),
        call("A", CallStatus::Classified, Some("riña"), T0 + 30_000, 6.2),
        call(
            "B",
            CallStatus::Classified,
            Some("riña"),
            T0 + 2 * MIN,
            6.2 + 50.0 * m,
        ),
        // Noise: a prank 30 m away, an abandoned call, another type 60 m away,
        // and a fight 500 m away.
        call(
            "P",
            CallStatus::Classified,
            Some("broma"),
            T0 + 3 * MIN,
            6.2 + 30.0 * m,
        ),
        call(
            "X",
            CallStatus::Abandoned,
            None,
            T0 + 3 * MIN,
            6.2 + 20.0 * m,
        ),
        call(
            "H",
            CallStatus::Classified,
            Some("hurto"),
            T0 + 3 * MIN,
            6.2 + 60.0 * m,
        ),
        call(
            "F",
            CallStatus::Classified,
            Some("riña"),
            T0 + 4 * MIN,
            6.2 + 500.0 * m,
        ),
        // Compatible type, close, within 10 min of the last call.
        call(
            "C",
            CallStatus::Classified,
            Some("disparos"),
            T0 + 11 * MIN,
            6.2 - 40.0 * m,
        ),
    ]);
    let pages: Vec<_> = out.iter().filter(|a| a["update"] == 0).collect();
    assert_eq!(pages.len(), 3, "riña, hurto, the far riña: {out:#?}");
    let cluster: Vec<_> = out
        .iter()
        .filter(|a| a["alert_id"] == out[0]["alert_id"])
        .collect();
    let last = cluster.last().unwrap();
    assert_eq!(
        last["details"]["call_ids"],
        serde_json::json!(["A", "B", "C"])
    );
    assert_eq!(last["incident"]["unconfirmed_calls"], 1);
    assert_eq!(last["priority"], 1, "3 calls raise riña from P2");
    // After the window, a new call opens a new incident.
    let later = run.feed(&[call(
        "D",
        CallStatus::Classified,
        Some("riña"),
        T0 + 40 * MIN,
        6.2,
    )]);
    assert_eq!(later[0]["update"], 0);
    assert_ne!(later[0]["alert_id"], cluster[0]["alert_id"]);
}

#[test]
fn snapshots_restore_the_same_future() {
    let d = doc("plate_hit", 4, T0);
    let press = doc("button_press", 2, T0);
    let early: Vec<Signal<'_>> = vec![
        hit(
            "SV-1",
            "stolen_vehicle",
            "A8C123",
            MatchKind::Lookalike,
            "C1",
            T0,
            6.2,
            &d,
        ),
        hit(
            "SV-1",
            "stolen_vehicle",
            "ABC123",
            MatchKind::Exact,
            "C1",
            T0,
            6.2,
            &d,
        ),
        hit(
            "SV-1",
            "stolen_vehicle",
            "ABC123",
            MatchKind::Exact,
            "C2",
            T0 + MIN,
            6.21,
            &d,
        ),
        device("D1", ButtonAction::Heartbeat, T0, b""),
        device("D1", ButtonAction::Press, T0 + 1000, &press),
        call("A", CallStatus::Classified, Some("riña"), T0, 6.2),
    ];
    let late: Vec<Signal<'_>> = vec![
        hit(
            "SV-1",
            "stolen_vehicle",
            "ABC123",
            MatchKind::Exact,
            "C3",
            T0 + 3 * MIN,
            6.23,
            &d,
        ),
        device("D1", ButtonAction::Press, T0 + 3 * MIN, &press),
        call("B", CallStatus::Classified, Some("riña"), T0 + 4 * MIN, 6.2),
        device("D2", ButtonAction::Heartbeat, T0 + 20 * MIN, b""),
    ];
    let mut a = Run::new();
    a.feed(&early);
    let bytes = a.state.snapshot();
    let mut b = Run {
        state: ShardState::restore(Arc::new(IncidentConfig::default()), &bytes).unwrap(),
        out: Vec::new(),
    };
    assert_eq!(
        b.state.snapshot(),
        bytes,
        "restore then snapshot is the identity"
    );
    let (ya, yb) = (a.feed(&late), b.feed(&late));
    assert_eq!(ya, yb);
    assert!(ya.iter().any(|x| x["kind"] == "device_offline"));
    assert!(ShardState::restore(Arc::new(IncidentConfig::default()), &bytes[..10]).is_err());
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert!(
        ShardState::restore(Arc::new(IncidentConfig::default()), &v2)
            .unwrap_err()
            .0
            .contains("version 2")
    );
}

#[test]
fn offline_gaps_do_not_depend_on_batching() {
    let hb = |ts| device("D1", ButtonAction::Heartbeat, ts, b"");
    let events = [
        hb(T0),
        hb(T0 + 5 * MIN),
        hb(T0 + 15 * MIN),
        hb(T0 + 20 * MIN),
    ];
    let kinds = |out: Vec<Value>| -> Vec<(String, String)> {
        out.iter()
            .map(|a| {
                (
                    a["kind"].as_str().unwrap().to_owned(),
                    a["alert_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let mut one = Run::new();
    let together = kinds(one.feed(&events));
    let mut apart = Run::new();
    let separately: Vec<_> = events
        .iter()
        .flat_map(|e| kinds(apart.feed(std::slice::from_ref(e))))
        .collect();
    assert_eq!(together, separately);
    let k: Vec<_> = together.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        k,
        ["device_offline", "device_restored"],
        "the 10-minute gap"
    );
}

#[test]
fn corroboration_outlives_the_suppression_window() {
    let mut run = Run::new(); // window 5 min, corroboration 30 min
    let d = doc("plate_hit", 4, T0);
    let weak = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "A8C123",
        MatchKind::Lookalike,
        "C1",
        T0,
        6.20,
        &d,
    )]);
    // Other traffic moves the watermark 15 minutes on: the weak hit no longer
    // suppresses, but is kept for corroboration.
    run.feed_at(&[], T0 + 15 * MIN);
    assert_eq!(run.state.size().plates, 1);
    let out = run.feed(&[hit(
        "SV-1",
        "stolen_vehicle",
        "ABC123",
        MatchKind::Exact,
        "C2",
        T0 + 16 * MIN,
        6.25,
        &d,
    )]);
    assert!(
        out.iter()
            .any(|a| a["alert_id"] == weak[0]["alert_id"] && a["incident"]["corroborated"] == true),
        "{out:?}"
    );
    // Past the corroboration window everything is forgotten.
    run.feed_at(&[], T0 + 120 * MIN);
    assert_eq!(run.state.size().plates, 0);
}
