//! The point index: a uniform grid over the zones' extent, stored flat (CSR).
//!
//! Each cell lists the zones covering it entirely (no test needed) and one
//! entry per polygon whose boundary comes near it. An entry holds only the
//! polygon's edges that touch the cell and enough precomputed state to finish
//! the crossing count that `geometry::in_ring` would do over the whole ring:
//!
//! `in_ring` counts the edges crossed by a ray from the point towards +x (an
//! edge counts when its ends lie on either side of the point's y, an end at that
//! y counting as below). Split the edges into those listed for the cell (A) and
//! the others. An edge not in A stays more than `margin / 2` away from the cell,
//! so where it crosses the point's row it does so left of the cell (never
//! counted) or right of it (counted exactly when it spans the row's y). Its
//! count is therefore the same for every point of the cell at the same y, and
//! as y moves it changes only at the edge's end points that lie right of the
//! cell, within the cell's rows. The entry stores that count at the bottom of
//! the cell (`base`, per ring) and those ends' y (`breaks`, pairs at one y
//! cancelled), so a point's count is `base`, plus the breaks at or below it,
//! plus the listed edges it crosses: the same parity `in_ring` finds, with a few
//! comparisons and at most a handful of edges.
//!
//! A point on, or within rounding of, a listed edge (or level with one of its
//! ends) is decided by the polygon's exact test (`Polygon::covers`), so the
//! boundary rule and every tie are those of `in_ring`.

use super::geometry::Polygon;

/// Grid cells per polygon edge (see `Index::build`). Measured on the
/// benchmark's 5,000 zones (Python, same runs): 0.5 gives ~100 ns a point and
/// builds 10,000 zones in ~150-180 ms; 1, ~85 ns and ~170-190 ms; 2, ~72 ns
/// and ~260 ms (building grows with the cells near boundaries).
const CELLS_PER_EDGE: f64 = 0.5;
/// At most this many cells (8 bytes each), and this many a side.
const MAX_CELLS: f64 = 4_000_000.0;
const MAX_SIDE: f64 = 4096.0;

/// A point nearer than this (degrees, roughly) to a listed edge's line is left
/// to the exact test: far above the rounding of the crossing arithmetic
/// (~1e-13 at |coordinates| <= 180), far below any real distance.
const NEAR: f64 = 1e-11;

/// Entry flags (in the entry's header word, see `Entry::header`).
const BASE: u64 = 1;
/// The zone has other polygons: skip the entry if the zone was already found.
const DEDUP: u64 = 1 << 1;
/// Holes: breaks and edges carry their ring (see `Index::test_rings`).
const RINGS: u64 = 1 << 2;
/// More than 64 rings, or too many edges or breaks for the header: the exact
/// test only.
const FULL: u64 = 1 << 3;
/// Bits for each count in the header.
const COUNT_BITS: u32 = 14;
const MAX_COUNT: usize = (1 << COUNT_BITS) - 1;

/// One polygon near one cell, while building.
#[derive(Clone, Copy, Debug)]
struct Entry {
    zone: u32,
    /// Where its words start in the build's data.
    start: u32,
    n_breaks: u32,
    n_edges: u32,
    flags: u64,
}

/// The index. Cell `i`'s zones covering it whole are
/// `inside[cells[i][0]..cells[i + 1][0]]`; its entries (one per polygon whose
/// boundary comes near the cell) are laid out one after the other in
/// `words[cells[i][1]..cells[i + 1][1]]`, so a lookup reads one short run of
/// memory. An entry is a header word (zone, flags, counts: `Entry::header`),
/// then, for a polygon without holes, its break heights and its edges as
/// `[ax, ay, bx, by]` with `ay <= by`; with holes (`RINGS`), the ring parities
/// (`u64` bits) first, each break as `[y, ring]` and each edge as
/// `[ax, ay, bx, by, ring]`. Words are `f64`; the header and the parities are
/// stored as their bits.
#[derive(Clone, Debug, Default)]
pub(super) struct Index {
    origin: (f64, f64),
    /// The grid's far corner (origin + dims × cell size).
    extent: (f64, f64),
    cell_size: (f64, f64),
    /// 1 / cell size: `col` and `row` multiply.
    scale: (f64, f64),
    dims: (usize, usize),
    cells: Vec<[u32; 2]>,
    inside: Vec<u32>,
    words: Vec<f64>,
    /// The polygons of zone `z` are `polygons[zone_polys[z]..zone_polys[z + 1]]`
    /// (for the exact test).
    zone_polys: Vec<u32>,
}

