//! Differential test of the hand-written JSON scanner (`sisec_core::json`)
//! against `serde_json::from_slice::<serde_json::Value>`.
//!
//! For every input the verdicts must agree: our `parse_raw` accepts (or reports
//! a duplicate key) exactly when serde_json accepts. For accepted inputs every
//! captured top-level value must equal what serde_json yields (numbers as f64
//! and with the same integer/float kind, strings exactly), and a non-object
//! document must be reported as `not_object` with its JSON type.
//!
//! Known, intended differences, handled explicitly below:
//! 1. Duplicate keys: serde_json's `Value` accepts them (the last one wins); we
//!    report `RawError::Duplicate` with the path of the first one, in any
//!    object of the document. A small serde visitor (`first_duplicate`) finds
//!    the expected path, so "Duplicate" must be exactly "serde_json accepts and
//!    the document repeats a key there".
//! 2. Float rounding: our floats are correctly rounded (as Python's `json`);
//!    serde_json's default float parser is not always (`float_roundtrip` is
//!    off), so floats may differ by a few ulps (see `same_f64`).
//!
//! Nesting depth needs no exception: like serde_json we reject the 128th
//! nested `[`/`{` (checked in `depth_limit`).
//!
//! Inputs: (a) a few hundred handwritten tricky inputs, each in several
//! contexts (captured, skipped, alone), plus every truncation of a few valid
//! events; (b) 150k seeded xorshift mutations of valid events (byte flips,
//! deletions, insertions of JSON punctuation and tokens, splices, repeated
//! members); (c) proptest-generated JSON documents written with random escapes
//! and whitespace, each also mutated 20 times.

use proptest::prelude::*;
use serde_json::Value;
use sisec_core::json::{parse_raw, parse_val, RawError, RawEvent, Val};

const KEYS: [&str; 21] = [
    "type",
    "event_id",
    "ts",
    "camera_id",
    "plate",
    "confidence",
    "lat",
    "lon",
    "heading_deg",
    "vehicle",
    "candidates",
    "image_ref",
    "device_id",
    "device_kind",
    "action",
    "call_id",
    "line",
    "status",
    "incident_type",
    "accuracy_m",
    "caller_hash",
];

fn field<'r, 'a>(ev: &'r RawEvent<'a>, key: &str) -> &'r Option<Val<'a>> {
    match key {
        "type" => &ev.type_,
        "event_id" => &ev.event_id,
        "ts" => &ev.ts,
        "camera_id" => &ev.camera_id,
        "plate" => &ev.plate,
        "confidence" => &ev.confidence,
        "lat" => &ev.lat,
        "lon" => &ev.lon,
        "heading_deg" => &ev.heading_deg,
        "vehicle" => &ev.vehicle,
        "candidates" => &ev.candidates,
        "image_ref" => &ev.image_ref,
        "device_id" => &ev.device_id,
        "device_kind" => &ev.device_kind,
        "action" => &ev.action,
        "call_id" => &ev.call_id,
        "line" => &ev.line,
        "status" => &ev.status,
        "incident_type" => &ev.incident_type,
        "accuracy_m" => &ev.accuracy_m,
        "caller_hash" => &ev.caller_hash,
        _ => unreachable!("{key}"),
    }
}

/// Equal, or within a few ulps (difference 2 above). Both are finite.
fn same_f64(ours: f64, theirs: f64) -> bool {
    if ours == theirs {
        return true;
    }
    if ours.is_sign_negative() != theirs.is_sign_negative() || !ours.is_finite() {
        return false;
    }
    ours.to_bits().abs_diff(theirs.to_bits()) <= 8
}

