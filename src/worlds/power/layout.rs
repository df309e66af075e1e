//! Drawing positions for buses that have none: pivot MDS (Brandes & Pich, "Eigensolver
//! Methods for Progressive Multidimensional Scaling of Large Data", Graph Drawing 2006) on
//! hop distances, then a few rounds of force-directed spreading on a grid hash so that no
//! two buses sit on top of each other. Deterministic (no random draws: pivots by
//! farthest-point sampling from the first bus, power iteration from a fixed vector) and
//! O(k·(n + m)) for k pivots, so a 2383-bus case lays out in milliseconds. Buses that do
//! have positions keep them; the others are placed around their placed neighbours.

use std::collections::VecDeque;

/// Mean length of an edge in an automatic layout, m.
pub const EDGE_M: f64 = 1000.0;

/// Most pivots of the MDS.
const PIVOTS: usize = 40;

/// Positions for `n` buses joined by `edges` (pairs of bus indices); `fixed[i]` keeps bus i
/// where it is. Every bus gets a finite position.
pub fn layout(n: usize, edges: &[(usize, usize)], fixed: &[Option<[f64; 2]>]) -> Vec<[f64; 2]> {
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        if a < n && b < n && a != b {
            adj[a].push(b);
            adj[b].push(a);
        }
    }
    for a in &mut adj {
        a.sort_unstable();
        a.dedup();
    }
    let placed = fixed.iter().filter(|f| f.is_some()).count();
    if n == 0 {
        return Vec::new();
    }
    if placed == 0 {
        let mut pos = mds_components(&adj);
        spread(&adj, &mut pos, &vec![false; n]);
        return pos;
    }
    // Some buses are placed: the rest go where their placed neighbours pull them.
    let mut pos: Vec<[f64; 2]> = (0..n).map(|i| fixed.get(i).copied().flatten().unwrap_or([f64::NAN; 2])).collect();
    let keep: Vec<bool> = pos.iter().map(|p| p[0].is_finite() && p[1].is_finite()).collect();
    barycentric(&adj, &mut pos, &keep);
    // Whatever no placed bus reaches goes in a row below the drawing.
    let (lo, hi) = bounds(&pos);
    let mut k = 0.0;
    for p in pos.iter_mut() {
        if !p[0].is_finite() {
            *p = [lo[0] + k * EDGE_M, lo[1] - EDGE_M * 2.0];
            k += 1.0;
        }
    }
    let _ = hi;
    spread(&adj, &mut pos, &keep);
    pos
}

fn bounds(pos: &[[f64; 2]]) -> ([f64; 2], [f64; 2]) {
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for p in pos.iter().filter(|p| p[0].is_finite()) {
        for d in 0..2 {
            lo[d] = lo[d].min(p[d]);
            hi[d] = hi[d].max(p[d]);
        }
    }
    if !lo[0].is_finite() {
        return ([0.0; 2], [0.0; 2]);
    }
    (lo, hi)
}

/// Unplaced buses at the mean of their neighbours' positions, repeated until nothing moves;
/// a bus with no placed neighbour yet waits for one.
fn barycentric(adj: &[Vec<usize>], pos: &mut [[f64; 2]], keep: &[bool]) {
    // First give every reachable bus a position, breadth first from the placed ones.
    let mut queue: VecDeque<usize> = (0..pos.len()).filter(|&i| keep[i]).collect();
    let mut seen: Vec<bool> = keep.to_vec();
    while let Some(i) = queue.pop_front() {
        let mut k = 0usize;
        for &j in &adj[i] {
            if !seen[j] {
                seen[j] = true;
                // Fan out around the parent, a fixed angle per child.
                let a = (k as f64) * 2.399_963_229_728_653 + (j as f64) * 0.1;
                pos[j] = [pos[i][0] + EDGE_M * 0.7 * a.cos(), pos[i][1] + EDGE_M * 0.7 * a.sin()];
                k += 1;
                queue.push_back(j);
            }
        }
    }
    for _ in 0..50 {
        for i in 0..pos.len() {
            if keep[i] || !pos[i][0].is_finite() {
                continue;
            }
            let nb: Vec<[f64; 2]> = adj[i].iter().map(|&j| pos[j]).filter(|p| p[0].is_finite()).collect();
            if nb.len() >= 2 {
                let m = nb.len() as f64;
                pos[i] = [nb.iter().map(|p| p[0]).sum::<f64>() / m, nb.iter().map(|p| p[1]).sum::<f64>() / m];
            }
        }
    }
}

