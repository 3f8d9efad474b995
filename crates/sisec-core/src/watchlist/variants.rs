//! Read variants of a listed plate: every read the matcher would match to it.
//!
//! Matching goes from a read to the listed plates it could be; searching an
//! archive for one plate goes the other way. [`Watchlist::read_variants`] lists
//! every read text that [`Watchlist::match_read`] would hit a look-alike entry
//! with, by the same rules (confusion table, `max_substitutions`, `edges`):
//!
//! * **exact**: the plate itself;
//! * **look-alike**: 1 to `max_substitutions` positions, each replaced by one of
//!   the character's look-alikes (a pair with a weight above 0);
//! * **dropped edge** (plates of 3 characters or more): the plate without its
//!   first or without its last character;
//! * **extra edge** (plates of fewer than 10 characters): any of the 36 symbols
//!   before or after the plate.
//!
//! The set is exactly what the matcher accepts for such an entry (tested both
//! ways below), so an archive search can filter on it and confirm with the
//! matcher. Wildcard patterns and OCR candidates are not variants of a plate
//! text; a search does not cover them.
//!
//! Size: `1 + Σ a_i + Σ_{i<j} a_i a_j` (look-alikes; `a_i` the look-alikes of
//! character `i`, the second sum only with `max_substitutions` 2) `+ 2 + 72`
//! (edges). With the default table: 81 for `ABC123` at `max_substitutions` 1,
//! 95 at 2; 82 and 102 for `ABC123A`; never more than 510 (10 characters, each
//! with 3 look-alikes, two substitutions).

use super::lookalike::SYMBOLS;
use super::{ConfusionTable, Watchlist};
use crate::plate::{Plate, MAX_LEN, MIN_LEN};