/// One edge while building: its ring and its ends.
type Edge = (u32, (f64, f64), (f64, f64));

/// Per-polygon scratch space, reused.
#[derive(Default)]
struct Scratch {
    /// Every edge of the polygon.
    edges: Vec<Edge>,
    /// (local cell, edge) for every cell an edge touches.
    pairs: Vec<(u32, u32)>,
    offsets: Vec<u32>,
    sorted: Vec<u32>,
    /// (local row, edge) for every row of cells an edge passes within `m` of,
    /// and the same grouped by row.
    row_pairs: Vec<(u32, u32)>,
    row_offsets: Vec<u32>,
    row_sorted: Vec<u32>,
    stamp: Vec<u32>,
    breaks: Vec<(f64, u32)>,
}

impl Index {
    pub(super) fn build(polygons: &[Polygon]) -> Index {
        let (x0, y0, x1, y1) = extent(polygons);
        let (w, h) = ((x1 - x0).max(1e-9), (y1 - y0).max(1e-9));
        // Cells about square, as many as a few per edge: a cell then holds
        // few edges and most cells none (lookups test ~1 edge per zone near
        // a boundary), while the index stays a few bytes per edge.
        let edges: usize = polygons
            .iter()
            .flat_map(|p| &p.rings)
            .map(|r| r.len() - 1)
            .sum();
        let cells = (edges as f64 * CELLS_PER_EDGE).clamp(1.0, MAX_CELLS);
        let nx = (cells * w / h).sqrt().round().clamp(1.0, MAX_SIDE);
        let ny = (cells / nx).round().clamp(1.0, MAX_SIDE);
        Self::build_with_dims(polygons, (nx as usize, ny as usize))
    }

    fn build_with_dims(polygons: &[Polygon], dims: (usize, usize)) -> Index {
        if polygons.is_empty() {
            return Index::default();
        }
        let (x0, y0, x1, y1) = extent(polygons);
        let (w, h) = ((x1 - x0).max(1e-9), (y1 - y0).max(1e-9));
        let cell_size = (w / dims.0 as f64, h / dims.1 as f64);
        let mut ix = Index {
            origin: (x0, y0),
            extent: (
                x0 + cell_size.0 * dims.0 as f64,
                y0 + cell_size.1 * dims.1 as f64,
            ),
            cell_size,
            scale: (1.0 / cell_size.0, 1.0 / cell_size.1),
            dims,
            ..Index::default()
        };
        let n_zones = polygons
            .iter()
            .map(|p| p.zone as usize + 1)
            .max()
            .unwrap_or(0);
        let mut polys_of_zone = vec![0u32; n_zones];
        for p in polygons {
            polys_of_zone[p.zone as usize] += 1;
        }
        debug_assert!(polygons.windows(2).all(|w| w[0].zone <= w[1].zone));
        ix.zone_polys = std::iter::once(0)
            .chain(polys_of_zone.iter().scan(0, |n, &k| {
                *n += k;
                Some(*n)
            }))
            .collect();
        let mut scratch = Scratch::default();
        // Room for what the benchmark's zones need (growing copies it all).
        let edges: usize = polygons
            .iter()
            .flat_map(|p| &p.rings)
            .map(|r| r.len() - 1)
            .sum();
        let mut inside: Vec<(u32, u32)> = Vec::with_capacity(4 * dims.0 * dims.1);
        let mut entries: Vec<(u32, Entry)> = Vec::with_capacity(2 * edges);
        let mut data = Vec::with_capacity(12 * edges);
        for poly in polygons {
            let dedup = polys_of_zone[poly.zone as usize] > 1;
            ix.add_polygon(
                poly,
                dedup,
                &mut scratch,
                &mut inside,
                &mut entries,
                &mut data,
            );
        }
        ix.finish(inside, entries, &data, &polys_of_zone);
        ix
    }

    /// Edges within this distance of a cell are listed for it (see the module
    /// comment): far above rounding, far below a cell.
    fn margin(&self) -> f64 {
        (self.cell_size.0.min(self.cell_size.1) * 1e-6).max(1e-9)
    }

    /// The column of `x`, clamped to the grid (the cast truncates, which is
    /// the floor once negatives are clamped; no `floor` call).
    #[inline]
    fn col(&self, x: f64) -> usize {
        let c = (x - self.origin.0) * self.scale.0;
        (c.max(0.0) as usize).min(self.dims.0 - 1)
    }