/// Breadth-first hop distances from `s` (`u32::MAX` where unreachable).
fn bfs(adj: &[Vec<usize>], s: usize, out: &mut [u32]) {
    out.iter_mut().for_each(|d| *d = u32::MAX);
    let mut q = VecDeque::new();
    out[s] = 0;
    q.push_back(s);
    while let Some(i) = q.pop_front() {
        for &j in &adj[i] {
            if out[j] == u32::MAX {
                out[j] = out[i] + 1;
                q.push_back(j);
            }
        }
    }
}

/// Pivot MDS of every connected component, components side by side (largest first).
fn mds_components(adj: &[Vec<usize>]) -> Vec<[f64; 2]> {
    let n = adj.len();
    let mut comp = vec![usize::MAX; n];
    let mut comps: Vec<Vec<usize>> = Vec::new();
    let mut dist = vec![u32::MAX; n];
    for s in 0..n {
        if comp[s] != usize::MAX {
            continue;
        }
        bfs(adj, s, &mut dist);
        let members: Vec<usize> = (0..n).filter(|&i| dist[i] != u32::MAX).collect();
        for &i in &members {
            comp[i] = comps.len();
        }
        comps.push(members);
    }
    let mut order: Vec<usize> = (0..comps.len()).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(comps[c].len()), c));
    let mut pos = vec![[0.0; 2]; n];
    let mut x_offset = 0.0;
    for &c in &order {
        let members = &comps[c];
        let local = mds(adj, members);
        let (lo, hi) = bounds(&local);
        for (k, &i) in members.iter().enumerate() {
            pos[i] = [local[k][0] - lo[0] + x_offset, local[k][1] - lo[1]];
        }
        x_offset += (hi[0] - lo[0]) + 2.0 * EDGE_M;
    }
    pos
}

