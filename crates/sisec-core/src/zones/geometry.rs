//! Rings and polygons: validation and the exact (closed) point-in-polygon test
//! that the index falls back on near a boundary.

/// A polygon: an outer ring and holes, each a closed ring of (lon, lat).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Polygon {
    pub(super) zone: u32,
    pub(super) rings: Vec<Vec<(f64, f64)>>,
    pub(super) bbox: (f64, f64, f64, f64),
}

pub(super) fn orient(a: (f64, f64), b: (f64, f64), c: (f64, f64)) -> f64 {
    (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
}

fn on_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> bool {
    orient(a, b, p) == 0.0
        && p.0 >= a.0.min(b.0)
        && p.0 <= a.0.max(b.0)
        && p.1 >= a.1.min(b.1)
        && p.1 <= a.1.max(b.1)
}

/// Do segments ab and cd cross or touch (excluding shared endpoints of
/// consecutive edges, which the caller skips)?
fn segments_meet(a: (f64, f64), b: (f64, f64), c: (f64, f64), d: (f64, f64)) -> bool {
    let (d1, d2) = (orient(c, d, a), orient(c, d, b));
    let (d3, d4) = (orient(a, b, c), orient(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    on_segment(a, c, d) || on_segment(b, c, d) || on_segment(c, a, b) || on_segment(d, a, b)
}

/// Point in ring (closed), with the boundary reported apart.
enum Where {
    Inside,
    Outside,
    Boundary,
}

/// The crossing rule (a ray from `p` towards +x; an edge counts when its ends
/// lie on either side of `p.1`, an end at `p.1` counting as below) is the one
/// the index reproduces cell by cell (see `index`).
fn in_ring(p: (f64, f64), ring: &[(f64, f64)]) -> Where {
    let mut inside = false;
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        if on_segment(p, a, b) {
            return Where::Boundary;
        }
        if (a.1 > p.1) != (b.1 > p.1) {
            let x = a.0 + (p.1 - a.1) * (b.0 - a.0) / (b.1 - a.1);
            if p.0 < x {
                inside = !inside;
            }
        }
    }
    if inside {
        Where::Inside
    } else {
        Where::Outside
    }
}

impl Polygon {
    /// Closed polygon containment: boundary (of the outer ring or a hole) counts.
    pub(super) fn covers(&self, p: (f64, f64)) -> bool {
        let (x0, y0, x1, y1) = self.bbox;
        if p.0 < x0 || p.0 > x1 || p.1 < y0 || p.1 > y1 {
            return false;
        }
        match in_ring(p, &self.rings[0]) {
            Where::Outside => false,
            Where::Boundary => true,
            Where::Inside => self.rings[1..]
                .iter()
                .all(|h| !matches!(in_ring(p, h), Where::Inside)),
        }
    }
}

pub(super) fn check_ring(ring: &[(f64, f64)], what: &str) -> Result<(), String> {
    if ring.len() < 4 {
        return Err(format!(
            "{what} has {} positions; a ring needs at least 4 (3 corners and the first repeated)",
            ring.len()
        ));
    }
    if ring[0] != ring[ring.len() - 1] {
        return Err(format!(
            "{what} is not closed: repeat the first position at the end"
        ));
    }
    let n = ring.len() - 1;
    if !any_crossing(ring) {
        return Ok(());
    }
    // Name the first crossing pair, as the full scan finds it.
    for i in 0..n {
        for j in i + 1..n {
            // Consecutive edges share a vertex; so do the first and last.
            if j == i + 1 || (i == 0 && j == n - 1) {
                continue;
            }
            if segments_meet(ring[i], ring[i + 1], ring[j], ring[j + 1]) {
                return Err(format!(
                    "{what} intersects itself (edges {i} and {j}); fix the geometry \
                     (e.g. with shapely's make_valid)"
                ));
            }
        }
    }
    Ok(())
}

/// Does any pair of non-consecutive edges of the closed `ring` meet? A sweep
/// over the edges sorted by their left end: only edges whose x ranges
/// overlap are compared (O(n log n) for rings that do not wind back on
/// themselves much, instead of every pair).
fn any_crossing(ring: &[(f64, f64)]) -> bool {
    let n = ring.len() - 1;
    let edge = |i: usize| {
        let (a, b) = (ring[i], ring[i + 1]);
        (a.0.min(b.0), a.0.max(b.0), a.1.min(b.1), a.1.max(b.1))
    };
    let mut order: Vec<(f64, u32)> = (0..n).map(|i| (edge(i).0, i as u32)).collect();
    order.sort_unstable_by(|p, q| p.0.total_cmp(&q.0));
    for (k, &(_, i)) in order.iter().enumerate() {
        let i = i as usize;
        let (_, xmax, ylo, yhi) = edge(i);
        for &(xmin_j, j) in &order[k + 1..] {
            if xmin_j > xmax {
                break;
            }
            let j = j as usize;
            let (lo, hi) = (i.min(j), i.max(j));
            // Consecutive edges share a vertex; so do the first and last.
            if hi == lo + 1 || (lo == 0 && hi == n - 1) {
                continue;
            }
            let (_, _, ylo_j, yhi_j) = edge(j);
            if ylo_j > yhi || yhi_j < ylo {
                continue;
            }
            if segments_meet(ring[lo], ring[lo + 1], ring[hi], ring[hi + 1]) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep finds a crossing exactly when comparing every pair does.
    #[test]
    fn sweep_agrees_with_every_pair() {
        let every_pair = |ring: &[(f64, f64)]| {
            let n = ring.len() - 1;
            (0..n).any(|i| {
                (i + 1..n).any(|j| {
                    !(j == i + 1 || (i == 0 && j == n - 1))
                        && segments_meet(ring[i], ring[i + 1], ring[j], ring[j + 1])
                })
            })
        };
        let mut x: u64 = 3;
        let mut rnd = move |k: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % k) as f64
        };
        let (mut crossing, mut simple) = (0, 0);
        for t in 0..3000 {
            let n = 3 + t % 9;
            // Small integer coordinates: many touching and collinear cases.
            let mut ring: Vec<_> = (0..n).map(|_| (rnd(5), rnd(5))).collect();
            ring.push(ring[0]);
            let want = every_pair(&ring);
            assert_eq!(any_crossing(&ring), want, "{ring:?}");
            if want {
                crossing += 1;
            } else {
                simple += 1;
            }
        }
        assert!(crossing > 100 && simple > 100, "{crossing} {simple}");
    }
}
