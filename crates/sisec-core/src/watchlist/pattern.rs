//! Wildcard entries for partial plates from witnesses: `?` is one unknown
//! character, `*` any run (possibly empty). `AB*12*` matches `ABC123`, `AB12`.
//!
//! A pattern without `*` has a fixed length: it is indexed by its length, the
//! positions it knows and the characters there (`AB?12?` -> 6, `110110`,
//! `AB12`), so a read probes one bucket per distinct (length, known positions)
//! shape. A pattern with `*` is indexed by the longer of its literal prefix and
//! literal suffix; a read probes one bucket per distinct prefix/suffix length.
//! Only patterns that are wildcards at both ends are scanned one by one. Exact
//! matching never touches any of this.

use crate::plate::{Plate, MAX_LEN};
use rustc_hash::FxHashMap;
use std::fmt;

const ONE: u8 = b'?';
/// Fewest known characters in a pattern.
pub const MIN_KNOWN: usize = 3;
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
        // Fewer known characters match too many cars to be worth an alert.
        if literals < MIN_KNOWN {
            return Err(format!(
                "a pattern needs at least {MIN_KNOWN} known characters (fewer match too \
                 many cars)"
            ));
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

    /// For a pattern without `*`: its length and the bit set of known positions.
    fn shape(&self) -> Option<(u8, u16)> {
        if self.symbols.contains(&ANY) {
            return None;
        }
        let mask = self
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != ONE)
            .fold(0u16, |m, (i, _)| m | 1 << i);
        Some((self.symbols.len() as u8, mask))
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

/// Key of the characters of `b` at the positions in `mask`.
fn masked_key(b: &[u8], mask: u16) -> u64 {
    b.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .fold(0u64, |k, (_, &c)| k * 37 + 1 + u64::from(c))
}

#[derive(Clone, Debug, Default)]
pub struct PatternIndex {
    /// (length, known positions, their key) -> (entry, pattern) pairs.
    by_shape: FxHashMap<(u8, u16, u64), Vec<(u32, Pattern)>>,
    shapes: Vec<(u8, u16)>,
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
        if let Some((len, mask)) = p.shape() {
            if !self.shapes.contains(&(len, mask)) {
                self.shapes.push((len, mask));
            }
            let k = masked_key(&p.symbols, mask);
            return self.by_shape.entry((len, mask, k)).or_default();
        }
        let (pre, suf) = (p.prefix(), p.suffix());
        // The longer literal end is the more selective bucket.
        if !pre.is_empty() && pre.len() >= suf.len() {
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
        for &(len, mask) in &self.shapes {
            if usize::from(len) == read.len() {
                if let Some(b) = self.by_shape.get(&(len, mask, masked_key(read, mask))) {
                    b.iter()
                        .filter(|(_, p)| p.matches(read))
                        .for_each(|(i, _)| f(*i));
                }
            }
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
        assert!(m("*C12*", "ABC123"));
        assert!(m("A**BC", "AXXBC"));
        assert_eq!(Pattern::parse("A**BC").unwrap().to_string(), "A*BC");
    }

    #[test]
    fn bad_patterns() {
        assert!(Pattern::parse("*").is_err());
        assert!(
            Pattern::parse("A*2*").is_err(),
            "2 known characters match too many cars"
        );
        assert!(Pattern::parse("A*?").is_err());
        assert!(Pattern::parse("A_B*").is_err());
        assert!(Pattern::parse("ABCDEFGHIJ?").is_err());
    }

    #[test]
    fn index_finds_by_prefix_suffix_and_floating() {
        let mut ix = PatternIndex::default();
        let pats = ["AB*12*", "*123", "*C12*", "XY?12", "QZ*1"];
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
        assert_eq!(hits(&ix, "QZ01"), [4]);
        assert_eq!(hits(&ix, "XYZ12"), [3]);
        assert_eq!(hits(&ix, "KLM999"), Vec::<u32>::new());
        ix.remove(&Pattern::parse("*123").unwrap(), 1);
        assert_eq!(hits(&ix, "ABC123"), [0, 2]);
        // Fixed-length patterns by shape; A*123 under its longer end (the suffix).
        for (i, p) in ["?BC?23", "A*123", "AB?12?"].iter().enumerate() {
            ix.insert(&Pattern::parse(p).unwrap(), 10 + i as u32);
        }
        assert_eq!(hits(&ix, "ABC123"), [0, 2, 10, 11, 12]);
        assert_eq!(hits(&ix, "XBC923"), [10]);
        ix.remove(&Pattern::parse("?BC?23").unwrap(), 10);
        assert_eq!(hits(&ix, "XBC923"), Vec::<u32>::new());
    }
}
