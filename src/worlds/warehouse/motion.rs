//! The robots' onboard safety interlock, as a pure function: from where every robot is and
//! where it means to go this tick, which moves may happen. Whatever the coordination layer
//! decided — a fresh plan, a stale reservation, a negotiation that missed a message, a greedy
//! guess — the interlock lets a robot move only into a cell that is free at the end of the
//! tick: never two robots into one cell (vertex conflict), never two robots through each
//! other (edge conflict, a swap). Following — entering a cell its occupant leaves in the same
//! tick — is allowed, and so is a rotation of four or more robots round a cycle of cells (as
//! in classic MAPF, RWARE and POGEMA). A cancelled move is a wait; the world counts them
//! (`interlock_stops`), so inconsistent plans show up as lost motion, not as collisions.

use super::map::Cell;
use super::planning::NONE;

/// Scratch space for [`interlock`], sized to the map; reused across ticks so a step
/// allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    occ: Vec<u32>,
    claim: Vec<u32>,
    work: Vec<u32>,
}

impl Scratch {
    /// Scratch for a map of `cells` cells.
    pub fn new(cells: usize) -> Self {
        Scratch { occ: vec![NONE; cells], claim: vec![NONE; cells], work: Vec::new() }
    }

    fn fit(&mut self, cells: usize) {
        if self.occ.len() != cells {
            *self = Scratch::new(cells);
        }
    }
}

/// Which of the intended moves may happen. Robot `i` is on `prev[i]` (distinct cells of a
/// map of `cells` cells) and means to go to `intended[i]` (its own cell to wait). Writes
/// the cells after the step into `next` and returns how many moves were cancelled.
///
/// Rules, in order: (1) robots contending for one cell — the one with the highest
/// `priority` (ties: the lower index) may try, the others wait; (2) two robots that would
/// swap cells both wait; (3) a robot whose target's occupant does not leave waits, and so
/// on down the line (a fixpoint). The result has no vertex and no edge conflict.
pub fn interlock(
    prev: &[Cell],
    intended: &[Cell],
    priority: &[u64],
    cells: usize,
    scratch: &mut Scratch,
    next: &mut Vec<Cell>,
) -> usize {
    let n = prev.len().min(intended.len()).min(priority.len());
    scratch.fit(cells);
    let Scratch { occ, claim, work } = scratch;
    next.clear();
    next.extend_from_slice(&prev[..n]);
    for (i, &c) in prev[..n].iter().enumerate() {
        occ[c as usize] = i as u32;
    }
    // 1. One contender per target cell.
    let mut moving = vec![false; n];
    for i in 0..n {
        let t = intended[i];
        if t == prev[i] || t as usize >= cells {
            continue;
        }
        let best = claim[t as usize];
        let wins = best == NONE || {
            let b = best as usize;
            priority[i] > priority[b] || (priority[i] == priority[b] && i < b)
        };
        if wins {
            if best != NONE {
                moving[best as usize] = false;
            }
            claim[t as usize] = i as u32;
            moving[i] = true;
        }
    }
    // 2. No swaps.
    for i in 0..n {
        if !moving[i] {
            continue;
        }
        let j = occ[intended[i] as usize];
        if j != NONE && moving[j as usize] && intended[j as usize] == prev[i] {
            moving[i] = false;
            moving[j as usize] = false;
        }
    }
    // 3. A move into a cell whose occupant stays is cancelled, transitively: start from every
    // robot that stays and cancel the move (if any still stands) into its cell.
    work.clear();
    work.extend((0..n as u32).filter(|&i| !moving[i as usize]));
    while let Some(j) = work.pop() {
        let c = prev[j as usize] as usize;
        let k = claim[c];
        if k != NONE && moving[k as usize] {
            moving[k as usize] = false;
            work.push(k);
        }
    }
    let mut cancelled = 0;
    for i in 0..n {
        if moving[i] {
            next[i] = intended[i];
        } else if intended[i] != prev[i] {
            cancelled += 1;
        }
    }
    for i in 0..n {
        occ[prev[i] as usize] = NONE;
        if (intended[i] as usize) < cells {
            claim[intended[i] as usize] = NONE;
        }
    }
    cancelled
}