fn val_eq(ours: &Val<'_>, theirs: &Value) -> Result<(), String> {
    let ok = match (ours, theirs) {
        (Val::Null, Value::Null) => true,
        (Val::Bool(a), Value::Bool(b)) => a == b,
        (Val::Str(a), Value::String(b)) => a == b,
        // Integer literals: the same kind and the exact value.
        (Val::Int(a), Value::Number(n)) => n.as_i64() == Some(*a) && !n.is_f64(),
        (Val::UInt(a), Value::Number(n)) => n.as_u64() == Some(*a) && !n.is_f64(),
        (Val::Float(a), Value::Number(n)) => n.is_f64() && same_f64(*a, n.as_f64().unwrap()),
        (Val::Arr(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!("array lengths {} vs {}", a.len(), b.len()));
            }
            for (x, y) in a.iter().zip(b) {
                val_eq(x, y)?;
            }
            true
        }
        (Val::Obj(a), Value::Object(b)) => {
            // No duplicates here (we would have said so), so lengths compare.
            if a.len() != b.len() {
                return Err(format!("object sizes {} vs {}", a.len(), b.len()));
            }
            for (k, x) in a {
                match b.get(k.as_ref()) {
                    Some(y) => val_eq(x, y)?,
                    None => return Err(format!("key {k:?} missing in serde_json's object")),
                }
            }
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("ours {ours:?} vs serde_json {theirs:?}"))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    duplicate: usize,
}

/// Compare one input; panics with the input on any disagreement.
fn check(input: &[u8], tally: &mut Tally) {
    if let Err(why) = compare(input, tally) {
        panic!(
            "disagreement on {:?} ({} bytes): {why}",
            String::from_utf8_lossy(input),
            input.len()
        );
    }
}

fn compare(input: &[u8], tally: &mut Tally) -> Result<(), String> {
    let ours = parse_raw(input);
    let theirs = serde_json::from_slice::<Value>(input);
    // For documents serde_json accepts: the first duplicate key, if any.
    let dup = match &theirs {
        Ok(_) => first_duplicate(input),
        Err(_) => None,
    };
    match (ours, theirs) {
        (Err(RawError::Invalid(_)), Err(_)) => tally.invalid += 1,
        // Exception 1: serde_json's Value takes the last of duplicate keys; we
        // report the first duplicate, with its path.
        (Err(RawError::Duplicate(path)), Ok(_)) => {
            if dup.as_deref() != Some(path.as_str()) {
                return Err(format!("duplicate {path:?}; the reference found {dup:?}"));
            }
            tally.duplicate += 1;
        }
        (Ok(ev), Ok(v)) => {
            if let Some(dup) = dup {
                return Err(format!("accepted, but key {dup:?} is duplicated"));
            }
            tally.valid += 1;
            match &v {
                Value::Object(map) => {
                    if ev.not_object.is_some() {
                        return Err(format!("not_object {:?} for an object", ev.not_object));
                    }
                    for key in KEYS {
                        match (field(&ev, key), map.get(key)) {
                            (None, None) => {}
                            (Some(a), Some(b)) => {
                                val_eq(a, b).map_err(|e| format!("{key}: {e}"))?
                            }
                            (a, b) => return Err(format!("{key}: ours {a:?} vs serde_json {b:?}")),
                        }
                    }
                }
                other => {
                    if ev.not_object != Some(type_name(other)) {
                        return Err(format!("not_object {:?} for {other:?}", ev.not_object));
                    }
                    if KEYS.iter().any(|k| field(&ev, k).is_some()) {
                        return Err("fields captured from a non-object".into());
                    }
                }
            }
        }
        (ours, theirs) => {
            return Err(format!(
                "verdicts differ: ours {:?}, serde_json {:?}",
                ours.map(|_| "ok"),
                theirs.map(|_| "ok")
            ))
        }
    }
    Ok(())
}

// ---- reference duplicate-key finder (on top of serde_json) -----------------------

/// Marker of a duplicate-key error; the path follows as `<byte length>:<path>`
/// (keys may hold any character, so no closing delimiter would do).
const DUP: &str = "duplicate key #";

fn dup_error<E: serde::de::Error>(path: &str) -> E {
    E::custom(format!("{DUP}{}:{path}", path.len()))
}

/// The path carried by an error made by [`dup_error`].
fn dup_path(msg: &str) -> Option<&str> {
    let rest = &msg[msg.find(DUP)? + DUP.len()..];
    let colon = rest.find(':')?;
    let len: usize = rest[..colon].parse().ok()?;
    rest.get(colon + 1..colon + 1 + len)
}

/// The path of the first duplicate key of a valid document, in document
/// order: `a.b`, `a[1].b`, `[0].a`; every key but the first gets a dot.
fn first_duplicate(input: &[u8]) -> Option<String> {
    let err = serde_json::from_slice::<Walk>(input).err()?;
    let msg = err.to_string();
    match dup_path(&msg) {
        // Built bottom-up with a dot before every key; drop the leading one.
        Some(path) => Some(path.strip_prefix('.').unwrap_or(path).to_owned()),
        None => panic!("not a duplicate: {msg}"),
    }
}

