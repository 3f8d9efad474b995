//! A compact multimap from 64-bit keys to entry indices.
//!
//! A general hash map of `u64 -> u32` costs ~34 bytes per key at a million keys
//! (16-byte buckets, power-of-two growth). The watchlist keeps several indexes
//! per entry, so each is an open-addressing table of 8-byte slots (entry index +
//! 32-bit fingerprint) whose full key is recomputed from the entry on a
//! fingerprint match; entries sharing a key chain through `next`. Linear
//! probing, load ≤ 1/2, backward-shift deletion (no tombstones).

const EMPTY: u32 = u32::MAX;
/// End of a chain.
pub const END: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    head: u32,
    tag: u32,
}

const FREE: Slot = Slot {
    head: EMPTY,
    tag: 0,
};

#[derive(Clone, Debug)]
pub struct IdxTable {
    slots: Vec<Slot>,
    mask: usize,
    /// Next entry with the same key, by entry index.
    next: Vec<u32>,
    keys: usize,
}

impl Default for IdxTable {
    fn default() -> Self {
        IdxTable {
            slots: vec![FREE; 16],
            mask: 15,
            next: Vec::new(),
            keys: 0,
        }
    }
}

#[inline]
fn mix(key: u64) -> u64 {
    let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

impl IdxTable {
    #[inline]
    fn home(&self, key: u64) -> (usize, u32) {
        let h = mix(key);
        ((h as usize) & self.mask, (h >> 32) as u32)
    }

    /// The slot holding `key`'s chain, if any.
    #[inline]
    fn find_slot(&self, key: u64, key_of: &impl Fn(u32) -> u64) -> Option<usize> {
        let (mut i, tag) = self.home(key);
        loop {
            let s = self.slots[i];
            if s.head == EMPTY {
                return None;
            }
            if s.tag == tag && key_of(s.head) == key {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// First entry with `key` ([`END`] if none); follow with [`IdxTable::next`].
    #[inline]
    pub fn first(&self, key: u64, key_of: &impl Fn(u32) -> u64) -> u32 {
        self.find_slot(key, key_of)
            .map_or(END, |i| self.slots[i].head)
    }

    #[inline]
    pub fn next(&self, idx: u32) -> u32 {
        self.next[idx as usize]
    }

    /// Add entry `idx` under `key` (at the head of its chain).
    pub fn insert(&mut self, key: u64, idx: u32, key_of: &impl Fn(u32) -> u64) {
        if self.next.len() <= idx as usize {
            self.next.resize(idx as usize + 1, END);
        }
        if let Some(i) = self.find_slot(key, key_of) {
            self.next[idx as usize] = self.slots[i].head;
            self.slots[i].head = idx;
            return;
        }
        if (self.keys + 1) * 2 > self.slots.len() {
            self.grow(key_of);
        }
        let (mut i, tag) = self.home(key);
        while self.slots[i].head != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = Slot { head: idx, tag };
        self.next[idx as usize] = END;
        self.keys += 1;
    }

    /// Remove entry `idx` from `key`'s chain. `key_of(idx)` must still give `key`.
    pub fn remove(&mut self, key: u64, idx: u32, key_of: &impl Fn(u32) -> u64) {
        let Some(i) = self.find_slot(key, key_of) else {
            return;
        };
        let head = self.slots[i].head;
        if head != idx {
            let mut prev = head;
            while self.next[prev as usize] != END && self.next[prev as usize] != idx {
                prev = self.next[prev as usize];
            }
            if self.next[prev as usize] == idx {
                self.next[prev as usize] = self.next[idx as usize];
            }
            return;
        }
        let rest = self.next[idx as usize];
        if rest != END {
            self.slots[i].head = rest;
            return;
        }
        // The chain is now empty: free the slot and shift later ones back.
        self.keys -= 1;
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let s = self.slots[j];
            if s.head == EMPTY {
                break;
            }
            let (home, _) = self.home(key_of(s.head));
            // Move s into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.slots[hole] = FREE;
    }

    /// Size an empty table for `keys` keys (no later growth); no-op otherwise.
    pub fn reserve_empty(&mut self, keys: usize) {
        if self.keys == 0 {
            let n = (keys.max(8) * 2).next_power_of_two();
            if n > self.slots.len() {
                self.slots = vec![FREE; n];
                self.mask = n - 1;
            }
            self.next.reserve(keys);
        }
    }

    fn grow(&mut self, key_of: &impl Fn(u32) -> u64) {
        let doubled = vec![FREE; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.head != EMPTY) {
            let (mut i, _) = self.home(key_of(s.head));
            while self.slots[i].head != EMPTY {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = s;
        }
    }

    /// Distinct keys.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys
    }

    /// Heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>() + self.next.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Random inserts and removes agree with a HashMap<key, Vec<idx>>.
    #[test]
    fn agrees_with_a_hash_map() {
        let mut keys: Vec<u64> = Vec::new(); // key of entry idx
        let mut t = IdxTable::default();
        let mut model: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut alive: Vec<bool> = Vec::new();
        let mut x: u64 = 12345;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let r = rnd();
            if r % 3 != 0 || keys.is_empty() {
                let key = rnd() % 3000; // many shared keys
                let idx = keys.len() as u32;
                keys.push(key);
                alive.push(true);
                t.insert(key, idx, &|i| keys[i as usize]);
                model.entry(key).or_default().push(idx);
            } else {
                let idx = (rnd() % keys.len() as u64) as u32;
                if alive[idx as usize] {
                    alive[idx as usize] = false;
                    let key = keys[idx as usize];
                    t.remove(key, idx, &|i| keys[i as usize]);
                    model.get_mut(&key).unwrap().retain(|&i| i != idx);
                }
            }
        }
        for key in 0..3100u64 {
            let mut got = Vec::new();
            let mut i = t.first(key, &|i| keys[i as usize]);
            while i != END {
                got.push(i);
                i = t.next(i);
            }
            got.sort();
            let mut want = model.get(&key).cloned().unwrap_or_default();
            want.sort();
            assert_eq!(got, want, "key {key}");
        }
        assert_eq!(t.len(), model.values().filter(|v| !v.is_empty()).count());
    }
}