/// Every read [`Watchlist::match_read`] hits a look-alike entry listing `listed`
/// with (kinds exact, look-alike, edge), under these rules: the plate first, then
/// its look-alikes (one substitution, then two), then its edge variants; no
/// duplicates.
pub fn read_variants(
    listed: &Plate,
    confusion: &ConfusionTable,
    max_substitutions: u8,
    edges: bool,
) -> Vec<Plate> {
    let bytes = listed.as_str().as_bytes();
    let n = bytes.len();
    let mut out = vec![*listed];
    // Look-alikes: choose positions in increasing order, each with an alternative.
    let mut buf = [0u8; MAX_LEN];
    buf[..n].copy_from_slice(bytes);
    for k in 1..=usize::from(max_substitutions.min(2)) {
        substitute(&mut buf[..n], bytes, confusion, 0, k, &mut out);
    }
    if edges {
        // The matcher indexes dropped edges of plates longer than the shortest.
        if n > MIN_LEN {
            out.push(plate_of(&bytes[1..]));
            let last = plate_of(&bytes[..n - 1]);
            if !out.contains(&last) {
                out.push(last);
            }
        }
        // An extra character: the read must still be a plate (at most MAX_LEN).
        if n < MAX_LEN {
            let start = out.len();
            let mut longer = [0u8; MAX_LEN];
            for &c in SYMBOLS {
                longer[0] = c;
                longer[1..=n].copy_from_slice(bytes);
                out.push(plate_of(&longer[..=n]));
            }
            for &c in SYMBOLS {
                longer[..n].copy_from_slice(bytes);
                longer[n] = c;
                let p = plate_of(&longer[..=n]);
                // c + plate == plate + c only when every character is c.
                if !out[start..].contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Push every variant of `buf` with `k` more substitutions at positions `from..`.
fn substitute(
    buf: &mut [u8],
    listed: &[u8],
    confusion: &ConfusionTable,
    from: usize,
    k: usize,
    out: &mut Vec<Plate>,
) {
    if k == 0 {
        out.push(plate_of(buf));
        return;
    }
    for pos in from..=buf.len() - k {
        let alternatives = confusion.alternatives(listed[pos]);
        for (j, &c) in SYMBOLS.iter().enumerate() {
            if alternatives & (1 << j) != 0 {
                buf[pos] = c;
                substitute(buf, listed, confusion, pos + 1, k - 1, out);
            }
        }
        buf[pos] = listed[pos];
    }
}

fn plate_of(chars: &[u8]) -> Plate {
    let text = std::str::from_utf8(chars).expect("plate symbols are ASCII");
    Plate::parse(text).expect("a variant of a plate is a plate")
}

impl Watchlist {
    /// Every read this watchlist's rules would match to a look-alike entry
    /// listing `listed` (see [`read_variants`]); only the plate itself when the
    /// rules make new entries exact by default.
    pub fn read_variants(&self, listed: &Plate) -> Vec<Plate> {
        let rules = &self.rules.source;
        if rules.default_match == super::MatchMode::Exact {
            return vec![*listed];
        }
        read_variants(
            listed,
            &self.rules.confusion,
            rules.max_substitutions,
            rules.edges,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watchlist::{MatchKind, ReadQuery, WatchlistConfig};
    use std::collections::HashSet;

    fn one_entry(plate: &str, max_substitutions: u8) -> Watchlist {
        let config = WatchlistConfig {
            max_substitutions,
            ..WatchlistConfig::default()
        };
        let csv = format!("entry_id,plate,list\nQ,{plate},search\n");
        Watchlist::from_csv_with(csv.as_bytes(), "q.csv", &config, &Default::default())
            .unwrap()
            .0
    }

    /// The kind of the entry's hit by `read`, if any (exact/look-alike/edge only
    /// can occur: the entry is no pattern and the read has no candidates).
    fn hit_kind(w: &Watchlist, read: &Plate) -> Option<MatchKind> {
        let mut out = Vec::new();
        w.match_read(&ReadQuery::plate(read, 0), &mut out);
        assert!(out.len() <= 1, "{out:?}");
        out.first().map(|h| h.kind)
    }

    fn set(w: &Watchlist, listed: &str) -> HashSet<String> {
        let v = w.read_variants(&Plate::parse(listed).unwrap());
        let s: HashSet<String> = v.iter().map(|p| p.as_str().to_owned()).collect();
        assert_eq!(s.len(), v.len(), "duplicates in the variants of {listed}");
        s
    }

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

    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"0123456789";

    /// A random plate: of a real format (most), or any 2-10 symbols.
    fn random_plate(rng: &mut Rng) -> String {
        const SHAPES: &[&str] = &["LLLDDD", "LLLDDL", "LLLDDDL", "LDDDLLL", "LLLDDDD", "TDDDD"];
        let shape: Vec<u8> = if rng.below(4) == 0 {
            (0..2 + rng.below(9)).map(|_| b'A').collect()
        } else {
            SHAPES[rng.below(SHAPES.len())].bytes().collect()
        };
        shape
            .iter()
            .map(|&s| match s {
                b'L' => LETTERS[rng.below(26)] as char,
                b'D' => DIGITS[rng.below(10)] as char,
                b'T' => 'T',
                _ => SYMBOLS[rng.below(36)] as char,
            })
            .collect()
    }

    /// A read of `plate` as a camera might produce it: random look-alike
    /// substitutions (0-3, some at the same position), maybe a dropped or extra
    /// edge character, maybe a random character anywhere.
    fn random_read(rng: &mut Rng, plate: &str, confusion: &ConfusionTable) -> Option<Plate> {
        let mut b: Vec<u8> = plate.bytes().collect();
        for _ in 0..rng.below(4) {
            let pos = rng.below(b.len());
            let alts: Vec<u8> = SYMBOLS
                .iter()
                .enumerate()
                .filter(|(j, _)| confusion.alternatives(b[pos]) & (1 << j) != 0)
                .map(|(_, &c)| c)
                .collect();
            if !alts.is_empty() {
                b[pos] = alts[rng.below(alts.len())];
            }
        }
        match rng.below(8) {
            0 => {
                b.remove(0);
            }
            1 => {
                b.pop();
            }
            2 => b.insert(0, SYMBOLS[rng.below(36)]),
            3 => b.push(SYMBOLS[rng.below(36)]),
            4 => {
                let pos = rng.below(b.len());
                b[pos] = SYMBOLS[rng.below(36)];
            }
            _ => {}
        }
        Plate::parse(std::str::from_utf8(&b).unwrap()).ok()
    }

    /// Every read the matcher matches to the entry is a variant, and every
    /// variant is matched: the set is exactly the matcher's, for random plates.
    #[test]
    fn variants_are_exactly_what_the_matcher_accepts() {
        let mut rng = Rng(0x5eed_cafe);
        let confusion = ConfusionTable::default();
        for max in [0u8, 1, 2] {
            let (mut matched, mut reads) = (0, 0);
            for _ in 0..300 {
                let listed = random_plate(&mut rng);
                let w = one_entry(&listed, max);
                let variants = set(&w, &listed);
                for v in &variants {
                    assert!(
                        hit_kind(&w, &Plate::parse(v).unwrap()).is_some(),
                        "max {max}: variant {v} of {listed} is not matched"
                    );
                }
                for _ in 0..200 {
                    let Some(read) = random_read(&mut rng, &listed, &confusion) else {
                        continue;
                    };
                    reads += 1;
                    if let Some(kind) = hit_kind(&w, &read) {
                        assert!(matches!(
                            kind,
                            MatchKind::Exact | MatchKind::Lookalike | MatchKind::Edge
                        ));
                        matched += 1;
                        assert!(
                            variants.contains(read.as_str()),
                            "max {max}: {} matches {listed} ({kind:?}) but is no variant",
                            read.as_str()
                        );
                    }
                }
            }
            // The reads exercise both sides: many match, many do not.
            assert!(matched > reads / 4 && matched < reads, "{matched}/{reads}");
        }
    }

    /// For short plates every read of 2-4 symbols is tried: no read outside the
    /// variants matches, at 0, 1 and 2 substitutions.
    #[test]
    fn exhaustive_for_short_plates() {
        let mut reads: Vec<Plate> = Vec::new();
        let mut buf = Vec::new();
        fn all(len: usize, buf: &mut Vec<u8>, out: &mut Vec<Plate>) {
            if buf.len() == len {
                out.push(plate_of(buf));
                return;
            }
            for &c in SYMBOLS {
                buf.push(c);
                all(len, buf, out);
                buf.pop();
            }
        }
        for len in 2..=4 {
            all(len, &mut buf, &mut reads);
        }
        for (listed, max) in [("B0I", 2u8), ("H5Q", 1), ("AA", 2), ("T7", 0)] {
            let w = one_entry(listed, max);
            let variants = set(&w, listed);
            // Only reads one character shorter to one longer can match.
            let matched: HashSet<String> = reads
                .iter()
                .filter(|r| r.len().abs_diff(listed.len()) <= 1)
                .filter(|r| hit_kind(&w, r).is_some())
                .map(|r| r.as_str().to_owned())
                .collect();
            assert_eq!(matched, variants, "{listed} max {max}");
        }
    }

    #[test]
    fn sizes_of_typical_plates() {
        let size = |plate: &str, max: u8| set(&one_entry(plate, max), plate).len();
        // ABC123: A-4, B-8, C-G, 1-I/L, 2-Z, 3 none: 6 single substitutions, 14 pairs.
        assert_eq!(size("ABC123", 0), 1 + 2 + 72);
        assert_eq!(size("ABC123", 1), 1 + 6 + 2 + 72);
        assert_eq!(size("ABC123", 2), 1 + 6 + 14 + 2 + 72);
        // ABC123A (Mexico): one more A-4.
        assert_eq!(size("ABC123A", 1), 1 + 7 + 2 + 72);
        assert_eq!(size("ABC123A", 2), 1 + 7 + 20 + 2 + 72);
        // The worst case: 10 characters with 3 look-alikes each, no extra edge.
        assert_eq!(size("0DQH0DQH0D", 2), 1 + 30 + 45 * 9 + 2);
        assert!(size("0DQH0DQH0", 2) <= 510);
        // Edge rules as the matcher's: no dropped edge of a 2-character plate,
        // no duplicate when both drops or both extras give the same read.
        assert_eq!(size("AA", 0), 1 + 36 * 2 - 1);
        assert_eq!(size("AAA", 0), 1 + 1 + 36 * 2 - 1);
    }

    #[test]
    fn follows_the_rules() {
        let exact = WatchlistConfig {
            default_match: crate::watchlist::MatchMode::Exact,
            ..WatchlistConfig::default()
        };
        let w = Watchlist::with_config(&exact).unwrap();
        assert_eq!(w.read_variants(&Plate::parse("ABC123").unwrap()).len(), 1);
        let no_edges = WatchlistConfig {
            edges: false,
            ..WatchlistConfig::default()
        };
        let w = Watchlist::with_config(&no_edges).unwrap();
        let v = w.read_variants(&Plate::parse("ABC123").unwrap());
        assert_eq!(v.len(), 7);
        assert_eq!(v[0].as_str(), "ABC123");
        let custom = WatchlistConfig {
            confusion: vec!["3E".into()],
            ..WatchlistConfig::default()
        };
        let w = Watchlist::with_config(&custom).unwrap();
        let v = w.read_variants(&Plate::parse("ABC123").unwrap());
        assert_eq!(v[1].as_str(), "ABC12E");
        assert_eq!(v.len(), 1 + 1 + 2 + 72);
    }
}