/// Walks a whole document, failing at the first repeated key in any object.
struct Walk;

/// Prefix a nested duplicate's path with its parent segment (`.key` or `[i]`).
fn nest<E: serde::de::Error>(err: E, parent: &str) -> E {
    let msg = err.to_string();
    match dup_path(&msg) {
        Some(inner) => dup_error(&format!("{parent}{inner}")),
        None => err,
    }
}

impl<'de> serde::Deserialize<'de> for Walk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WalkVisitor)
    }
}

struct WalkVisitor;

impl<'de> serde::de::Visitor<'de> for WalkVisitor {
    type Value = Walk;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_unit<E>(self) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
        let mut i = 0;
        loop {
            match seq.next_element::<Walk>() {
                Ok(Some(_)) => i += 1,
                Ok(None) => return Ok(Walk),
                Err(e) => return Err(nest(e, &format!("[{i}]"))),
            }
        }
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(dup_error(&format!(".{key}")));
            }
            map.next_value::<Walk>()
                .map_err(|e| nest(e, &format!(".{key}")))?;
        }
        Ok(Walk)
    }
}

/// Valid events used as seeds for truncation and mutation.
const SEEDS: [&str; 6] = [
    r#"{"type":"plate_read","event_id":"pr-000000001","ts":"2026-11-23T07:00:01.234-05:00","camera_id":"MDE-LPR-0123","plate":"ABC123","confidence":0.93,"lat":6.251234,"lon":-75.563412,"heading_deg":90.0,"vehicle":{"class":"car","make":"Renault","color":"white"},"image_ref":"img/2026/11/23/pr-000000001.jpg"}"#,
    r#"{ "type" : "plate_read" , "event_id":"e\u0031", "ts":1700000000000, "camera_id":"c", "plate":"abc-123",
        "candidates":[{"plate":"ABC128","confidence":0.1},{"plate":"ABD123","x":[true,false,null]}],
        "vehicle":{"make":"Citro\u00ebn","color":"gris plata \ud83d\ude97"}, "extra":{"a":[1,-2.5e-3,{"b":"\\\"\/"}]} }"#,
    r#"{"type":"button_press","event_id":"b1","ts":"2026-01-01T00:00:00Z","device_id":"D1","device_kind":"panic","action":"press","lat":-0.0,"lon":1E2}"#,
    r#"{"type":"call","event_id":"c1","ts":1.7e12,"call_id":"x","line":"911","status":"received","incident_type":"robo a mano armada","accuracy_m":12345678901234567890,"caller_hash":"9f86d081884c7d65","unknown":[[[]]],"n":-9223372036854775808}"#,
    "[1,2.5,\"s\",{\"a\":{\"a\":1}},[],{},true,false,null,-0,1e-7]",
    "\t\r\n {\"vehicle\":{\"class\":\"ñandú \\t\\n\",\"nested\":{\"deep\":[{\"k\":\"v\"}]}},\"lat\":1e1,\"lon\":-1E-1} \n",
];

#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        assert!(serde_json::from_str::<Value>(seed).is_ok(), "{seed}");
        assert!(parse_raw(seed.as_bytes()).is_ok(), "{seed}");
    }
}