    #[inline]
    fn row(&self, y: f64) -> usize {
        let r = (y - self.origin.1) * self.scale.1;
        (r.max(0.0) as usize).min(self.dims.1 - 1)
    }

    fn add_polygon(
        &self,
        poly: &Polygon,
        dedup: bool,
        s: &mut Scratch,
        inside: &mut Vec<(u32, u32)>,
        entries: &mut Vec<(u32, Entry)>,
        data: &mut Vec<f64>,
    ) {
        let m = self.margin();
        let (ox, oy) = self.origin;
        let (csx, csy) = self.cell_size;
        let (c0, r0) = (self.col(poly.bbox.0 - m), self.row(poly.bbox.1 - m));
        let (c1, r1) = (self.col(poly.bbox.2 + m), self.row(poly.bbox.3 + m));
        let (w, h) = (c1 - c0 + 1, r1 - r0 + 1);
        s.edges.clear();
        for (ri, ring) in poly.rings.iter().enumerate() {
            s.edges
                .extend(ring.windows(2).map(|e| (ri as u32, e[0], e[1])));
        }
        // Every cell each edge passes within `m` of: per row of cells, the
        // part of the edge within the row (widened by `m`), widened by `m`.
        s.pairs.clear();
        s.row_pairs.clear();
        for (ei, &(_, a, b)) in s.edges.iter().enumerate() {
            let (ylo, yhi) = (a.1.min(b.1), a.1.max(b.1));
            let (xlo, xhi) = (a.0.min(b.0), a.0.max(b.0));
            for r in self.row(ylo - m)..=self.row(yhi + m) {
                let (xl, xh) = if a.1 == b.1 {
                    (xlo, xhi)
                } else {
                    let band0 = oy + r as f64 * csy - m;
                    let band1 = oy + (r + 1) as f64 * csy + m;
                    let yl = ylo.max(band0).min(yhi);
                    let yh = yhi.min(band1).max(ylo);
                    let at = |y: f64| a.0 + (y - a.1) * (b.0 - a.0) / (b.1 - a.1);
                    let (xa, xb) = (at(yl), at(yh));
                    (xa.min(xb).max(xlo), xa.max(xb).min(xhi))
                };
                s.row_pairs.push(((r - r0) as u32, ei as u32));
                let row_base = (r - r0) * w;
                for c in self.col(xl - m)..=self.col(xh + m) {
                    s.pairs.push(((row_base + c - c0) as u32, ei as u32));
                }
            }
        }
        // Group the edges by cell and by row (edge order kept).
        group(&s.pairs, w * h, &mut s.offsets, &mut s.sorted);
        group(&s.row_pairs, h, &mut s.row_offsets, &mut s.row_sorted);
        let cell_edges = |local: usize| s.offsets[local] as usize..s.offsets[local + 1] as usize;
        s.stamp.clear();
        s.stamp.resize(s.edges.len(), 0);
        let mut stamp = 0u32;
        for r in 0..h {
            let gr = r0 + r;
            // The edges that may cross the row: no other edge matters to a
            // ray within it.
            let row_edges = &s.row_sorted[s.row_offsets[r] as usize..s.row_offsets[r + 1] as usize];
            let mut c = 0;
            while c < w {
                let local = r * w + c;
                let global = (gr * self.dims.0 + c0 + c) as u32;
                let listed = cell_edges(local);
                if listed.is_empty() {
                    // A run of cells no edge comes near: all inside or all
                    // outside, as the first cell's centre.
                    let run = c;
                    while c < w && cell_edges(r * w + c).is_empty() {
                        c += 1;
                    }
                    let centre = (
                        ox + (c0 + run) as f64 * csx + 0.5 * csx,
                        oy + gr as f64 * csy + 0.5 * csy,
                    );
                    let covered = if poly.rings.len() > 64 {
                        poly.covers(centre)
                    } else {
                        // `in_ring`'s count (the centre is far from every edge).
                        let mut bits = 0u64;
                        for &ei in row_edges {
                            let (ri, a, b) = s.edges[ei as usize];
                            if (a.1 > centre.1) != (b.1 > centre.1) {
                                let x = a.0 + (centre.1 - a.1) * (b.0 - a.0) / (b.1 - a.1);
                                if centre.0 < x {
                                    bits ^= 1 << ri;
                                }
                            }
                        }
                        bits & 1 == 1 && bits >> 1 == 0
                    };
                    if covered {
                        inside.extend((run..c).map(|cc| (global + (cc - run) as u32, poly.zone)));
                    }
                    continue;
                }
                let col = c0 + c;
                c += 1;
                let mut entry = Entry {
                    zone: poly.zone,
                    start: data.len() as u32,
                    n_breaks: 0,
                    n_edges: 0,
                    flags: if dedup { DEDUP } else { 0 },
                };
                if poly.rings.len() > 64 || listed.len() > MAX_COUNT {
                    entry.flags |= FULL;
                    entries.push((global, entry));
                    continue;
                }
                stamp += 1;
                for &ei in &s.sorted[listed.clone()] {
                    s.stamp[ei as usize] = stamp;
                }
                // The unlisted edges' crossings from (x_right, y_bottom) and
                // their ends right of the cell within its rows.
                let x_right = ox + (col + 1) as f64 * csx;
                let y_base = oy + gr as f64 * csy - m / 4.0;
                let y_top = oy + (gr + 1) as f64 * csy + m / 4.0;
                let mut bits = 0u64;
                s.breaks.clear();
                for &ei in row_edges {
                    let (ri, a, b) = s.edges[ei as usize];
                    if s.stamp[ei as usize] == stamp || a.1 == b.1 {
                        continue;
                    }
                    if (a.1 > y_base) != (b.1 > y_base) {
                        let x = a.0 + (y_base - a.1) * (b.0 - a.0) / (b.1 - a.1);
                        if x > x_right {
                            bits ^= 1 << ri;
                        }
                    }
                    for v in [a, b] {
                        if v.1 > y_base && v.1 <= y_top && v.0 > x_right {
                            s.breaks.push((v.1, ri));
                        }
                    }
                }
                // Two breaks at one y (of one ring) cancel.
                s.breaks
                    .sort_unstable_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
                let mut k = 0;
                let mut kept = 0;
                while k < s.breaks.len() {
                    if k + 1 < s.breaks.len() && s.breaks[k] == s.breaks[k + 1] {
                        k += 2;
                    } else {
                        s.breaks[kept] = s.breaks[k];
                        kept += 1;
                        k += 1;
                    }
                }
                s.breaks.truncate(kept);
                if s.breaks.len() > MAX_COUNT {
                    entry.flags |= FULL;
                    entries.push((global, entry));
                    continue;
                }
                let multi = poly.rings.len() > 1;
                if multi {
                    entry.flags |= RINGS;
                    data.push(f64::from_bits(bits));
                } else if bits & 1 != 0 {
                    entry.flags |= BASE;
                }
                for &(y, ri) in &s.breaks {
                    data.push(y);
                    if multi {
                        data.push(ri as f64);
                    }
                }
                for &ei in &s.sorted[listed] {
                    let (ri, a, b) = s.edges[ei as usize];
                    let (a, b) = if a.1 <= b.1 { (a, b) } else { (b, a) };
                    data.extend_from_slice(&[a.0, a.1, b.0, b.1]);
                    if multi {
                        data.push(ri as f64);
                    }
                }
                entry.n_breaks = s.breaks.len() as u32;
                entry.n_edges = cell_edges(local).len() as u32;
                entries.push((global, entry));
            }
        }
    }

