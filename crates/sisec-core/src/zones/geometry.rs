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
