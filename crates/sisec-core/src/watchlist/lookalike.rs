//! What OCR confuses and what plates look like: the confusion table (look-alike
//! characters, each pair with a weight) and plate-format templates (which
//! characters each position of a format allows).
//!
//! Look-alike groups are closed under "is confused with", so mapping every
//! character to its group's representative gives a *canonical form* that every
//! look-alike variant of a plate shares: one hash probe finds every listed plate
//! within any number of look-alike substitutions, and the substitutions are
//! then counted and checked pair by pair.

use crate::plate::Plate;

/// Index of a plate symbol: `0-9` → 0..10, `A-Z` → 10..36.
#[inline]
pub fn sym(c: u8) -> usize {
    match c {
        b'0'..=b'9' => usize::from(c - b'0'),
        _ => usize::from(c - b'A') + 10,
    }
}

/// The plate symbols in [`sym`] order.
pub(crate) const SYMBOLS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Look-alike characters: which pairs OCR confuses, and how often (weight 0..1).
#[derive(Clone, Debug)]
pub struct ConfusionTable {
    /// Weight of reading `b` where the plate has `a` (0 = never confused).
    weight: [[f32; 36]; 36],
    /// Representative of each symbol's connected group (itself when alone).
    canon: [u8; 36],
    /// Look-alikes of each symbol.
    alternatives: [u64; 36],
}

/// The field's groups (DOMAIN.md: 0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G, E/F, P/R,
/// V/Y, H/K/M/N) plus pairs common on LPR cameras' fonts: A/4, U/V, C/G, T/7.
/// The extras are weighted lower: they appear in vendor confusion matrices but
/// less often than the classic groups.
pub const DEFAULT_GROUPS: &[&str] = &[
    "0ODQ", "1IL", "2Z", "5S", "8B", "6G", "EF", "PR", "VY", "HKMN", "A4:0.5", "UV:0.5", "CG:0.5",
    "T7:0.5",
];

impl ConfusionTable {
    /// Build from groups like `"0ODQ"` or `"HKMN:0.5"` (every pair in a group is
    /// confused, with the group's weight, default 1).
    pub fn from_groups<S: AsRef<str>>(groups: &[S]) -> Result<Self, String> {
        let mut weight = [[0f32; 36]; 36];
        let mut parent: [u8; 36] = std::array::from_fn(|i| i as u8);
        fn find(p: &mut [u8; 36], i: usize) -> usize {
            let mut i = i;
            while usize::from(p[i]) != i {
                p[i] = p[usize::from(p[i])];
                i = usize::from(p[i]);
            }
            i
        }
        for g in groups {
            let g = g.as_ref();
            let (chars, w) = match g.split_once(':') {
                Some((c, w)) => (
                    c,
                    w.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|w| *w > 0.0 && *w <= 1.0)
                        .ok_or_else(|| {
                            format!("confusion group {g:?}: the weight after ':' must be in (0, 1]")
                        })?,
                ),
                None => (g, 1.0),
            };
            let chars: Vec<u8> = chars
                .trim()
                .bytes()
                .map(|c| c.to_ascii_uppercase())
                .collect();
            if chars.len() < 2 || !chars.iter().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "confusion group {g:?} must list 2 or more letters/digits, e.g. \"0ODQ\""
                ));
            }
            for &a in &chars {
                for &b in &chars {
                    if a != b {
                        weight[sym(a)][sym(b)] = weight[sym(a)][sym(b)].max(w);
                    }
                }
                let (ra, rb) = (find(&mut parent, sym(a)), find(&mut parent, sym(chars[0])));
                parent[ra] = rb as u8;
            }
        }
        let mut canon = [0u8; 36];
        let mut alternatives = [0u64; 36];
        for i in 0..36 {
            canon[i] = SYMBOLS[find(&mut parent, i)];
            for (j, w) in weight[i].iter().enumerate() {
                if *w > 0.0 {
                    alternatives[i] |= 1 << j;
                }
            }
        }
        Ok(ConfusionTable {
            weight,
            canon,
            alternatives,
        })
    }

    /// The canonical form's key: equal for all look-alike variants of a plate.
    #[inline]
    pub fn canonical_key(&self, plate: &[u8]) -> u64 {
        plate
            .iter()
            .fold(0u64, |k, &c| k * 37 + 1 + sym(self.canon[sym(c)]) as u64)
    }

    /// Weight of reading `read` where the plate has `listed` (0: not look-alikes).
    #[inline]
    pub fn weight(&self, listed: u8, read: u8) -> f32 {
        self.weight[sym(listed)][sym(read)]
    }

    /// The symbols `c` is confused with, as a bit set over [`sym`] indices.
    pub fn alternatives(&self, c: u8) -> u64 {
        self.alternatives[sym(c)]
    }
}