    /// Lay the cells out flat, each cell's entries together.
    fn finish(
        &mut self,
        inside: Vec<(u32, u32)>,
        entries: Vec<(u32, Entry)>,
        data: &[f64],
        polys_of_zone: &[u32],
    ) {
        let n = self.dims.0 * self.dims.1;
        let mut starts = vec![[0u32; 2]; n + 1];
        for &(c, _) in &inside {
            starts[c as usize + 1][0] += 1;
        }
        for &(c, _) in &entries {
            starts[c as usize + 1][1] += 1;
        }
        for i in 0..n {
            starts[i + 1][0] += starts[i][0];
            starts[i + 1][1] += starts[i][1];
        }
        let mut next = starts.clone();
        let mut zones = vec![u32::MAX; inside.len()];
        for (c, z) in inside {
            let k = &mut next[c as usize][0];
            zones[*k as usize] = z;
            *k += 1;
        }
        let mut sorted = vec![None; entries.len()];
        for (c, e) in entries {
            let k = &mut next[c as usize][1];
            sorted[*k as usize] = Some(e);
            *k += 1;
        }
        let mut cells = Vec::with_capacity(n + 1);
        let mut kept = Vec::with_capacity(zones.len());
        let mut words = Vec::with_capacity(data.len() + sorted.len());
        for i in 0..n {
            let first = kept.len();
            cells.push([first as u32, words.len() as u32]);
            // A zone of several polygons may cover a cell more than once.
            for &z in &zones[starts[i][0] as usize..starts[i + 1][0] as usize] {
                if polys_of_zone[z as usize] == 1 || !kept[first..].contains(&z) {
                    kept.push(z);
                }
            }
            for e in &sorted[starts[i][1] as usize..starts[i + 1][1] as usize] {
                let e = e.expect("every entry placed");
                words.push(f64::from_bits(e.header()));
                let from = e.start as usize;
                words.extend_from_slice(&data[from..from + e.data_len()]);
            }
        }
        cells.push([kept.len() as u32, words.len() as u32]);
        assert!(words.len() <= u32::MAX as usize, "zone index too large");
        self.cells = cells;
        self.inside = kept;
        self.words = words;
    }

