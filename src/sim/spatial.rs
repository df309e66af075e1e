//! A uniform grid hash over agent positions, so that "everyone within r metres" costs
//! O(k) per query instead of a scan over all agents.

/// Points bucketed by square cells of a fixed size, sorted by (cell, index) so that every
/// query visits candidates in the same order on every run.
#[derive(Debug, Default, Clone)]
pub struct GridIndex {
    cell: f32,
    entries: Vec<(u64, u32)>,
    xy: Vec<(f32, f32)>,
}

fn key(cx: i32, cy: i32) -> u64 {
    ((cx as u32 as u64) << 32) | (cy as u32 as u64)
}

impl GridIndex {
    /// Rebuilds the index. `points` yields (index, x, y); indices need not be dense.
    pub fn rebuild(&mut self, cell: f32, points: impl Iterator<Item = (u32, f32, f32)>) {
        self.cell = cell.max(1e-3);
        self.entries.clear();
        self.xy.clear();
        for (i, x, y) in points {
            let (cx, cy) = self.cell_of(x, y);
            self.entries.push((key(cx, cy), i));
            if self.xy.len() <= i as usize {
                self.xy.resize(i as usize + 1, (f32::NAN, f32::NAN));
            }
            self.xy[i as usize] = (x, y);
        }
        self.entries.sort_unstable();
    }

    fn cell_of(&self, x: f32, y: f32) -> (i32, i32) {
        ((x / self.cell).floor() as i32, (y / self.cell).floor() as i32)
    }

    /// Calls `f` for every indexed point within `r` of (x, y), in a fixed order.
    pub fn within(&self, x: f32, y: f32, r: f32, mut f: impl FnMut(u32)) {
        let (x0, y0) = self.cell_of(x - r, y - r);
        let (x1, y1) = self.cell_of(x + r, y + r);
        let r2 = r * r;
        for cx in x0..=x1 {
            for cy in y0..=y1 {
                let k = key(cx, cy);
                let start = self.entries.partition_point(|e| e.0 < k);
                for &(ek, i) in &self.entries[start..] {
                    if ek != k {
                        break;
                    }
                    let (px, py) = self.xy[i as usize];
                    let (dx, dy) = (px - x, py - y);
                    if dx * dx + dy * dy <= r2 {
                        f(i);
                    }
                }
            }
        }
    }

    /// The cell key of a position (used to form clusters).
    pub fn cell_key(&self, x: f32, y: f32) -> u64 {
        let (cx, cy) = self.cell_of(x, y);
        key(cx, cy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_matches_brute_force() {
        let pts: Vec<(u32, f32, f32)> = (0..500u32)
            .map(|i| (i, ((i * 37) % 101) as f32 * 3.1 - 150.0, ((i * 53) % 97) as f32 * 2.7 - 120.0))
            .collect();
        let mut g = GridIndex::default();
        g.rebuild(25.0, pts.iter().copied());
        for &(_, qx, qy) in pts.iter().step_by(17) {
            for r in [5.0f32, 30.0, 80.0] {
                let mut got = Vec::new();
                g.within(qx, qy, r, |i| got.push(i));
                got.sort();
                let mut want: Vec<u32> =
                    pts.iter().filter(|p| (p.1 - qx).powi(2) + (p.2 - qy).powi(2) <= r * r).map(|p| p.0).collect();
                want.sort();
                assert_eq!(got, want);
            }
        }
    }
}