#[cfg(test)]
mod tests {
    use super::super::planning::check_step;
    use super::*;
    use rand::rngs::ChaCha8Rng;
    use rand::{RngExt, SeedableRng};

    fn run(prev: &[Cell], intended: &[Cell], priority: &[u64], cells: usize) -> (Vec<Cell>, usize) {
        let mut s = Scratch::new(cells);
        let mut next = Vec::new();
        let k = interlock(prev, intended, priority, cells, &mut s, &mut next);
        (next, k)
    }

    #[test]
    fn contests_swaps_following_and_rotations() {
        // A 3 × 3 grid, cells 0..9 row-major.
        // Two robots for cell 4: the higher priority goes.
        let (next, k) = run(&[3, 5], &[4, 4], &[1, 2], 9);
        assert_eq!((next, k), (vec![3, 4], 1));
        // A swap: both wait.
        let (next, k) = run(&[3, 4], &[4, 3], &[5, 1], 9);
        assert_eq!((next, k), (vec![3, 4], 2));
        // Following along a line: all move.
        let (next, k) = run(&[0, 1, 2], &[1, 2, 5], &[0, 0, 0], 9);
        assert_eq!((next, k), (vec![1, 2, 5], 0));
        // The head of the line waits: everybody behind it waits.
        let (next, k) = run(&[0, 1, 2], &[1, 2, 2], &[0, 0, 0], 9);
        assert_eq!((next, k), (vec![0, 1, 2], 2));
        // A rotation of four round the 2 × 2 block 0 1 4 3: allowed.
        let (next, k) = run(&[0, 1, 4, 3], &[1, 4, 3, 0], &[0, 0, 0, 0], 9);
        assert_eq!((next, k), (vec![1, 4, 3, 0], 0));
        // A follower of a contest loser waits too.
        let (next, k) = run(&[3, 5, 6], &[4, 4, 3], &[9, 1, 0], 9);
        assert_eq!((next, k), (vec![4, 5, 3], 1));
    }

    #[test]
    fn random_intentions_never_conflict() {
        let (rows, cols) = (12u32, 12u32);
        let cells = (rows * cols) as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut scratch = Scratch::new(cells);
        let mut next = Vec::new();
        for round in 0..400 {
            let n = 1 + round % 100;
            let mut free: Vec<Cell> = (0..cells as u32).collect();
            let mut prev = Vec::new();
            for _ in 0..n {
                let k = rng.random_range(0..free.len());
                prev.push(free.swap_remove(k));
            }
            let intended: Vec<Cell> = prev
                .iter()
                .map(|&c| {
                    let (r, col) = (c / cols, c % cols);
                    match rng.random_range(0..5) {
                        0 if r > 0 => c - cols,
                        1 if col + 1 < cols => c + 1,
                        2 if r + 1 < rows => c + cols,
                        3 if col > 0 => c - 1,
                        _ => c,
                    }
                })
                .collect();
            let priority: Vec<u64> = (0..n).map(|_| rng.random_range(0..4)).collect();
            interlock(&prev, &intended, &priority, cells, &mut scratch, &mut next);
            let c = check_step(&prev, &next);
            assert!(c.is_empty(), "round {round}: {c:?}");
            for i in 0..n as usize {
                assert!(next[i] == prev[i] || next[i] == intended[i]);
            }
            // Without the interlock the raw intentions do conflict now and then: the check
            // above is not vacuous.
        }
        let mut raw_conflicts = 0;
        for _ in 0..50 {
            let prev: Vec<Cell> = vec![3, 5, 1, 7];
            let intended: Vec<Cell> = vec![4, 4, 4, 4];
            raw_conflicts += check_step(&prev, &intended).vertex.len();
        }
        assert!(raw_conflicts > 0);
    }
}