impl Default for ConfusionTable {
    fn default() -> Self {
        ConfusionTable::from_groups(DEFAULT_GROUPS).expect("default groups are valid")
    }
}

/// One plate format: the allowed symbols of each position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    positions: Vec<u64>,
}

const DIGITS: u64 = (1 << 10) - 1;
const LETTERS: u64 = ((1u64 << 36) - 1) & !DIGITS;

fn set_of(chars: &[u8]) -> u64 {
    chars.iter().fold(0, |s, &c| s | 1 << sym(c))
}

impl Template {
    /// Parse `name=PATTERN`: `L` a letter, `M` a letter but I/O/Q (Mexico), `D` a
    /// digit, `A` any, `[RS]` one of the listed characters (literals go in
    /// brackets: `[T]DDDD`).
    pub fn parse(spec: &str) -> Result<Template, String> {
        let bad = |why: &str| {
            format!(
                "plate template {spec:?}: {why}; write name=PATTERN with L (letter), M (letter \
                 but I, O, Q), D (digit), A (any) or [..] (listed characters), e.g. co_car=LLLDDD"
            )
        };
        let (name, pattern) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
        let mut positions = Vec::new();
        let mut chars = pattern.trim().bytes();
        while let Some(c) = chars.next() {
            positions.push(match c {
                b'L' => LETTERS,
                b'M' => LETTERS & !set_of(b"IOQ"),
                b'D' => DIGITS,
                b'A' => LETTERS | DIGITS,
                b'[' => {
                    let mut set = 0;
                    loop {
                        match chars.next() {
                            Some(b']') if set != 0 => break set,
                            Some(c) if c.is_ascii_alphanumeric() => {
                                set |= 1 << sym(c.to_ascii_uppercase())
                            }
                            _ => return Err(bad("a [..] set must hold letters/digits and close")),
                        }
                    }
                }
                _ => return Err(bad(&format!("unknown symbol {:?}", c as char))),
            });
        }
        if !(crate::plate::MIN_LEN..=crate::plate::MAX_LEN).contains(&positions.len()) {
            return Err(bad("a plate has 2 to 10 characters"));
        }
        Ok(Template {
            name: name.trim().to_owned(),
            positions,
        })
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Does `plate` fit this format?
    #[inline]
    pub fn fits(&self, plate: &[u8]) -> bool {
        plate.len() == self.positions.len()
            && plate
                .iter()
                .zip(&self.positions)
                .all(|(&c, &allowed)| allowed & (1 << sym(c)) != 0)
    }

    /// Symbols allowed at position `i`.
    pub fn allowed(&self, i: usize) -> u64 {
        self.positions[i]
    }
}

/// The formats plates come in.
#[derive(Clone, Debug, Default)]
pub struct Templates(pub Vec<Template>);

/// Colombia (car, motorcycle, cargo, trailer, diplomatic), Mexico (NOM-001:
/// private, public, old), and the neighbours seen on Colombian roads.
pub const DEFAULT_TEMPLATES: &[&str] = &[
    "co_car=LLLDDD",
    "co_moto=LLLDDL",
    "co_cargo=[T]DDDD",
    "co_trailer=[RS]DDDDD",
    "co_diplomatic=[CDM]DDDD",
    "mx_private=MMMDDDM",
    "mx_public=MDDDMMM",
    "mx_old=MMMDDDD",
    "ve=LLDDDLL",
    "ec=LLLDDDD",
    "us=DLLLDDD",
];

impl Templates {
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self, String> {
        specs
            .iter()
            .map(|s| Template::parse(s.as_ref()))
            .collect::<Result<_, _>>()
            .map(Templates)
    }