    /// The cell of a point inside the grid's extent.
    #[inline]
    fn cell(&self, lat: f64, lon: f64) -> usize {
        self.row(lat) * self.dims.0 + self.col(lon)
    }

    #[inline]
    fn in_extent(&self, lat: f64, lon: f64) -> bool {
        let ((x0, y0), (x1, y1)) = (self.origin, self.extent);
        // False for NaN.
        lon >= x0 && lon <= x1 && lat >= y0 && lat <= y1
    }

    /// Every zone covering (lat, lon), by index, appended to `out` (no repeats).
    pub(super) fn locate_into(&self, polygons: &[Polygon], lat: f64, lon: f64, out: &mut Vec<u32>) {
        if !self.cells.is_empty() && self.in_extent(lat, lon) {
            self.locate_in_cell(polygons, self.cell(lat, lon), lat, lon, out);
        }
    }

    /// `locate_into` for many points: for each point `i` (in order) and each
    /// zone `z` covering it, `i` is appended to `points` and `z` to `zones`.
    /// The cells of the points a few places ahead are fetched from memory
    /// while the current one is tested (a lookup mostly waits on memory).
    pub(super) fn locate_batch(
        &self,
        polygons: &[Polygon],
        lats: &[f64],
        lons: &[f64],
        points: &mut Vec<u32>,
        zones: &mut Vec<u32>,
    ) {
        /// How far ahead the cell's bounds, then its contents, are fetched.
        const AHEAD: usize = 16;
        const NEXT: usize = 8;
        if self.cells.is_empty() {
            return;
        }
        let n = lats.len().min(lons.len());
        let cell_of = |i: usize| {
            let (lat, lon) = (lats[i], lons[i]);
            self.in_extent(lat, lon).then(|| self.cell(lat, lon))
        };
        // The cells of points i..i + AHEAD, in a ring.
        let mut ahead = [None; AHEAD];
        for (i, slot) in ahead.iter_mut().enumerate().take(n) {
            *slot = cell_of(i);
            if let Some(c) = *slot {
                prefetch(&self.cells[c]);
            }
        }
        for i in 0..n {
            let cell = ahead[i % AHEAD];
            if i + AHEAD < n {
                let c = cell_of(i + AHEAD);
                ahead[i % AHEAD] = c;
                if let Some(c) = c {
                    prefetch(&self.cells[c]);
                }
            }
            if let Some(c) = ahead[(i + NEXT) % AHEAD].filter(|_| i + NEXT < n) {
                let ([i0, w0], [_, w1]) = (self.cells[c], self.cells[c + 1]);
                if let Some(z) = self.inside.get(i0 as usize) {
                    prefetch(z);
                }
                // The first lines of the cell's entries (most cells need 1-4).
                let mut w = w0 as usize;
                while w < (w1 as usize).min(w0 as usize + 32) {
                    prefetch(&self.words[w]);
                    w += 8;
                }
            }
            if let Some(c) = cell {
                self.locate_in_cell(polygons, c, lats[i], lons[i], zones);
                points.resize(zones.len(), i as u32);
            }
        }
    }

