use super::*;

fn plate(s: &str) -> Plate {
    Plate::parse(s).unwrap()
}

fn wl(csv: &str) -> Watchlist {
    Watchlist::from_csv(csv.as_bytes(), "w.csv").unwrap()
}

fn hits(w: &Watchlist, read: &str) -> Vec<(String, MatchKind)> {
    let p = plate(read);
    let mut out = Vec::new();
    w.match_read(&ReadQuery::plate(&p, 0), &mut out);
    let mut v: Vec<_> = out
        .iter()
        .map(|h| (w.entry(h.entry).entry_id.to_string(), h.kind))
        .collect();
    v.sort();
    v
}

fn one(w: &Watchlist, q: &ReadQuery<'_>) -> Hit {
    let mut out = Vec::new();
    w.match_read(q, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    out[0]
}

#[test]
fn loads_and_matches_exactly() {
    let w = wl("entry_id,plate,list,priority\nSV-1,abc-123,stolen_vehicle,\nW-1,ABC123,wanted,1\n# gone\nSP-1,XYZ98A,stolen_plate,3\n");
    assert_eq!(w.len(), 3);
    assert_eq!(
        hits(&w, "ABC123"),
        [
            ("SV-1".into(), MatchKind::Exact),
            ("W-1".into(), MatchKind::Exact)
        ]
    );
    assert_eq!(w.counts_by_list()["stolen_vehicle"], 1);
}

#[test]
fn lookalike_of_an_impossible_read_is_strong() {
    let w = wl("entry_id,plate,list\nSV-1,ABC123,stolen_vehicle\n");
    let p = plate("A8C123"); // fits no format: 8 in a letter position
    let h = one(&w, &ReadQuery::plate(&p, 0));
    assert_eq!(h.kind, MatchKind::Lookalike);
    assert_eq!(
        h.substitutions(),
        [Sub {
            pos: 1,
            read: b'8',
            listed: b'B'
        }]
    );
    assert!(h.score > 0.9, "{}", h.score);
    assert_eq!(
        crate::priority::PriorityConfig::default().demotion(h.score),
        0
    );
}

#[test]
fn lookalike_of_a_plausible_read_is_weak_unless_unsure_or_corroborated() {
    let w = wl("entry_id,plate,list\nSV-1,ABD123,stolen_vehicle\n");
    let read = plate("ABO123"); // a valid plate itself: O for D
    let h = one(&w, &ReadQuery::plate(&read, 0));
    assert_eq!(h.kind, MatchKind::Lookalike);
    assert!(h.score < 0.05, "{}", h.score);
    assert_eq!(
        crate::priority::PriorityConfig::default().demotion(h.score),
        3
    );
    let unsure = ReadQuery {
        confidence: Some(0.4),
        ..ReadQuery::plate(&read, 0)
    };
    assert!(one(&w, &unsure).score > h.score * 5.0);
    let cands = [Candidate {
        plate: plate("ABD123"),
        confidence: Some(0.6),
    }];
    let corroborated = ReadQuery {
        candidates: &cands,
        ..ReadQuery::plate(&read, 0)
    };
    let c = one(&w, &corroborated);
    assert!(c.score > 0.6 && c.corroboration & corroboration::CANDIDATE != 0);
}

#[test]
fn substitutions_are_bounded_and_must_be_look_alikes() {
    let w = wl("entry_id,plate,list\nSV-1,ABC123,stolen_vehicle\n");
    assert_eq!(hits(&w, "A8C1Z3"), [], "two substitutions, max 1");
    assert_eq!(hits(&w, "ABC124"), [], "4 is no look-alike of 3");
    let cfg = WatchlistConfig {
        max_substitutions: 2,
        ..WatchlistConfig::default()
    };
    let (w2, _) = Watchlist::from_csv_with(
        b"plate,list\nABC123,sv\n",
        "w",
        &cfg,
        &LoadOptions::default(),
    )
    .unwrap();
    let h = hits(&w2, "A8C1Z3");
    assert_eq!(h, [("sv:ABC123".into(), MatchKind::Lookalike)]);
    // C~G and G~6 are groups, but C and 6 are not look-alikes of each other.
    let w3 = wl("plate,list\nABC123,sv\n");
    assert_eq!(hits(&w3, "AB6123"), []);
}

#[test]
fn edges_dropped_and_extra() {
    let w = wl("entry_id,plate,list\nSV-1,ABC123,stolen_vehicle\n");
    assert_eq!(hits(&w, "BC123"), [("SV-1".into(), MatchKind::Edge)]);
    assert_eq!(hits(&w, "ABC12"), [("SV-1".into(), MatchKind::Edge)]);
    assert_eq!(hits(&w, "XABC123"), [("SV-1".into(), MatchKind::Edge)]);
    assert_eq!(hits(&w, "ABC1234"), [("SV-1".into(), MatchKind::Edge)]);
    // BC123 fits no format: any of 26 letters may be missing, each a real
    // plate with probability 0.3 (plate_density), the listed one certainly.
    let p = plate("BC123");
    let h = one(&w, &ReadQuery::plate(&p, 0));
    assert_eq!(h.edge, Some(EdgeKind::DroppedFirst));
    assert!(
        (h.score - 0.95 / (1.0 + 0.3 * 25.0)).abs() < 1e-4,
        "{}",
        h.score
    );
    // ABC12 + a digit is a car plate, + a letter a motorcycle plate: 36.
    let p = plate("ABC12");
    let h = one(&w, &ReadQuery::plate(&p, 0));
    assert!(
        (h.score - 0.95 / (1.0 + 0.3 * 35.0)).abs() < 1e-4,
        "{}",
        h.score
    );
    // T1975 (cargo) read as 1975: C, D, M1975 are diplomatic plates too.
    let w = wl("entry_id,plate,list\nT,T1975,stolen_vehicle\n");
    let p = plate("1975");
    let h = one(&w, &ReadQuery::plate(&p, 0));
    assert!(
        (h.score - 0.95 / (1.0 + 0.3 * 3.0)).abs() < 1e-4,
        "{}",
        h.score
    );
}

#[test]
fn a_read_that_may_have_lost_an_edge_is_weaker_evidence_of_a_look_alike() {
    // CQ837 may be diplomatic C0837 misread (Q for 0), or any ?CQ837 car plate
    // that lost its first letter.
    let w = wl("entry_id,plate,list
D,C0837,wanted
");
    let p = plate("CQ837");
    let h = one(&w, &ReadQuery::plate(&p, 0));
    let want = 0.95 * 0.76 / (0.76 + 0.12 * 0.3 * 26.0);
    assert!((h.score - want).abs() < 1e-4, "{} vs {want}", h.score);
    assert!(crate::priority::PriorityConfig::default().demotion(h.score) >= 2);
}

#[test]
fn other_corrections_of_an_impossible_read_compete() {
    // A0C123: 0 in a letter position could be O, D or Q; only D is listed.
    let w = wl("entry_id,plate,list
SV-1,ADC123,stolen_vehicle
");
    let p = plate("A0C123");
    let h = one(&w, &ReadQuery::plate(&p, 0));
    assert!(
        (h.score - 0.95 / (1.0 + 0.3 * 2.0)).abs() < 1e-4,
        "{}",
        h.score
    );
    assert_eq!(
        crate::priority::PriorityConfig::default().demotion(h.score),
        1
    );
    // With every plate in use (density 1) the three corrections are equal.
    let cfg = WatchlistConfig {
        plate_density: 1.0,
        ..WatchlistConfig::default()
    };
    let (w, _) = Watchlist::from_csv_with(
        b"plate,list
ADC123,sv
",
        "w",
        &cfg,
        &LoadOptions::default(),
    )
    .unwrap();
    let h = one(&w, &ReadQuery::plate(&p, 0));
    assert!((h.score - 0.95 / 3.0).abs() < 1e-4, "{}", h.score);
    let bad = WatchlistConfig {
        plate_density: 1.5,
        ..WatchlistConfig::default()
    };
    assert!(Watchlist::with_config(&bad)
        .unwrap_err()
        .contains("between 0 and 1"));
}

#[test]
fn exact_lists_skip_lookalikes() {
    let cfg = WatchlistConfig::from_json(r#"{"lists":{"sp":{"match":"exact"}}}"#).unwrap();
    let csv = b"entry_id,plate,list,match\nA,ABC123,sp,\nB,ABC123,sv,\nC,XYZ123,sv,exact\n";
    let (w, _) = Watchlist::from_csv_with(csv, "w", &cfg, &LoadOptions::default()).unwrap();
    assert_eq!(hits(&w, "A8C123"), [("B".into(), MatchKind::Lookalike)]);
    assert_eq!(hits(&w, "XY2123"), []);
    assert_eq!(hits(&w, "ABC123").len(), 2);
}

#[test]
fn an_exact_hit_hides_weaker_hits_on_the_same_entry_only() {
    // ABC123 read: exact on E1; look-alike on E2 (A8C123? not valid), so use
    // ABD123 and ABO123 both listed: reading ABO123 hits E2 exactly and E1 as a
    // look-alike, once each.
    let w = wl("entry_id,plate,list\nE1,ABD123,sv\nE2,ABO123,sv\n");
    assert_eq!(
        hits(&w, "ABO123"),
        [
            ("E1".into(), MatchKind::Lookalike),
            ("E2".into(), MatchKind::Exact)
        ]
    );
}

#[test]
fn validity_window_at_the_events_time() {
    let w = wl(
        "entry_id,plate,list,valid_from,expires_at\nE,ABC123,sv,2026-11-01,2026-12-01T00:00:00Z\n",
    );
    let p = plate("ABC123");
    let at = |s: &str| {
        let mut out = Vec::new();
        let ms = crate::timestamp::parse_rfc3339(s).unwrap();
        w.match_read(&ReadQuery::plate(&p, ms), &mut out);
        out.len()
    };
    assert_eq!(at("2026-10-31T23:59:59Z"), 0);
    assert_eq!(at("2026-11-01T00:00:00Z"), 1);
    assert_eq!(at("2026-11-30T23:59:59Z"), 1);
    assert_eq!(at("2026-12-01T00:00:00Z"), 0);
}

#[test]
fn regions() {
    let w = wl("entry_id,plate,list,region\nE,ABC123,sv,MX-MEX\nF,XYZ123,sv,CO\n");
    let p = plate("ABC123");
    let n = |region: Option<&str>, p: &Plate| {
        let mut out = Vec::new();
        w.match_read(
            &ReadQuery {
                region,
                ..ReadQuery::plate(p, 0)
            },
            &mut out,
        );
        out.len()
    };
    assert_eq!(n(Some("MX-MEX"), &p), 1);
    assert_eq!(n(Some("MX"), &p), 1, "a read known only to be Mexican");
    assert_eq!(n(Some("MX-JAL"), &p), 0);
    assert_eq!(n(Some("CO"), &p), 0);
    assert_eq!(n(None, &p), 1);
    assert_eq!(n(Some("CO-ANT"), &plate("XYZ123")), 1);
}

#[test]
fn vehicle_description_confirms_or_contradicts() {
    let w = wl("entry_id,plate,list,make,color\nE,ABD123,sv,Mazda,rojo\n");
    let p = plate("ABO123");
    let base = one(&w, &ReadQuery::plate(&p, 0)).score;
    let same = one(
        &w,
        &ReadQuery {
            make: Some("MAZDA"),
            color: Some("Rojo"),
            ..ReadQuery::plate(&p, 0)
        },
    );
    let other = one(
        &w,
        &ReadQuery {
            make: Some("Renault"),
            ..ReadQuery::plate(&p, 0)
        },
    );
    assert!(same.score > base && same.corroboration & corroboration::VEHICLE != 0);
    assert!(other.score < base && other.corroboration & corroboration::VEHICLE_MISMATCH != 0);
}

#[test]
fn patterns_and_exact_side_by_side() {
    let w = wl("entry_id,plate,list\nP1,AB*12*,wanted\nP2,??C123,wanted\nE,KLM456,sv\n");
    assert_eq!(
        hits(&w, "ABC123"),
        [
            ("P1".into(), MatchKind::Pattern),
            ("P2".into(), MatchKind::Pattern)
        ]
    );
    assert_eq!(hits(&w, "KLM456"), [("E".into(), MatchKind::Exact)]);
    assert_eq!(w.get("P1").unwrap().listed(), "AB*12*");
}

#[test]
fn upsert_replace_and_remove_while_matching() {
    let mut w = wl("entry_id,plate,list\nE1,ABC123,sv\n");
    w.upsert(EntrySpec {
        entry_id: "E2".into(),
        plate: "XYZ-987".into(),
        list: "wanted".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(hits(&w, "XYZ987"), [("E2".into(), MatchKind::Exact)]);
    // Replace E1's plate: the old plate no longer matches.
    w.upsert(EntrySpec {
        entry_id: "E1".into(),
        plate: "DEF456".into(),
        list: "sv".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(hits(&w, "ABC123"), []);
    assert_eq!(hits(&w, "A8C123"), []);
    assert_eq!(hits(&w, "DEF456"), [("E1".into(), MatchKind::Exact)]);
    assert!(w.remove("E2"));
    assert!(!w.remove("E2"));
    assert_eq!(hits(&w, "XYZ987"), []);
    assert_eq!(w.len(), 1);
    // Many adds and removes keep every index consistent.
    for i in 0..5000 {
        w.upsert(EntrySpec {
            entry_id: format!("N{i}"),
            plate: format!("Q{i:05}"),
            list: "sv".into(),
            ..Default::default()
        })
        .unwrap();
    }
    for i in (0..5000).step_by(2) {
        assert!(w.remove(&format!("N{i}")));
    }
    w.rebuild_filters();
    for i in 0..5000 {
        let want = usize::from(i % 2 == 1);
        assert_eq!(hits(&w, &format!("Q{i:05}")).len(), want, "Q{i:05}");
    }
    assert_eq!(w.len(), 2501);
}

#[test]
fn allow_lists_never_hit_but_answer_membership() {
    let cfg = WatchlistConfig::from_json(r#"{"lists":{"flota":{"kind":"allow"}}}"#).unwrap();
    let (w, _) = Watchlist::from_csv_with(
        b"plate,list\nABC123,flota\n",
        "w",
        &cfg,
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(hits(&w, "ABC123"), []);
    assert!(w.allows("flota", &plate("ABC123"), 0));
    assert!(!w.allows("flota", &plate("ABC124"), 0));
    assert!(!w.allows("other", &plate("ABC123"), 0));
    assert_eq!(w.list_kind("flota"), ListKind::Allow);
}

#[test]
fn bad_rows_name_file_line_and_fix_or_are_skipped() {
    let e = Watchlist::from_csv(b"plate,list\nABC123,wanted\nA,wanted\n", "w.csv").unwrap_err();
    assert_eq!((e.source.as_str(), e.line), ("w.csv", Some(3)));
    assert!(
        e.to_string().starts_with("w.csv line 3: plate \"A\""),
        "{e}"
    );
    let e = Watchlist::from_csv(b"plate,list,priority\nABC123,wanted,7\n", "w.csv").unwrap_err();
    assert!(e.message.contains("1, 2, 3 or 4"));
    let e = Watchlist::from_csv(b"plate,kind\nABC123,wanted\n", "w.csv").unwrap_err();
    assert!(e.message.contains("no `list` column"), "{e}");
    let e =
        Watchlist::from_csv(b"plate,list\nABC123,wanted\nabc-123,wanted\n", "w.csv").unwrap_err();
    assert!(e.message.contains("line 2"), "{e}");
    let e =
        Watchlist::from_csv(b"plate,list,expires_at\nABC123,w,tomorrow\n", "w.csv").unwrap_err();
    assert!(
        e.message.contains("expires_at \"tomorrow\" is not a time"),
        "{e}"
    );
    let e = Watchlist::from_csv(b"plate,list,match\nABC123,w,fuzzy\n", "w.csv").unwrap_err();
    assert!(e.message.contains("exact or lookalike"), "{e}");
    let e = Watchlist::from_csv(
        b"plate,list,valid_from,expires_at\nABC123,w,2026-02-01,2026-01-01\n",
        "w.csv",
    )
    .unwrap_err();
    assert!(e.message.contains("never be active"), "{e}");

    let (w, report) = Watchlist::from_csv_with(
        b"plate,list,priority\nABC123,w,\nA,w,\nXYZ123,w,9\nKLM123,w,2\n",
        "w.csv",
        &WatchlistConfig::default(),
        &LoadOptions {
            skip_bad_rows: true,
        },
    )
    .unwrap();
    assert_eq!(w.len(), 2);
    assert_eq!(report.loaded, 2);
    assert_eq!(
        report.skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
        [3, 4]
    );
}

#[test]
fn config_errors() {
    assert!(WatchlistConfig::from_json(r#"{"max_substitutions":3}"#)
        .and_then(|c| Watchlist::with_config(&c))
        .unwrap_err()
        .contains("0, 1 or 2"));
    assert!(WatchlistConfig::from_json(r#"{"fuzzy":1}"#).is_err());
    assert!(WatchlistConfig::from_json(r#"{"templates":["x=Q"]}"#)
        .and_then(|c| Watchlist::with_config(&c))
        .is_err());
}

#[test]
fn filter_never_hides_a_listed_plate_and_rejects_most_others() {
    let mut w = Watchlist::new();
    let mut listed = Vec::new();
    for i in 0..50_000u32 {
        let p = format!("A{i:06}");
        w.insert(EntrySpec {
            entry_id: format!("E{i}"),
            plate: p.clone(),
            list: "l".into(),
            ..Default::default()
        })
        .unwrap();
        listed.push(plate(&p));
    }
    assert!(listed.iter().all(|p| {
        let mut out = Vec::new();
        w.match_read(&ReadQuery::plate(p, 0), &mut out);
        out.iter().any(|h| h.kind == MatchKind::Exact)
    }));
    let passed = (0..100_000u32)
        .filter(|i| w.exact_filter.may_contain(plate(&format!("B{i:06}")).key()))
        .count();
    assert!(
        passed < 10_000,
        "{passed} of 100000 unlisted plates passed the filter"
    );
}

#[test]
fn entry_id_defaults_to_list_and_plate() {
    let w = wl("plate,list\nabc 123,wanted\n");
    assert!(w.get("wanted:ABC123").is_some());
}
