//! Wildcard entries for partial plates from witnesses: `?` is one unknown
//! character, `*` any run (possibly empty). `AB*12*` matches `ABC123`, `AB12`.
//!
//! Patterns are indexed by their literal prefix (the characters before the
//! first wildcard) or, when they start with a wildcard, by their literal
//! suffix; a read probes one bucket per distinct prefix/suffix length. Only
//! patterns that are wildcards at both ends are scanned one by one. Exact
//! matching never touches any of this.

use crate::plate::{Plate, MAX_LEN, MIN_LEN};
use rustc_hash::FxHashMap;
use std::fmt;

const ONE: u8 = b'?';
const ANY: u8 = b'*';

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Upper-case letters, digits, `?` and `*`.
    symbols: Box<[u8]>,
}

impl Pattern {
    /// Normalise like plates (case, spaces, dots and dashes) and check it.
    pub fn parse(raw: &str) -> Result<Pattern, String> {
        let mut symbols = Vec::new();
        for c in raw.bytes() {
            match c {
                b'A'..=b'Z' | b'0'..=b'9' | ONE => symbols.push(c),
                b'a'..=b'z' => symbols.push(c - 32),
                // Consecutive `*` mean the same as one.
                ANY if symbols.last() != Some(&ANY) => symbols.push(c),
                ANY | b' ' | b'.' | b'-' => {}
                _ => {
                    return Err(
                        "a pattern holds letters, digits, ? (one character) and * (any run)".into(),
                    )
                }
            }
        }
        let literals = symbols.iter().filter(|c| c.is_ascii_alphanumeric()).count();
        let fixed = symbols.iter().filter(|&&c| c != ANY).count();
        if literals < MIN_LEN {
            return Err("a pattern needs at least 2 known characters".into());
        }
        if fixed > MAX_LEN {
            return Err("a pattern is longer than a plate (10 characters)".into());
        }
        Ok(Pattern {
            symbols: symbols.into_boxed_slice(),
        })
    }

    /// The known characters, as a plate (for display and ids only).
    pub fn literal_plate(&self) -> Plate {
        let s: String = self
            .symbols
            .iter()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|&c| c as char)
            .collect();
        Plate::parse(&s).expect("2..=10 letters and digits")
    }

    fn prefix(&self) -> &[u8] {
        let n = self
            .symbols
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        &self.symbols[..n]
    }

    fn suffix(&self) -> &[u8] {
        let n = self
            .symbols
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        &self.symbols[self.symbols.len() - n..]
    }

    /// Does the normalised plate `read` match?
    pub fn matches(&self, read: &[u8]) -> bool {
        // Iterative glob with single-star backtracking.
        let p = &self.symbols;
        let (mut i, mut j) = (0usize, 0usize);
        let (mut star, mut mark) = (usize::MAX, 0usize);
        while j < read.len() {
            if i < p.len() && (p[i] == ONE || p[i] == read[j]) {
                i += 1;
                j += 1;
            } else if i < p.len() && p[i] == ANY {
                star = i;
                mark = j;
                i += 1;
            } else if star != usize::MAX {
                i = star + 1;
                mark += 1;
                j = mark;
            } else {
                return false;
            }
        }
        while i < p.len() && p[i] == ANY {
            i += 1;
        }
        i == p.len()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.symbols).expect("ASCII"))
    }
}

fn key(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |k, &c| k * 37 + 1 + u64::from(c))
}

#[derive(Clone, Debug, Default)]
pub struct PatternIndex {
    /// (prefix length, prefix key) -> (entry, pattern) pairs.
    by_prefix: FxHashMap<(u8, u64), Vec<(u32, Pattern)>>,
    by_suffix: FxHashMap<(u8, u64), Vec<(u32, Pattern)>>,
    prefix_lens: Vec<u8>,
    suffix_lens: Vec<u8>,
    floating: Vec<(u32, Pattern)>,
    count: usize,
}