    #[inline]
    fn locate_in_cell(
        &self,
        polygons: &[Polygon],
        cell: usize,
        lat: f64,
        lon: f64,
        out: &mut Vec<u32>,
    ) {
        let start = out.len();
        let ([i0, w0], [i1, w1]) = (self.cells[cell], self.cells[cell + 1]);
        out.extend_from_slice(&self.inside[i0 as usize..i1 as usize]);
        let mut words = &self.words[w0 as usize..w1 as usize];
        while let Some((&head, rest)) = words.split_first() {
            let head = head.to_bits();
            let zone = head as u32;
            let flags = (head >> 32) & 0xf;
            let n_breaks = ((head >> 36) as usize) & MAX_COUNT;
            let n_edges = ((head >> (36 + COUNT_BITS)) as usize) & MAX_COUNT;
            let len = if flags & FULL != 0 {
                0
            } else if flags & RINGS != 0 {
                1 + 2 * n_breaks + 5 * n_edges
            } else {
                n_breaks + 4 * n_edges
            };
            let (data, next) = rest.split_at(len);
            words = next;
            if flags & DEDUP != 0 && out[start..].contains(&zone) {
                continue;
            }
            let hit = if flags & (RINGS | FULL) == 0 {
                test_ring(data, n_breaks, flags & BASE != 0, lon, lat)
            } else if flags & FULL == 0 {
                test_rings(data, n_breaks, lon, lat)
            } else {
                None
            };
            let hit = hit.unwrap_or_else(|| {
                let z = zone as usize;
                let (a, b) = (self.zone_polys[z], self.zone_polys[z + 1]);
                polygons[a as usize..b as usize]
                    .iter()
                    .any(|p| p.covers((lon, lat)))
            });
            if hit {
                out.push(zone);
            }
        }
    }

    #[cfg(test)]
    fn stats(&self) -> (usize, usize, usize) {
        let (mut entries, mut edges) = (0, 0);
        let mut w = 0;
        while w < self.words.len() {
            let head = self.words[w].to_bits();
            let e = Entry {
                zone: head as u32,
                start: 0,
                n_breaks: ((head >> 36) as usize & MAX_COUNT) as u32,
                n_edges: ((head >> (36 + COUNT_BITS)) as usize & MAX_COUNT) as u32,
                flags: (head >> 32) & 0xf,
            };
            entries += 1;
            edges += e.n_edges as usize;
            w += 1 + e.data_len();
        }
        (self.inside.len(), entries, edges)
    }
}

/// The bounding box of all the polygons.
fn extent(polygons: &[Polygon]) -> (f64, f64, f64, f64) {
    polygons.iter().fold(
        (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), p| {
            (
                a.min(p.bbox.0),
                b.min(p.bbox.1),
                c.max(p.bbox.2),
                d.max(p.bbox.3),
            )
        },
    )
}