/// Handwritten tricky inputs, each also embedded in a few contexts: captured
/// (`{"lat":X}`, inside a captured object and array), skipped (`{"zz":X}`,
/// `[X]`) and alone.
fn handwritten_values() -> Vec<String> {
    let mut v: Vec<String> = [
        // literals
        "true",
        "false",
        "null",
        "tru",
        "nul",
        "fals",
        "True",
        "NULL",
        "truee",
        "nulll",
        "t",
        "",
        // numbers
        "0",
        "-0",
        "1",
        "-1",
        "01",
        "-01",
        "00",
        "+1",
        ".5",
        "1.",
        "-",
        "-.5",
        "1.5",
        "-1.5",
        "1e5",
        "1E5",
        "1e+5",
        "1e-5",
        "1E-05",
        "1e",
        "1e+",
        "1e-",
        "1.e5",
        "1.5e",
        "0.0",
        "0e0",
        "0E+0",
        "-0.0e-0",
        "1e400",
        "-1e400",
        "1e-400",
        "0e400",
        "0e99999999999999999999",
        "1e99999999999999999999",
        "1e-99999999999999999999",
        "123456789012345678901234567890",
        "-123456789012345678901234567890",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "-18446744073709551615",
        "-18446744073709551616",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "1.8e308",
        "2.2250738585072014e-308",
        "2.2250738585072011e-308",
        "4.9e-324",
        "5e-324",
        "2e-324",
        "1e-323",
        "0.1",
        "0.2",
        "0.3",
        "0.30000000000000004",
        "6.251234",
        "-75.563412",
        "90.0",
        "3.141592653589793238462643383279",
        "1.00000000000000011102230246251565404236316680908203125",
        "9007199254740993",
        "9007199254740993.0",
        "900719925474099.3e1",
        "1e22",
        "1e23",
        "123.456e-7",
        "0.000000000000000000000000000001",
        "1000000000000000000000.0",
        "NaN",
        "Infinity",
        "-Infinity",
        "nan",
        "inf",
        "0x10",
        "1_000",
        "1 2",
        "- 1",
        "1.5.5",
        "1e5e5",
        "١",
        "１",
        // strings
        r#""""#,
        r#""a""#,
        r#""\"""#,
        r#""\\""#,
        r#""\/""#,
        r#""\b\f\n\r\t""#,
        r#""\u0000""#,
        r#""\u001f""#,
        r#""\u0041\u00e9\u20ac""#,
        r#""\u00E9""#,
        r#""\uD83D\uDE00""#,
        r#""\ud83d\ude00""#,
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\ud83d\u0041""#,
        r#""\ud83dx""#,
        r#""\ud83d\""#,
        r#""\ud83d\n""#,
        r#""\ud83d\ud83d""#,
        r#""\udbff\udfff""#,
        r#""\ud800\udc00""#,
        r#""\u""#,
        r#""\u1""#,
        r#""\u12""#,
        r#""\u123""#,
        r#""\u123g""#,
        r#""\U0041""#,
        r#""\x41""#,
        r#""\a""#,
        r#""\'""#,
        r#""\ ""#,
        r#""\"#,
        r#""abc"#,
        "\"",
        "\"tab\there\"",
        "\"nl\nhere\"",
        "\"cr\rhere\"",
        "\"nul\u{0}here\"",
        "\"del\u{7f}ok\"",
        "\"\u{1f}\"",
        "\"é€😀\"",
        "\"\u{feff}bom inside\"",
        "\"\u{2028}\u{2029}\"",
        "'single'",
        r#""a"b""#,
        r#""a""b""#,
        // containers
        "[]",
        "{}",
        "[ ]",
        "{ }",
        "[1,]",
        "[,1]",
        "[1,,2]",
        "[1 2]",
        "{,}",
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{"a":}"#,
        r#"{"a"}"#,
        r#"{a:1}"#,
        r#"{1:1}"#,
        r#"{"a":1 "b":2}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"a":{"b":1,"b":2}}"#,
        r#"[{"a":1,"a":1}]"#,
        "[",
        "]",
        "{",
        "}",
        "[[]",
        "[]]",
        "{{}}",
        "[{]}",
        "[1}",
        r#"{"a":1]"#,
        "[\n1\n,\n2\n]",
        "[ 1 , 2 ]",
        "[\u{a0}1]",
        "[\u{b}1]",
        "[\u{c}1]",
        "[1\u{0}]",
        "[/* c */1]",
        "[1]//",
        "[#]",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every ASCII byte and a few non-ASCII characters inside a string.
    for c in (0u8..0x80)
        .map(char::from)
        .chain(['é', '€', '😀', '\u{fffd}'])
    {
        v.push(format!("\"x{c}y\""));
    }
    // Every character after a backslash.
    for c in (0x20u8..0x7f).map(char::from) {
        v.push(format!("\"\\{c}\""));
    }
    v
}

fn contexts(x: &str) -> Vec<String> {
    vec![
        x.to_string(),
        format!(" {x} "),
        format!(r#"{{"lat":{x}}}"#),
        format!(r#"{{"zz":{x}}}"#),
        format!("[{x}]"),
        format!(r#"{{"vehicle":{{"make":{x}}},"candidates":[0,{x}]}}"#),
        format!(r#"{{"x":{{"y":[{x}]}},"plate":"AB"}}"#),
        format!("{{\n\t\"type\" : {x} ,\r\n\"ts\":0}}"),
    ]
}

#[test]
fn handwritten_inputs() {
    let mut tally = Tally::default();
    let mut n = 0;
    for x in handwritten_values() {
        for input in contexts(&x) {
            check(input.as_bytes(), &mut tally);
            n += 1;
        }
    }
    // Bytes that are not UTF-8, in and out of strings.
    let bad_utf8: [&[u8]; 14] = [
        b"\xff",
        b"\xfe\xff",
        b"\xc3",
        b"\xc3\x28",
        b"\xe2\x82",
        b"\xe2\x28\xa1",
        b"\xf0\x9f\x98",
        b"\xf0\x28\x8c\x28",
        b"\xc0\xaf",
        b"\xe0\x80\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xf8\x88\x80\x80\x80",
        b"\x80",
    ];
    for bad in bad_utf8 {
        for (pre, post) in [
            (&b"\""[..], &b"\""[..]),
            (b"{\"plate\":\"", b"\"}"),
            (b"{\"zz\":\"", b"\"}"),
            (b"{\"", b"\":1}"),
            (b"", b""),
            (b"[1]", b""),
        ] {
            check(&[pre, bad, post].concat(), &mut tally);
            n += 1;
        }
    }
    // A byte-order mark is not JSON whitespace.
    check(b"\xef\xbb\xbf{}", &mut tally);
    check("\u{feff}{}".as_bytes(), &mut tally);
    // Whitespace: only space, tab, CR, LF.
    for ws in [
        "", " ", "\t", "\r", "\n", "\r\n \t", "\u{b}", "\u{c}", "\u{a0}", "\u{85}", "\u{0}",
    ] {
        for input in [
            format!("{ws}{{{ws}\"lat\"{ws}:{ws}1{ws},{ws}\"lon\"{ws}:{ws}[{ws}2{ws}]{ws}}}{ws}"),
            format!("{ws}1{ws}"),
            ws.to_string(),
        ] {
            check(input.as_bytes(), &mut tally);
            n += 1;
        }
    }
    // Truncations at every byte offset of the seeds (ending at a char boundary
    // or not), and the seeds with one byte removed at every offset.
    for seed in SEEDS {
        let b = seed.as_bytes();
        for cut in 0..=b.len() {
            check(&b[..cut], &mut tally);
            check(&b[cut..], &mut tally);
            if cut < b.len() {
                check(&[&b[..cut], &b[cut + 1..]].concat(), &mut tally);
            }
            n += 3;
        }
    }
    eprintln!("handwritten: {n} inputs, {tally:?}");
    assert!(n > 1000, "{n}");
    assert!(tally.valid > 300 && tally.invalid > 300, "{tally:?}");
    assert!(tally.duplicate > 0, "{tally:?}");
}

#[test]
fn numbers_are_correctly_rounded() {
    for x in handwritten_values() {
        let Ok(v) = parse_val(x.as_bytes()) else {
            continue;
        };
        let expected: Option<f64> = x.trim().parse().ok();
        match (v, expected) {
            (Val::Float(a), Some(e)) => assert_eq!(a.to_bits(), e.to_bits(), "{x}"),
            (Val::Int(i), Some(e)) => assert_eq!(i as f64, e, "{x}"),
            (Val::UInt(u), Some(e)) => assert_eq!(u as f64, e, "{x}"),
            _ => {}
        }
    }
}

#[test]
fn depth_limit() {
    let mut tally = Tally::default();
    let arrays = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    for n in [1, 2, 100, 126, 127, 128, 129, 200, 1000] {
        for doc in [arrays(n), objects(n)] {
            for input in [
                doc.clone(),
                format!(r#"{{"vehicle":{doc}}}"#),
                format!(r#"{{"zz":{doc}}}"#),
                format!("[{doc}]"),
            ] {
                check(input.as_bytes(), &mut tally);
            }
        }
    }
    // Both sides accept 127 levels and reject 128.
    assert!(serde_json::from_str::<Value>(&arrays(127)).is_ok());
    assert!(serde_json::from_str::<Value>(&arrays(128)).is_err());
    match parse_raw(arrays(128).as_bytes()) {
        Err(RawError::Invalid(msg)) => assert!(msg.contains("nesting"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicates_are_the_only_extra_rejections() {
    let mut tally = Tally::default();
    for input in [
        r#"{"plate":"A","plate":"B"}"#,
        r#"{"zz":1,"zz":2}"#,
        r#"{"vehicle":{"make":"a","make":"b"}}"#,
        r#"{"candidates":[{"plate":"AB"},{"plate":"AB","plate":"CD"}]}"#,
        r#"{"p\u006cate":"A","plate":"B"}"#,
        // Odd keys: the path is built the same way as serde-era paths were.
        r#"{"vehicle":{"[a":1,"[a":2}}"#,
        r#"{"vehicle":{"x":{"[0]":{"a.b":1,"a.b":2}}}}"#,
        r#"{"candidates":[[],[{"`":1,"`":2}]]}"#,
        r#"{"zz":[[{"":1,"":2}]]}"#,
        r#"{"a\u0000":1,"a\u0000":2}"#,
    ] {
        check(input.as_bytes(), &mut tally);
    }
    assert_eq!(tally.duplicate, 10);
    // Also inside unknown values and in non-object documents (duplicate_field
    // comes before not_object in the contract's check order).
    for (input, path) in [
        (r#"{"zz":{"a":1,"a":2}}"#, "zz.a"),
        (r#"{"zz":[{"y":{"a":1,"a":2}}]}"#, "zz[0].y.a"),
        (r#"[{"a":1,"a":2}]"#, "[0].a"),
    ] {
        assert_eq!(
            parse_raw(input.as_bytes()).err(),
            Some(RawError::Duplicate(path.to_owned())),
            "{input}"
        );
        check(input.as_bytes(), &mut tally);
    }
    // A syntax error anywhere wins over a duplicate.
    for input in [
        r#"{"plate":"A","plate":"B""#,
        r#"{"plate":"A","plate":"B",}"#,
        r#"{"vehicle":{"make":"a","make":"b"},"x":01}"#,
        r#"{"zz":1,"zz":2} x"#,
    ] {
        assert!(
            matches!(parse_raw(input.as_bytes()), Err(RawError::Invalid(_))),
            "{input}"
        );
    }
}

/// Deterministic xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes worth inserting or flipping to: JSON punctuation and number parts,
/// whitespace (valid and not), escapes, and UTF-8 pieces.
const INTERESTING: &[u8] = b"{}[]:,\"\\ \t\n\r-+.eE0123456789tfnulrsa/bu\x00\x1f\x7f\x0b\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\xff";

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    let len = input.len();
    match rng.below(9) {
        // Repeat an object member (`,"key":value` up to the next `,` or `}`):
        // mostly makes duplicate keys, at any depth.
        8 => {
            let starts: Vec<usize> = input
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w == b",\"")
                .map(|(i, _)| i)
                .collect();
            if let Some(&from) = starts.get(rng.below(starts.len().max(1))) {
                let end = input[from + 1..]
                    .iter()
                    .position(|&b| b == b',' || b == b'}')
                    .map_or(len, |n| from + 1 + n);
                let piece = input[from..end].to_vec();
                input.splice(end..end, piece);
            }
        }
        // Flip a byte to an interesting one.
        0 | 1 if len > 0 => {
            let at = rng.below(len);
            input[at] = INTERESTING[rng.below(INTERESTING.len())];
        }
        // Flip a byte to anything.
        2 if len > 0 => {
            let at = rng.below(len);
            input[at] = rng.next() as u8;
        }
        // Delete a byte or a short range.
        3 | 4 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below(4.min(len - at));
            input.drain(at..at + n);
        }
        // Insert an interesting byte.
        5 => {
            let at = rng.below(len + 1);
            input.insert(at, INTERESTING[rng.below(INTERESTING.len())]);
        }
        // Duplicate a short range elsewhere (can make duplicate keys).
        6 if len > 0 => {
            let from = rng.below(len);
            let n = 1 + rng.below(12.min(len - from));
            let piece = input[from..from + n].to_vec();
            let at = rng.below(len + 1);
            input.splice(at..at, piece);
        }
        // Insert a short JSON token.
        _ => {
            const TOKENS: [&str; 12] = [
                "null", "true", "1e400", "-0", "\\u00e9", "\\ud83d", "{}", "[]", ",", "\"a\":1,",
                "0.5", "\"",
            ];
            let at = rng.below(len + 1);
            let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
            input.splice(at..at, t.iter().copied());
        }
    }
}

#[test]
fn random_mutations_of_valid_events() {
    const CASES: usize = 150_000;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut tally = Tally::default();
    let mut input = Vec::new();
    for case in 0..CASES {
        input.clear();
        input.extend_from_slice(SEEDS[case % SEEDS.len()].as_bytes());
        let edits = 1 + rng.below(3);
        for _ in 0..edits {
            mutate(&mut rng, &mut input);
        }
        check(&input, &mut tally);
    }
    eprintln!("mutations: {tally:?}");
    // The mix must exercise both verdicts (and some duplicates).
    assert_eq!(tally.valid + tally.invalid + tally.duplicate, CASES);
    assert!(tally.valid > CASES / 20, "{tally:?}");
    assert!(tally.invalid > CASES / 2, "{tally:?}");
    assert!(tally.duplicate > 0, "{tally:?}");
}

// ---- proptest: generated documents ----------------------------------------------

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        "[a-z]{0,3}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![Just("plate".to_string()), "[a-z]{1,3}", any::<String>()],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A top-level object with some known and some unknown keys.
fn json_event() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(KEYS.to_vec()).prop_map(str::to_string),
        "[a-z_]{1,8}",
    ];
    prop::collection::vec((key, json_value()), 0..8)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// Write a value with escapes (`\uXXXX` for some characters) and random
/// whitespace, in ways serde_json's serializer does not.
fn write_json(v: &Value, ws: &[u8], seed: &mut u64, out: &mut String) {
    fn space(ws: &[u8], seed: &mut u64, out: &mut String) {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = ws[(*seed >> 33) as usize % ws.len()];
        if w != b'x' {
            out.push(char::from(w));
        }
    }
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(ws, seed, out);
                write_json(item, ws, seed, out);
                space(ws, seed, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(ws, seed, out);
                write_string(k, *seed, out);
                space(ws, seed, out);
                out.push(':');
                space(ws, seed, out);
                write_json(item, ws, seed, out);
            }
            space(ws, seed, out);
            out.push('}');
        }
        Value::String(s) => write_string(s, *seed, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, seed: u64, out: &mut String) {
    out.push('"');
    for (i, c) in s.chars().enumerate() {
        let escape = (seed >> (i % 60)) & 1 == 1;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || escape => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents(v in prop_oneof![json_event(), json_value()], seed in any::<u64>()) {
        let mut tally = Tally::default();
        // serde_json's own compact and pretty forms.
        check(serde_json::to_string(&v).unwrap().as_bytes(), &mut tally);
        check(serde_json::to_string_pretty(&v).unwrap().as_bytes(), &mut tally);
        // Our own form with escapes and whitespace.
        let mut s = String::new();
        let mut state = seed;
        write_json(&v, b" \t\n\rxxxx", &mut state, &mut s);
        check(s.as_bytes(), &mut tally);
        // Every generated document is valid, with no duplicate keys.
        prop_assert_eq!(tally.valid, 3);
        // And some mutations of it.
        let mut rng = Rng(seed | 1);
        for _ in 0..20 {
            let mut m = s.clone().into_bytes();
            mutate(&mut rng, &mut m);
            check(&m, &mut tally);
        }
    }
}

/// Found by proptest in CI: an empty key before an index must keep its dot
/// (`type.[0].plate`, not `type[0].plate`, which would be a different path).
#[test]
fn empty_key_keeps_its_place_in_duplicate_paths() {
    let input = br#"{"type":{"":[{"plate":1,"plate":2}]}}"#;
    assert_eq!(first_duplicate(input).as_deref(), Some("type.[0].plate"));
    match sisec_core::json::parse_raw(input) {
        Err(sisec_core::json::RawError::Duplicate(path)) => assert_eq!(path, "type.[0].plate"),
        other => panic!("{other:?}"),
    }
    let input = br#"{"a":{"[x":{"k":1,"k":2}}}"#;
    assert_eq!(first_duplicate(input).as_deref(), Some("a.[x.k"));
}