    /// The first format `plate` fits, if any.
    pub fn fit(&self, plate: &[u8]) -> Option<&Template> {
        self.0.iter().find(|t| t.fits(plate))
    }

    pub fn fits_any(&self, plate: &Plate) -> bool {
        self.fit(plate.as_str().as_bytes()).is_some()
    }

    /// Symbols that could stand at `pos` of `plate` with every other position
    /// as it is, in any format (a union over the formats that fit elsewhere).
    pub fn allowed_at(&self, plate: &[u8], pos: usize) -> u64 {
        self.0
            .iter()
            .filter(|t| {
                t.len() == plate.len()
                    && plate
                        .iter()
                        .enumerate()
                        .all(|(i, &c)| i == pos || t.positions[i] & (1 << sym(c)) != 0)
            })
            .fold(0, |set, t| set | t.positions[pos])
    }

    /// How many plates one character longer than `read` (a character added at
    /// its start, or at its end) some format allows: the ways `read` could be a
    /// plate with a lost edge character.
    pub fn edge_completions(&self, read: &[u8]) -> (u32, u32) {
        let mut first = 0u64;
        let mut last = 0u64;
        for t in self.0.iter().filter(|t| t.len() == read.len() + 1) {
            let p = &t.positions;
            if read
                .iter()
                .enumerate()
                .all(|(i, &c)| p[i + 1] & (1 << sym(c)) != 0)
            {
                first |= p[0];
            }
            if read
                .iter()
                .enumerate()
                .all(|(i, &c)| p[i] & (1 << sym(c)) != 0)
            {
                last |= p[read.len()];
            }
        }
        (first.count_ones(), last.count_ones())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_shared_by_look_alikes_only() {
        let t = ConfusionTable::default();
        let k = |s: &str| t.canonical_key(s.as_bytes());
        assert_eq!(k("ABC123"), k("A8C123"));
        assert_eq!(k("ABC123"), k("4BC1Z3"));
        assert_eq!(k("DOQ0"), k("0000"));
        assert_ne!(k("ABC123"), k("ABC124"));
        assert_ne!(k("ABC123"), k("ABC12"));
        assert_eq!(t.weight(b'B', b'8'), 1.0);
        assert_eq!(t.weight(b'A', b'4'), 0.5);
        assert_eq!(t.weight(b'A', b'B'), 0.0);
    }

    #[test]
    fn bad_groups_say_what_to_write() {
        assert!(ConfusionTable::from_groups(&["0"])
            .unwrap_err()
            .contains("2 or more"));
        assert!(ConfusionTable::from_groups(&["0O:2"])
            .unwrap_err()
            .contains("(0, 1]"));
        assert!(ConfusionTable::from_groups(&["0_"]).is_err());
    }

    #[test]
    fn templates_know_letter_and_digit_positions() {
        let t = Templates::parse(DEFAULT_TEMPLATES).unwrap();
        assert_eq!(t.fit(b"ABC123").unwrap().name, "co_car");
        assert_eq!(t.fit(b"ABC12D").unwrap().name, "co_moto");
        assert!(
            t.fit(b"A8C123").is_none(),
            "8 in a letter position fits no format"
        );
        assert_eq!(t.fit(b"T1234").unwrap().name, "co_cargo");
        assert!(t.fit(b"X1234").is_none());
        assert_eq!(t.fit(b"ABC123D").unwrap().name, "mx_private");
        assert!(Template::parse("x=LLLDDDD").unwrap().fits(b"AOC1234"));
        assert!(!Template::parse("x=MMMDDDD").unwrap().fits(b"AOC1234"));
        assert!(Template::parse("bad").is_err());
        assert!(Template::parse("x=LX").is_err());
        assert!(Template::parse("x=L").is_err());
        assert!(Template::parse("x=[T").is_err());
        // 1975 + a first character: cargo T1975 or diplomatic C/D/M1975.
        assert_eq!(t.allowed_at(b"T1975", 0).count_ones(), 4);
        assert_eq!(t.edge_completions(b"1975"), (4, 0));
        assert_eq!(
            t.edge_completions(b"CQ837"),
            (26, 0),
            "?CQ837 as a car plate"
        );
    }
}