/// Counting sort of (key, value) pairs by key (< `n`), values in order:
/// key `k`'s values are `sorted[offsets[k]..offsets[k + 1]]`.
fn group(pairs: &[(u32, u32)], n: usize, offsets: &mut Vec<u32>, sorted: &mut Vec<u32>) {
    offsets.clear();
    offsets.resize(n + 1, 0);
    for &(k, _) in pairs {
        offsets[k as usize + 1] += 1;
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    sorted.clear();
    sorted.resize(pairs.len(), 0);
    for &(k, v) in pairs {
        let at = &mut offsets[k as usize];
        sorted[*at as usize] = v;
        *at += 1;
    }
    // Each offset now holds its key's end: shift back.
    for i in (1..=n).rev() {
        offsets[i] = offsets[i - 1];
    }
    offsets[0] = 0;
}

/// A polygon without holes: inside, outside, or `None` when the point is on
/// or next to a listed edge (the caller runs the exact test). `d`: the
/// entry's breaks then edges; `base`: the parity at the cell's bottom.
#[inline]
fn test_ring(d: &[f64], n_breaks: usize, base: bool, x: f64, y: f64) -> Option<bool> {
    let (breaks, edges) = d.split_at(n_breaks);
    let mut inside = base;
    for &b in breaks {
        inside ^= b <= y;
    }
    for q in edges.chunks_exact(4) {
        inside ^= crosses(q[0], q[1], q[2], q[3], x, y)?;
    }
    Some(inside)
}

/// A polygon with holes: as `test_ring`, one parity per ring.
fn test_rings(d: &[f64], n_breaks: usize, x: f64, y: f64) -> Option<bool> {
    let mut bits = d[0].to_bits();
    let (breaks, edges) = d[1..].split_at(2 * n_breaks);
    for b in breaks.chunks_exact(2) {
        bits ^= u64::from(b[0] <= y) << (b[1] as u32);
    }
    for q in edges.chunks_exact(5) {
        bits ^= u64::from(crosses(q[0], q[1], q[2], q[3], x, y)?) << (q[4] as u32);
    }
    // Inside the outer ring and in no hole.
    Some(bits & 1 == 1 && bits >> 1 == 0)
}

/// Ask the CPU to bring `p`'s cache line in (a hint; no effect elsewhere).
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint and never faults; `p` is a valid reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch(
            (p as *const T).cast::<i8>(),
            std::arch::x86_64::_MM_HINT_T0,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Entry {
    /// The header word: zone (bits 0-31), flags (32-35), breaks (36-49),
    /// edges (50-63).
    fn header(&self) -> u64 {
        let (nb, ne) = if self.flags & FULL != 0 {
            (0, 0)
        } else {
            (self.n_breaks as u64, self.n_edges as u64)
        };
        u64::from(self.zone) | self.flags << 32 | nb << 36 | ne << (36 + COUNT_BITS)
    }

    fn data_len(&self) -> usize {
        let (nb, ne) = (self.n_breaks as usize, self.n_edges as usize);
        if self.flags & FULL != 0 {
            0
        } else if self.flags & RINGS != 0 {
            1 + 2 * nb + 5 * ne
        } else {
            nb + 4 * ne
        }
    }
}

/// Does the ray from (x, y) towards +x cross the edge from (ax, ay) up to
/// (bx, by) (`ay <= by`)? `None` when the point is level with an end of the
/// edge or within rounding of its line: the exact test decides.
#[inline(always)]
fn crosses(ax: f64, ay: f64, bx: f64, by: f64, x: f64, y: f64) -> Option<bool> {
    if y < ay || y > by {
        return Some(false);
    }
    if y == ay || y == by {
        return None;
    }
    let (dx, dy) = (bx - ax, by - ay);
    // > 0: the point is left of the upward edge, so the ray crosses it.
    let d = dx * (y - ay) - dy * (x - ax);
    if d.abs() <= NEAR * (dx.abs() + dy) {
        return None;
    }
    Some(d > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poly(zone: u32, rings: Vec<Vec<(f64, f64)>>) -> Polygon {
        let bbox = rings[0].iter().fold(
            (
                f64::INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, d), &(x, y)| (a.min(x), b.min(y), c.max(x), d.max(y)),
        );
        Polygon { zone, rings, bbox }
    }

    fn closed(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
        let mut v = pts.to_vec();
        v.push(pts[0]);
        v
    }

    /// The index against testing every polygon, at every point of `points`.
    fn agrees(
        polys: &[Polygon],
        dims: (usize, usize),
        points: impl IntoIterator<Item = (f64, f64)>,
    ) {
        let ix = Index::build_with_dims(polys, dims);
        let mut n = 0;
        let (mut xs, mut ys, mut one_p, mut one_z) = (vec![], vec![], vec![], vec![]);
        for (x, y) in points {
            let mut got = Vec::new();
            ix.locate_into(polys, y, x, &mut got);
            got.sort();
            let mut want: Vec<u32> = polys
                .iter()
                .filter(|p| p.covers((x, y)))
                .map(|p| p.zone)
                .collect();
            want.dedup();
            assert_eq!(got, want, "({x}, {y}) with {dims:?} cells");
            n += 1;
            xs.push(x);
            ys.push(y);
            one_p.extend(got.iter().map(|_| n as u32 - 1));
            one_z.extend(got);
        }
        assert!(n > 0);
        // The batch finds the same, in the same order (per point, sorted here).
        let (mut bp, mut bz) = (Vec::new(), Vec::new());
        ix.locate_batch(polys, &ys, &xs, &mut bp, &mut bz);
        let mut batch: Vec<_> = bp.into_iter().zip(bz).collect();
        batch.sort();
        assert_eq!(batch, one_p.into_iter().zip(one_z).collect::<Vec<_>>());
    }

    /// Every point of a lattice of step `step` over [lo, hi]², with the
    /// lattice's midpoints: vertices, cell corners, points on cell borders.
    fn lattice(lo: f64, hi: f64, step: f64) -> Vec<(f64, f64)> {
        let n = ((hi - lo) / step).round() as usize;
        let mut v = Vec::new();
        for i in 0..=2 * n {
            for j in 0..=2 * n {
                v.push((lo + i as f64 * step / 2.0, lo + j as f64 * step / 2.0));
            }
        }
        v
    }

    /// Shapes whose vertices and edges lie on cell borders and corners (an
    /// 8x8 grid of unit cells over [0, 8]²): axis-aligned edges along borders,
    /// horizontal edges, diagonals through cell corners, a hole, a
    /// multipolygon, touching squares, and edges clipped by many cells.
    fn shapes() -> Vec<Polygon> {
        vec![
            // Spans the whole extent (fixes the grid to [0, 8]²).
            poly(
                0,
                vec![closed(&[(0.0, 0.0), (8.0, 0.0), (8.0, 8.0), (0.0, 8.0)])],
            ),
            // Touching squares on cell borders.
            poly(
                1,
                vec![closed(&[(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)])],
            ),
            poly(
                2,
                vec![closed(&[(3.0, 1.0), (5.0, 1.0), (5.0, 3.0), (3.0, 3.0)])],
            ),
            // A diamond whose diagonal edges pass through cell corners.
            poly(
                3,
                vec![closed(&[(4.0, 3.0), (7.0, 6.0), (4.0, 8.0), (1.0, 5.0)])],
            ),
            // A concave comb: horizontal edges on cell borders and inside cells.
            poly(
                4,
                vec![closed(&[
                    (0.5, 5.0),
                    (3.5, 5.0),
                    (3.5, 5.5),
                    (2.5, 5.5),
                    (2.5, 6.0),
                    (3.5, 6.0),
                    (3.5, 7.0),
                    (0.5, 7.0),
                ])],
            ),
            // A square with a hole, both with vertices on cell corners.
            poly(
                5,
                vec![
                    closed(&[(5.0, 0.0), (8.0, 0.0), (8.0, 3.0), (5.0, 3.0)]),
                    closed(&[(6.0, 1.0), (6.0, 2.0), (7.0, 2.0), (7.0, 1.0)]),
                ],
            ),
            // A multipolygon: two triangles of zone 6, one with a long clipped
            // edge crossing many cells.
            poly(6, vec![closed(&[(0.0, 0.0), (7.5, 0.5), (0.5, 4.5)])]),
            poly(6, vec![closed(&[(6.0, 6.0), (8.0, 6.0), (8.0, 8.0)])]),
            // A sliver thinner than a cell.
            poly(7, vec![closed(&[(0.25, 7.5), (7.75, 7.25), (7.75, 7.5)])]),
        ]
    }

    #[test]
    fn boundary_points_on_cell_borders_and_vertices() {
        let polys = shapes();
        for dims in [(1, 1), (2, 2), (3, 3), (8, 8), (16, 16), (8, 3), (5, 16)] {
            agrees(&polys, dims, lattice(0.0, 8.0, 0.25));
        }
        // With 8 cells a side, cell borders are the integers: vertices on
        // corners, edges along borders.
        let ix = Index::build_with_dims(&polys, (8, 8));
        assert_eq!(ix.cell_size, (1.0, 1.0));
    }

    #[test]
    fn random_points_and_random_polygons() {
        let mut x: u64 = 99;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut polys = shapes();
        for i in 0..200 {
            let (cx, cy, r) = (rnd() * 8.0, rnd() * 8.0, 0.05 + rnd() * 2.0);
            let n = 3 + i % 40;
            let pts: Vec<_> = (0..n)
                .map(|k| {
                    let a = std::f64::consts::TAU * k as f64 / n as f64;
                    let f = if k % 2 == 0 { 1.0 } else { 0.5 + 0.5 * rnd() };
                    (cx + r * f * a.cos(), cy + r * f * a.sin())
                })
                .collect();
            polys.push(poly(8 + i as u32, vec![closed(&pts)]));
        }
        let points: Vec<_> = (0..20_000)
            .map(|_| (rnd() * 9.0 - 0.5, rnd() * 9.0 - 0.5))
            .collect();
        // The vertices and edge midpoints of the random polygons too.
        let mut on: Vec<_> = Vec::new();
        for p in &polys {
            for e in p.rings[0].windows(2) {
                on.push(e[0]);
                on.push(((e[0].0 + e[1].0) / 2.0, (e[0].1 + e[1].1) / 2.0));
            }
        }
        for dims in [(4, 4), (29, 29), (64, 64), (7, 41)] {
            agrees(&polys, dims, points.iter().copied());
            agrees(&polys, dims, on.iter().copied());
        }
    }

    #[test]
    fn cells_list_only_nearby_edges() {
        // A 64-gon over 16x16 cells: each boundary cell lists a few edges, and
        // cells inside are whole.
        let pts: Vec<_> = (0..64)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 64.0;
                (a.cos(), a.sin())
            })
            .collect();
        let polys = vec![poly(0, vec![closed(&pts)])];
        let ix = Index::build_with_dims(&polys, (16, 16));
        let (inside, entries, edges) = ix.stats();
        assert!(inside > 100, "{inside}");
        assert!(
            entries < 80 && edges < 5 * entries,
            "{entries} entries, {edges} edges"
        );
        agrees(&polys, (16, 16), lattice(-1.0, 1.0, 1.0 / 32.0));
    }
}
