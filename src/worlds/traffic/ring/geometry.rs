//! Where the cells of a NaSch ring lie, without a sine and cosine per vehicle per tick.

use std::f64::consts::TAU;

/// Positions of the cells of a NaSch ring from two small tables of cosines and sines,
/// by the angle-addition formulas: cell `c = hi·K + lo` lies at angle `θ(hi·K) + θ(lo)`.
/// The tables hold about 2√cells entries (72 KB for five million cells, where a table of
/// every cell's position would take 60 MB and miss the cache on every vehicle), and the
/// result agrees with [`RingRoad::xy`] to f64 rounding, far below the f32 it is stored in.
/// Rings of up to [`CellCircle::FULL_UP_TO`] cells also keep every cell's result in a
/// table that fits the cache (at most 768 KB), which is cheaper to read than to compute.
#[derive(Clone, Debug, Default)]
pub(super) struct CellCircle {
    cells: u32,
    radius: f64,
    /// Radians per cell.
    step: f64,
    /// log2 K.
    pub(super) shift: u32,
    /// (cos, sin) of θ(hi·K) for each `hi`, and of θ(lo) for each `lo < K`.
    hi: Vec<(f64, f64)>,
    lo: Vec<(f64, f64)>,
    /// Every cell's (x, y, heading), from the tables above; empty past `FULL_UP_TO` cells.
    full: Vec<(f32, f32, f32)>,
}

impl CellCircle {
    pub(super) const FULL_UP_TO: u32 = 1 << 16;

    pub(super) fn new(cells: u32, radius: f64) -> CellCircle {
        if cells == 0 {
            return CellCircle::default();
        }
        let step = TAU / f64::from(cells);
        // K: the power of two nearest √cells from above, so `c >> shift` and `c & (K-1)` split it.
        let shift = (f64::from(cells).sqrt().ceil() as u32).next_power_of_two().trailing_zeros();
        let k = 1u32 << shift;
        let cs = |c: u64| {
            let th = c as f64 * step;
            (th.cos(), th.sin())
        };
        let mut circle = CellCircle {
            cells,
            radius,
            step,
            shift,
            hi: (0..cells.div_ceil(k)).map(|h| cs(u64::from(h) << shift)).collect(),
            lo: (0..k).map(|l| cs(u64::from(l))).collect(),
            full: Vec::new(),
        };
        if cells <= Self::FULL_UP_TO {
            circle.full = (0..cells).map(|c| circle.view().compute(c)).collect();
        }
        circle
    }

    /// The tables as slices, for a loop over many vehicles.
    pub(super) fn view(&self) -> CircleView<'_> {
        CircleView {
            cells: self.cells,
            radius: self.radius,
            step: self.step,
            shift: self.shift,
            hi: &self.hi,
            lo: &self.lo,
            full: &self.full,
        }
    }

    /// (x, y, heading) of cell `c`, as [`RingRoad::xy`] gives them (`None` past the ring).
    pub(super) fn xy(&self, c: u32) -> Option<(f32, f32, f32)> {
        self.view().xy(c)
    }
}

/// [`CellCircle`] borrowed.
#[derive(Clone, Copy)]
pub(super) struct CircleView<'a> {
    cells: u32,
    radius: f64,
    step: f64,
    shift: u32,
    hi: &'a [(f64, f64)],
    lo: &'a [(f64, f64)],
    full: &'a [(f32, f32, f32)],
}

impl CircleView<'_> {
    /// [`CircleView::xy`] of a cell on the ring (`c < cells`, which the index operations
    /// check).
    #[inline(always)]
    pub(super) fn xy_within(&self, c: u32) -> (f32, f32, f32) {
        match self.full.get(c as usize) {
            Some(&p) => p,
            None => self.compute(c),
        }
    }

    /// The position of cell `c < cells` from the two small tables.
    #[inline(always)]
    pub(super) fn compute(&self, c: u32) -> (f32, f32, f32) {
        let (ch, sh) = self.hi[(c >> self.shift) as usize];
        let (cl, sl) = self.lo[(c & ((1 << self.shift) - 1)) as usize];
        let th = f64::from(c) * self.step;
        (
            (self.radius * (ch * cl - sh * sl)) as f32,
            (self.radius * (sh * cl + ch * sl)) as f32,
            (th + std::f64::consts::FRAC_PI_2) as f32,
        )
    }

    /// (x, y, heading) of cell `c`, as [`RingRoad::xy`] gives them (`None` past the ring).
    #[inline(always)]
    pub(super) fn xy(&self, c: u32) -> Option<(f32, f32, f32)> {
        (c < self.cells).then(|| self.xy_within(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worlds::traffic::ring::RingRoad;

    /// The two-table cell positions agree with the direct sine and cosine to f32 precision,
    /// on rings from one cell to five million, including every table boundary.
    #[test]
    fn cell_circle_matches_direct_trigonometry() {
        for cells in [1u32, 2, 3, 7, 64, 65, 1000, 4095, 4097, 123_457, 5_000_000] {
            let cell_m = 7.5;
            let ring = RingRoad {
                length: f64::from(cells) * cell_m,
                radius: f64::from(cells) * cell_m / TAU,
                ..Default::default()
            };
            let circle = CellCircle::new(cells, ring.radius);
            let k = 1u32 << circle.shift;
            let mut probe: Vec<u32> = (0..cells.min(300)).collect();
            probe.extend((1..cells / k + 1).flat_map(|h| [h * k - 1, h * k, h * k + 1]).filter(|&c| c < cells));
            probe.extend([cells - 1, cells / 2, cells / 3]);
            for c in probe {
                let (x, y, h) = circle.xy(c).unwrap();
                let (ex, ey, eh) = ring.xy(f64::from(c) * cell_m);
                let tol = ring.radius as f32 * 4.0 * f32::EPSILON;
                assert!(
                    (x - ex).abs() <= tol && (y - ey).abs() <= tol,
                    "cells {cells}, cell {c}: ({x}, {y}) vs ({ex}, {ey})"
                );
                assert!(
                    (h - eh).abs() <= 4.0 * eh.abs() * f32::EPSILON,
                    "cells {cells}, cell {c}: heading {h} vs {eh}"
                );
            }
            assert_eq!(circle.xy(cells), None);
        }
    }
}
