//! Rewriting an alert document into a page or update without parsing it into a
//! tree: the engine's documents are flat JSON objects whose top-level values we
//! copy or replace span by span (a full parse and re-serialisation was ~70 % of
//! the incident stage's time).

use super::Update;
use crate::alert::{Alert, AlertKind};
use crate::timestamp::{format_rfc3339_utc, parse_rfc3339};
use std::ops::Range;

/// Top-level `(key, value)` byte ranges of a JSON object (the key without its
/// quotes); `None` if `doc` is not an object this scanner understands.
fn fields(doc: &[u8]) -> Option<Vec<(Range<usize>, Range<usize>)>> {
    let mut i = skip_ws(doc, 0);
    if doc.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(doc, i + 1);
    let mut out = Vec::with_capacity(16);
    if doc.get(i) == Some(&b'}') {
        return Some(out);
    }
    loop {
        if doc.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(doc, i)?;
        let key = i + 1..key_end - 1;
        i = skip_ws(doc, key_end);
        if doc.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(doc, i + 1);
        let end = value_end(doc, start)?;
        out.push((key, start..end));
        i = skip_ws(doc, end);
        match doc.get(i) {
            Some(b',') => i = skip_ws(doc, i + 1),
            Some(b'}') => return Some(out),
            _ => return None,
        }
    }
}

fn skip_ws(doc: &[u8], mut i: usize) -> usize {
    while matches!(doc.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// End (exclusive) of the string starting at the quote at `i`.
fn string_end(doc: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < doc.len() {
        match doc[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// End (exclusive) of the value starting at `i`.
fn value_end(doc: &[u8], i: usize) -> Option<usize> {
    match *doc.get(i)? {
        b'"' => string_end(doc, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < doc.len() {
                match doc[j] {
                    b'"' => {
                        j = string_end(doc, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < doc.len() && !matches!(doc[j], b',' | b'}' | b']' | b' ' | b'\n') {
                j += 1;
            }
            Some(j)
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// The page or update of `doc` that `u` describes.
pub(crate) fn rewrite(doc: &[u8], u: &Update<'_>) -> Alert {
    let spans = fields(doc).expect("the engine's alert documents are flat JSON objects");
    let text = |r: &Range<usize>| std::str::from_utf8(&doc[r.clone()]).unwrap_or_default();
    let unquote =
        |r: &Range<usize>| serde_json::from_slice::<String>(&doc[r.clone()]).unwrap_or_default();
    let mut out = Vec::with_capacity(doc.len() + 256);
    out.push(b'{');
    let (mut kind, mut event_time_ms, mut incident_key) = (AlertKind::PlateHit, 0, String::new());
    let mut has_update = false;
    for (n, (key, value)) in spans.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(&doc[key.clone()]);
        out.extend_from_slice(b"\":");
        match text(key) {
            "alert_id" => out.extend_from_slice(json_str(u.alert_id).as_bytes()),
            "update" => {
                has_update = true;
                out.extend_from_slice(u.update.to_string().as_bytes());
            }
            "priority" => out.extend_from_slice(u.priority.to_string().as_bytes()),
            "score" if u.score.is_some() => {
                let score = serde_json::to_string(&u.score).expect("numbers serialise");
                out.extend_from_slice(score.as_bytes());
            }
            "emitted_at" => {
                out.extend_from_slice(json_str(&format_rfc3339_utc(u.now_ms)).as_bytes())
            }
            "incident_key" => {
                incident_key = match u.incident_key {
                    Some(k) => k.to_owned(),
                    None => unquote(value),
                };
                out.extend_from_slice(json_str(&incident_key).as_bytes());
            }
            "reasons" if !u.extra_reasons.is_empty() => {
                let array = &doc[value.clone()];
                out.extend_from_slice(&array[..array.len() - 1]);
                let empty = array[1..array.len() - 1]
                    .iter()
                    .all(u8::is_ascii_whitespace);
                for (k, r) in u.extra_reasons.iter().enumerate() {
                    if !(empty && k == 0) {
                        out.push(b',');
                    }
                    out.extend_from_slice(json_str(r).as_bytes());
                }
                out.push(b']');
            }
            name => {
                if name == "kind" {
                    let k = unquote(value);
                    kind = AlertKind::ALL
                        .into_iter()
                        .find(|x| x.as_str() == k)
                        .unwrap_or(AlertKind::PlateHit);
                } else if name == "event_time" {
                    event_time_ms = parse_rfc3339(&unquote(value)).unwrap_or(0);
                }
                out.extend_from_slice(&doc[value.clone()]);
            }
        }
    }
    if !has_update {
        out.extend_from_slice(format!(",\"update\":{}", u.update).as_bytes());
    }
    out.extend_from_slice(b",\"incident\":");
    out.extend_from_slice(&serde_json::to_vec(&u.incident).expect("incident objects serialise"));
    out.push(b'}');
    Alert {
        alert_id: u.alert_id.to_owned(),
        kind,
        priority: u.priority,
        event_time_ms,
        incident_key,
        update: u.update,
        corroboration: u.corroboration,
        json: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splicing_equals_rewriting_the_tree() {
        let doc = br#"{"schema_version":1,"alert_id":"raw","update":0,"kind":"plate_hit","priority":4,"reasons":["a \"quoted\" ] reason",  "b"],"event_time":"2026-11-23T12:00:00.000Z","emitted_at":"x","location":{"lat":6.2,"lon":-75.5},"zones":[{"zone_id":"Q1","name":"Q [1]","kind":"sector"}],"events":["e1"],"incident_key":"plate_hit:SV-1:ABC123:exact","details":{"a":[1,{"b":"}"}]}}"#;
        let mut incident = serde_json::Map::new();
        incident.insert("sightings".into(), 2.into());
        let reasons = ["sighting 2 \u{e9}".to_string()];
        let u = Update {
            score: None,
            corroboration: false,
            alert_id: "inc-1",
            incident_key: None,
            update: 3,
            priority: 2,
            extra_reasons: &reasons,
            incident: incident.clone(),
            now_ms: 1_795_435_201_000,
        };
        let a = rewrite(doc, &u);
        let got: serde_json::Value = serde_json::from_slice(&a.json).unwrap();
        let mut want: serde_json::Value = serde_json::from_slice(doc).unwrap();
        want["alert_id"] = "inc-1".into();
        want["update"] = 3.into();
        want["priority"] = 2.into();
        want["emitted_at"] = "2026-11-23T12:00:01.000Z".into();
        want["reasons"]
            .as_array_mut()
            .unwrap()
            .push(reasons[0].clone().into());
        want["incident"] = incident.into();
        assert_eq!(got, want);
        assert_eq!(
            (a.kind, a.update, a.priority, a.event_time_ms),
            (AlertKind::PlateHit, 3, 2, 1_795_435_200_000)
        );
        assert_eq!(a.incident_key, "plate_hit:SV-1:ABC123:exact");
        let keyed = rewrite(
            br#"{"alert_id":"x","reasons":[],"kind":"button_press","incident_key":"k"}"#,
            &Update {
                incident_key: Some("other"),
                ..u
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&keyed.json).unwrap();
        assert_eq!(v["incident_key"], "other");
        assert_eq!(v["reasons"], serde_json::json!(["sighting 2 \u{e9}"]));
        assert_eq!(v["update"], 3, "added when the document has none");
    }
}