/// Pivot MDS of one connected component (`members`, bus indices); positions in member order.
fn mds(adj: &[Vec<usize>], members: &[usize]) -> Vec<[f64; 2]> {
    let m = members.len();
    if m == 1 {
        return vec![[0.0, 0.0]];
    }
    if m == 2 {
        return vec![[0.0, 0.0], [EDGE_M, 0.0]];
    }
    let n = adj.len();
    let k = PIVOTS.min(m);
    // Farthest-point pivots: start at the first member, then the member farthest from all so far.
    let mut min_d = vec![u32::MAX; n];
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(k);
    let mut dist = vec![u32::MAX; n];
    let mut next = members[0];
    for _ in 0..k {
        bfs(adj, next, &mut dist);
        let col: Vec<f64> = members.iter().map(|&i| f64::from(dist[i])).collect();
        for &i in members {
            min_d[i] = min_d[i].min(dist[i]);
        }
        cols.push(col);
        // The farthest member (lowest index on ties).
        next = members.iter().copied().max_by_key(|&i| (min_d[i], std::cmp::Reverse(i))).unwrap_or(members[0]);
        if min_d[next] == 0 {
            break;
        }
    }
    let k = cols.len();
    // Double-centred squared distances C (m × k).
    let mut c = vec![0.0f64; m * k];
    let mut col_mean = vec![0.0; k];
    let mut row_mean = vec![0.0; m];
    for (j, col) in cols.iter().enumerate() {
        for (i, d) in col.iter().enumerate() {
            let d2 = d * d;
            c[i * k + j] = d2;
            col_mean[j] += d2 / m as f64;
            row_mean[i] += d2 / k as f64;
        }
    }
    let grand: f64 = col_mean.iter().sum::<f64>() / k as f64;
    for i in 0..m {
        for j in 0..k {
            c[i * k + j] = -0.5 * (c[i * k + j] - row_mean[i] - col_mean[j] + grand);
        }
    }
    // Top two eigenvectors of CᵀC (k × k) by power iteration with deflation.
    let mut ctc = vec![0.0; k * k];
    for a in 0..k {
        for b in 0..k {
            ctc[a * k + b] = (0..m).map(|i| c[i * k + a] * c[i * k + b]).sum();
        }
    }
    let mut vecs: Vec<Vec<f64>> = Vec::new();
    for e in 0..2 {
        let mut v: Vec<f64> = (0..k).map(|j| 1.0 + ((j * 7 + e * 3) % 11) as f64 * 0.1).collect();
        for _ in 0..200 {
            let mut w: Vec<f64> = (0..k).map(|a| (0..k).map(|b| ctc[a * k + b] * v[b]).sum()).collect();
            for u in &vecs {
                let d: f64 = w.iter().zip(u).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(u).for_each(|(x, y)| *x -= d * y);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm <= 1e-300 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            v = w;
        }
        vecs.push(v);
    }
    let mut pos: Vec<[f64; 2]> = (0..m)
        .map(|i| {
            let row = &c[i * k..(i + 1) * k];
            let x: f64 = row.iter().zip(&vecs[0]).map(|(a, b)| a * b).sum();
            let y: f64 = row.iter().zip(&vecs[1]).map(|(a, b)| a * b).sum();
            [x, y]
        })
        .collect();
    // Scale so that edges are EDGE_M long on average.
    let local: std::collections::HashMap<usize, usize> = members.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let mut total = 0.0;
    let mut count = 0.0;
    for (a, &i) in members.iter().enumerate() {
        for &j in &adj[i] {
            if let Some(&b) = local.get(&j)
                && b > a
            {
                total += ((pos[a][0] - pos[b][0]).powi(2) + (pos[a][1] - pos[b][1]).powi(2)).sqrt();
                count += 1.0;
            }
        }
    }
    let mean = if count > 0.0 { total / count } else { 1.0 };
    let s = if mean > 1e-9 { EDGE_M / mean } else { EDGE_M };
    for p in &mut pos {
        p[0] *= s;
        p[1] *= s;
    }
    // Buses the MDS put on one point get a small fixed offset apart.
    for (a, p) in pos.iter_mut().enumerate() {
        let t = a as f64 * 2.399_963_229_728_653;
        p[0] += 1e-3 * EDGE_M * t.cos();
        p[1] += 1e-3 * EDGE_M * t.sin();
    }
    pos
}

/// Force-directed spreading (Fruchterman–Reingold) with repulsion only between buses in
/// neighbouring cells of a grid hash: O(n + m) per round. Buses with `keep` do not move.
fn spread(adj: &[Vec<usize>], pos: &mut [[f64; 2]], keep: &[bool]) {
    let n = pos.len();
    if n < 3 {
        return;
    }
    let l = EDGE_M;
    let cell = 2.0 * l;
    let mut disp = vec![[0.0f64; 2]; n];
    let mut temp = 0.3 * l;
    let mut cells: Vec<(i64, i64, usize)> = Vec::with_capacity(n);
    for _ in 0..40 {
        disp.iter_mut().for_each(|d| *d = [0.0; 2]);
        cells.clear();
        cells.extend(
            pos.iter().enumerate().map(|(i, p)| ((p[0] / cell).floor() as i64, (p[1] / cell).floor() as i64, i)),
        );
        cells.sort_unstable();
        let find = |cx: i64, cy: i64| -> &[(i64, i64, usize)] {
            let lo = cells.partition_point(|c| (c.0, c.1) < (cx, cy));
            let hi = cells.partition_point(|c| (c.0, c.1) <= (cx, cy));
            &cells[lo..hi]
        };
        for &(cx, cy, i) in &cells {
            for dx in -1..=1 {
                for dy in -1..=1 {
                    for &(_, _, j) in find(cx + dx, cy + dy) {
                        if j <= i {
                            continue;
                        }
                        let d = [pos[i][0] - pos[j][0], pos[i][1] - pos[j][1]];
                        let r2 = (d[0] * d[0] + d[1] * d[1]).max(1e-6 * l * l);
                        if r2 > cell * cell {
                            continue;
                        }
                        let f = l * l / r2;
                        disp[i][0] += d[0] * f;
                        disp[i][1] += d[1] * f;
                        disp[j][0] -= d[0] * f;
                        disp[j][1] -= d[1] * f;
                    }
                }
            }
        }
        for i in 0..n {
            for &j in &adj[i] {
                if j <= i {
                    continue;
                }
                let d = [pos[i][0] - pos[j][0], pos[i][1] - pos[j][1]];
                let r = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-9);
                let f = r / l;
                disp[i][0] -= d[0] * f;
                disp[i][1] -= d[1] * f;
                disp[j][0] += d[0] * f;
                disp[j][1] += d[1] * f;
            }
        }
        for i in 0..n {
            if keep[i] {
                continue;
            }
            let m = (disp[i][0] * disp[i][0] + disp[i][1] * disp[i][1]).sqrt();
            if m > 1e-12 {
                let s = m.min(temp) / m;
                pos[i][0] += disp[i][0] * s;
                pos[i][1] += disp[i][1] * s;
            }
        }
        temp *= 0.92;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(n: usize) -> Vec<(usize, usize)> {
        (0..n).map(|i| (i, (i + 1) % n)).collect()
    }

    #[test]
    fn every_bus_gets_a_finite_distinct_position_and_the_layout_repeats() {
        let mut edges = ring(30);
        edges.extend([(0, 15), (5, 20), (40, 41)]);
        let fixed = vec![None; 45];
        let a = layout(45, &edges, &fixed);
        let b = layout(45, &edges, &fixed);
        assert_eq!(a, b, "deterministic");
        assert!(a.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
        for i in 0..45 {
            for j in 0..i {
                let d = ((a[i][0] - a[j][0]).powi(2) + (a[i][1] - a[j][1]).powi(2)).sqrt();
                assert!(d > 10.0, "buses {i} and {j} overlap ({d} m)");
            }
        }
        // Neighbours are nearer than the ring's far side.
        let d = |i: usize, j: usize| ((a[i][0] - a[j][0]).powi(2) + (a[i][1] - a[j][1]).powi(2)).sqrt();
        assert!(d(1, 2) < d(1, 10), "{} vs {}", d(1, 2), d(1, 10));
    }

    #[test]
    fn placed_buses_stay_and_the_rest_join_them() {
        let edges = ring(6);
        let mut fixed = vec![None; 6];
        fixed[0] = Some([0.0, 0.0]);
        fixed[3] = Some([3000.0, 0.0]);
        let p = layout(6, &edges, &fixed);
        assert_eq!(p[0], [0.0, 0.0]);
        assert_eq!(p[3], [3000.0, 0.0]);
        assert!(p.iter().all(|q| q[0].is_finite() && q[0] > -3000.0 && q[0] < 6000.0), "{p:?}");
    }

    #[test]
    fn a_large_grid_lays_out_fast() {
        // A 50 × 50 lattice: 2500 buses.
        let side = 50;
        let mut edges = Vec::new();
        for r in 0..side {
            for c in 0..side {
                let i = r * side + c;
                if c + 1 < side {
                    edges.push((i, i + 1));
                }
                if r + 1 < side {
                    edges.push((i, i + side));
                }
            }
        }
        let t = std::time::Instant::now();
        let p = layout(side * side, &edges, &vec![None; side * side]);
        assert!(p.iter().all(|q| q[0].is_finite()));
        assert!(t.elapsed().as_secs_f64() < 5.0, "took {:?}", t.elapsed());
    }
}