impl PatternIndex {
    fn bucket(&mut self, p: &Pattern) -> &mut Vec<(u32, Pattern)> {
        let (pre, suf) = (p.prefix(), p.suffix());
        if !pre.is_empty() {
            let n = pre.len() as u8;
            if !self.prefix_lens.contains(&n) {
                self.prefix_lens.push(n);
            }
            self.by_prefix.entry((n, key(pre))).or_default()
        } else if !suf.is_empty() {
            let n = suf.len() as u8;
            if !self.suffix_lens.contains(&n) {
                self.suffix_lens.push(n);
            }
            self.by_suffix.entry((n, key(suf))).or_default()
        } else {
            &mut self.floating
        }
    }

    pub fn insert(&mut self, p: &Pattern, idx: u32) {
        self.bucket(p).push((idx, p.clone()));
        self.count += 1;
    }

    pub fn remove(&mut self, p: &Pattern, idx: u32) {
        let bucket = self.bucket(p);
        let before = bucket.len();
        bucket.retain(|(i, _)| *i != idx);
        self.count -= before - bucket.len();
    }

    /// Call `f` with every entry whose pattern matches `read`.
    pub fn matches(&self, read: &[u8], mut f: impl FnMut(u32)) {
        if self.count == 0 {
            return;
        }
        for &n in &self.prefix_lens {
            let n = usize::from(n);
            if n <= read.len() {
                if let Some(b) = self.by_prefix.get(&(n as u8, key(&read[..n]))) {
                    b.iter()
                        .filter(|(_, p)| p.matches(read))
                        .for_each(|(i, _)| f(*i));
                }
            }
        }
        for &n in &self.suffix_lens {
            let n = usize::from(n);
            if n <= read.len() {
                if let Some(b) = self.by_suffix.get(&(n as u8, key(&read[read.len() - n..]))) {
                    b.iter()
                        .filter(|(_, p)| p.matches(read))
                        .for_each(|(i, _)| f(*i));
                }
            }
        }
        self.floating
            .iter()
            .filter(|(_, p)| p.matches(read))
            .for_each(|(i, _)| f(*i));
    }

    pub fn heap_bytes(&self) -> usize {
        (self.count) * (std::mem::size_of::<(u32, Pattern)>() + 12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, r: &str) -> bool {
        Pattern::parse(p).unwrap().matches(r.as_bytes())
    }

    #[test]
    fn globs() {
        assert!(m("AB*12*", "ABC123"));
        assert!(m("AB*12*", "AB12"));
        assert!(!m("AB*12*", "ABC132"));
        assert!(m("ab?-123", "ABC123"));
        assert!(!m("AB?123", "AB123"));
        assert!(m("*123", "XYZ123"));
        assert!(!m("*123", "XYZ1234"));
        assert!(m("*C1*", "ABC123"));
        assert!(m("A**B", "AXXB"));
        assert_eq!(Pattern::parse("A**B").unwrap().to_string(), "A*B");
    }

    #[test]
    fn bad_patterns() {
        assert!(Pattern::parse("*").is_err());
        assert!(Pattern::parse("A*?").is_err());
        assert!(Pattern::parse("A_B*").is_err());
        assert!(Pattern::parse("ABCDEFGHIJ?").is_err());
    }

    #[test]
    fn index_finds_by_prefix_suffix_and_floating() {
        let mut ix = PatternIndex::default();
        let pats = ["AB*12*", "*123", "*C1*", "XY?12", "Q*"];
        for (i, p) in pats.iter().enumerate() {
            if let Ok(p) = Pattern::parse(p) {
                ix.insert(&p, i as u32);
            }
        }
        fn hits(ix: &PatternIndex, r: &str) -> Vec<u32> {
            let mut v = Vec::new();
            ix.matches(r.as_bytes(), |i| v.push(i));
            v.sort();
            v
        }
        assert_eq!(hits(&ix, "ABC123"), [0, 1, 2]);
        assert_eq!(hits(&ix, "XYZ12"), [3]);
        assert_eq!(hits(&ix, "KLM999"), Vec::<u32>::new());
        ix.remove(&Pattern::parse("*123").unwrap(), 1);
        assert_eq!(hits(&ix, "ABC123"), [0, 2]);
    }
}
