//! Designs of experiments: the full factorial grid, Latin hypercube samples and the Sobol
//! sequence, and the stable numbering of runs.
//!
//! Run numbers are a fixed function of a run's coordinates — its level (or sample) indices,
//! its replication and its arm — never of how many levels or replications the plan has, so
//! adding a replication or appending a factor level gives the new runs new numbers and
//! leaves every existing run's number alone. The function is the square-shell enumeration
//! of ℕᵈ (Rosenberg & Strong, "Addressing arrays by shells", IBM TDB 14, 1972): all tuples
//! whose largest coordinate is m come after every tuple whose largest is below m, in
//! lexicographic order within the shell.

/// The shell rank of `t`: a bijection ℕᵈ → ℕ in which every tuple of `[0, m]ᵈ` ranks below
/// (m + 1)ᵈ. `None` when the rank does not fit in 64 bits.
pub fn shell_rank(t: &[u64]) -> Option<u64> {
    let d = t.len() as u32;
    let Some(&m) = t.iter().max() else { return Some(0) };
    let m = u128::from(m);
    let pow = |b: u128, e: u32| b.checked_pow(e);
    let mut rank = pow(m, d)?;
    let mut has_m = false;
    for (k, &v) in t.iter().enumerate() {
        let rest = d - k as u32 - 1;
        // Suffixes of length `rest` in [0, m] that complete a tuple of the shell.
        let all = pow(m + 1, rest)?;
        let per = if has_m { all } else { all - pow(m, rest)? };
        rank = rank.checked_add(u128::from(v).checked_mul(per)?)?;
        if u128::from(v) == m {
            has_m = true;
        }
    }
    u64::try_from(rank).ok()
}

/// A Latin hypercube sample of `n` points in [0, 1)ᵈ: in each dimension every one of the n
/// equal strata holds exactly one point, at a uniform position within it (McKay, Beckman &
/// Conover, Technometrics 21, 1979). Dimension `j` draws from its own stream of `seed`, so a
/// factor's column does not depend on the other factors.
pub fn latin_hypercube(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
    use rand::RngExt;
    use rand::seq::SliceRandom;
    let mut pts = vec![vec![0.0; d]; n];
    for j in 0..d {
        let mut rng = crate::sim::rng::stream(seed, "experiment.lhs", j as u64);
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut rng);
        for (i, p) in pts.iter_mut().enumerate() {
            let u: f64 = rng.random();
            p[j] = (perm[i] as f64 + u) / n as f64;
        }
    }
    pts
}

/// Primitive polynomials and initial direction numbers of the first dimensions of the
/// Sobol sequence, from Joe & Kuo's new-joe-kuo-6.21201 (S. Joe, F. Y. Kuo, "Constructing
/// Sobol sequences with better two-dimensional projections", SIAM J. Sci. Comput. 30,
/// 2008), in the encoding SciPy uses: the polynomial with its leading and constant terms,
/// then m₁…m_s.
const SOBOL_TABLE: [(u32, &[u64]); SOBOL_MAX_DIMS - 1] = [
    (3, &[1]),
    (7, &[1, 3]),
    (11, &[1, 3, 1]),
    (13, &[1, 1, 1]),
    (19, &[1, 1, 3, 3]),
    (25, &[1, 3, 5, 13]),
    (37, &[1, 1, 5, 5, 17]),
    (41, &[1, 1, 5, 5, 5]),
    (47, &[1, 1, 7, 11, 19]),
    (55, &[1, 1, 5, 1, 1]),
    (59, &[1, 1, 1, 3, 11]),
    (61, &[1, 3, 5, 5, 31]),
    (67, &[1, 3, 3, 9, 7, 49]),
    (91, &[1, 1, 1, 15, 21, 21]),
    (97, &[1, 3, 1, 13, 27, 49]),
    (103, &[1, 1, 1, 15, 7, 5]),
    (109, &[1, 3, 1, 15, 13, 25]),
    (115, &[1, 1, 5, 5, 19, 61]),
    (131, &[1, 3, 7, 11, 23, 15, 103]),
    (137, &[1, 3, 7, 13, 13, 15, 69]),
];

/// How many factors a Sobol design can have.
pub const SOBOL_MAX_DIMS: usize = 21;

const SOBOL_BITS: usize = 32;

/// Direction numbers of dimension `j`, scaled to 32 bits.
fn sobol_directions(j: usize) -> [u64; SOBOL_BITS] {
    let mut v = [0u64; SOBOL_BITS];
    if j == 0 {
        v = [1; SOBOL_BITS];
    } else {
        let (poly, init) = SOBOL_TABLE[j - 1];
        let s = (32 - poly.leading_zeros() - 1) as usize;
        v[..s].copy_from_slice(&init[..s]);
        for k in s..SOBOL_BITS {
            let mut new = v[k - s];
            let mut pow2 = 1u64;
            for l in 0..s {
                pow2 <<= 1;
                if (poly >> (s - 1 - l)) & 1 == 1 {
                    new ^= pow2 * v[k - l - 1];
                }
            }
            v[k] = new;
        }
    }
    for (k, x) in v.iter_mut().enumerate() {
        *x <<= SOBOL_BITS - 1 - k;
    }
    v
}

/// Point `i` of the unscrambled Sobol sequence in [0, 1)ᵈ, in Gray-code order (point i is
/// the XOR of the direction numbers at the bits of i ⊕ (i ≫ 1)), as SciPy's
/// `qmc.Sobol(d, scramble=False)` draws them. Points 0…n−1 are the same for any n, so a
/// Sobol design grows without renumbering. `d` ≤ [`SOBOL_MAX_DIMS`].
pub fn sobol_point(i: u64, d: usize) -> Vec<f64> {
    let gray = i ^ (i >> 1);
    (0..d)
        .map(|j| {
            let v = sobol_directions(j);
            let mut x = 0u64;
            for (b, dir) in v.iter().enumerate() {
                if (gray >> b) & 1 == 1 {
                    x ^= dir;
                }
            }
            x as f64 / (1u64 << SOBOL_BITS) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_rank_is_a_bijection_onto_a_prefix_and_grows_stably() {
        for d in 1..=4u32 {
            for m in 0..5u64 {
                // Every tuple of [0, m]^d ranks below (m+1)^d, and all ranks are distinct.
                let side = m + 1;
                let n = side.pow(d);
                let mut seen = vec![false; n as usize];
                for code in 0..n {
                    let t: Vec<u64> = (0..d).map(|k| code / side.pow(k) % side).collect();
                    let r = shell_rank(&t).unwrap();
                    assert!(r < n, "{t:?} -> {r}");
                    assert!(!seen[r as usize], "{t:?} repeats {r}");
                    seen[r as usize] = true;
                }
            }
        }
        assert_eq!(shell_rank(&[]), Some(0));
        assert_eq!(shell_rank(&[0, 1]), Some(1));
        assert_eq!(shell_rank(&[1, 0]), Some(2));
        assert_eq!(shell_rank(&[1, 1]), Some(3));
        assert_eq!(shell_rank(&[7]), Some(7));
        assert_eq!(shell_rank(&[u64::MAX, u64::MAX]), None);
    }

    #[test]
    fn latin_hypercube_has_one_point_per_stratum() {
        let pts = latin_hypercube(10, 3, 7);
        for j in 0..3 {
            let mut strata: Vec<usize> = pts.iter().map(|p| (p[j] * 10.0).floor() as usize).collect();
            strata.sort();
            assert_eq!(strata, (0..10).collect::<Vec<_>>());
        }
        assert_eq!(pts, latin_hypercube(10, 3, 7));
        assert_ne!(pts, latin_hypercube(10, 3, 8));
        // A column depends on its own dimension's stream only.
        let two = latin_hypercube(10, 2, 7);
        assert!(pts.iter().zip(&two).all(|(a, b)| a[..2] == b[..]));
    }

    /// SciPy 1.x, `qmc.Sobol(d=21, scramble=False).random(64) * 64`.
    const SCIPY_SOBOL_64: [[u8; 21]; 64] = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32],
        [48, 16, 16, 16, 48, 48, 16, 48, 48, 48, 48, 48, 16, 16, 48, 16, 48, 16, 48, 16, 16],
        [16, 48, 48, 48, 16, 16, 48, 16, 16, 16, 16, 16, 48, 48, 16, 48, 16, 48, 16, 48, 48],
        [24, 24, 40, 56, 24, 8, 24, 56, 56, 40, 56, 24, 24, 40, 24, 56, 24, 56, 56, 8, 8],
        [56, 56, 8, 24, 56, 40, 56, 24, 24, 8, 24, 56, 56, 8, 56, 24, 56, 24, 24, 40, 40],
        [40, 8, 56, 40, 40, 56, 8, 8, 8, 24, 8, 40, 8, 56, 40, 40, 40, 40, 8, 24, 24],
        [8, 40, 24, 8, 8, 24, 40, 40, 40, 56, 40, 8, 40, 24, 8, 8, 8, 8, 40, 56, 56],
        [12, 20, 60, 28, 36, 20, 28, 60, 60, 20, 44, 4, 60, 60, 52, 60, 52, 52, 60, 20, 12],
        [44, 52, 28, 60, 4, 52, 60, 28, 28, 52, 12, 36, 28, 28, 20, 28, 20, 20, 28, 52, 44],
        [60, 4, 44, 12, 20, 36, 12, 12, 12, 36, 28, 52, 44, 44, 4, 44, 4, 36, 12, 4, 28],
        [28, 36, 12, 44, 52, 4, 44, 44, 44, 4, 60, 20, 12, 12, 36, 12, 36, 4, 44, 36, 60],
        [20, 12, 20, 36, 60, 28, 4, 4, 4, 60, 20, 28, 36, 20, 44, 4, 44, 12, 4, 28, 4],
        [52, 44, 52, 4, 28, 60, 36, 36, 36, 28, 52, 60, 4, 52, 12, 36, 12, 44, 36, 60, 36],
        [36, 28, 4, 52, 12, 44, 20, 52, 52, 12, 36, 44, 52, 4, 28, 20, 28, 28, 52, 12, 20],
        [4, 60, 36, 20, 44, 12, 52, 20, 20, 44, 4, 12, 20, 36, 60, 52, 60, 60, 20, 44, 52],
        [6, 30, 30, 42, 18, 62, 34, 54, 30, 10, 6, 26, 42, 42, 22, 2, 50, 38, 50, 2, 46],
        [38, 62, 62, 10, 50, 30, 2, 22, 62, 42, 38, 58, 10, 10, 54, 34, 18, 6, 18, 34, 14],
        [54, 14, 14, 58, 34, 14, 50, 6, 46, 58, 54, 42, 58, 58, 38, 18, 2, 54, 2, 18, 62],
        [22, 46, 46, 26, 2, 46, 18, 38, 14, 26, 22, 10, 26, 26, 6, 50, 34, 22, 34, 50, 30],
        [30, 6, 54, 18, 10, 54, 58, 14, 38, 34, 62, 2, 50, 2, 14, 58, 42, 30, 10, 10, 38],
        [62, 38, 22, 50, 42, 22, 26, 46, 6, 2, 30, 34, 18, 34, 46, 26, 10, 62, 42, 42, 6],
        [46, 22, 38, 2, 58, 6, 42, 62, 22, 18, 14, 50, 34, 18, 62, 42, 26, 14, 58, 26, 54],
        [14, 54, 6, 34, 26, 38, 10, 30, 54, 50, 46, 18, 2, 50, 30, 10, 58, 46, 26, 58, 22],
        [10, 10, 34, 54, 54, 42, 62, 10, 34, 30, 42, 30, 22, 22, 34, 62, 6, 18, 14, 22, 34],
        [42, 42, 2, 22, 22, 10, 30, 42, 2, 62, 10, 62, 54, 54, 2, 30, 38, 50, 46, 54, 2],
        [58, 26, 50, 38, 6, 26, 46, 58, 18, 46, 26, 46, 6, 6, 18, 46, 54, 2, 62, 6, 50],
        [26, 58, 18, 6, 38, 58, 14, 26, 50, 14, 58, 14, 38, 38, 50, 14, 22, 34, 30, 38, 18],
        [18, 18, 10, 14, 46, 34, 38, 50, 26, 54, 18, 6, 14, 62, 58, 6, 30, 42, 54, 30, 42],
        [50, 50, 42, 46, 14, 2, 6, 18, 58, 22, 50, 38, 46, 30, 26, 38, 62, 10, 22, 62, 10],
        [34, 2, 26, 30, 30, 18, 54, 2, 42, 6, 34, 54, 30, 46, 10, 22, 46, 58, 6, 14, 58],
        [2, 34, 58, 62, 62, 50, 22, 34, 10, 38, 2, 22, 62, 14, 42, 54, 14, 26, 38, 46, 26],
        [3, 17, 45, 35, 9, 59, 51, 43, 63, 3, 25, 61, 29, 63, 63, 7, 11, 3, 27, 33, 21],
        [35, 49, 13, 3, 41, 27, 19, 11, 31, 35, 57, 29, 61, 31, 31, 39, 43, 35, 59, 1, 53],
        [51, 1, 61, 51, 57, 11, 35, 27, 15, 51, 41, 13, 13, 47, 15, 23, 59, 19, 43, 49, 5],
        [19, 33, 29, 19, 25, 43, 3, 59, 47, 19, 9, 45, 45, 15, 47, 55, 27, 51, 11, 17, 37],
        [27, 9, 5, 27, 17, 51, 43, 19, 7, 43, 33, 37, 5, 23, 39, 63, 19, 59, 35, 41, 29],
        [59, 41, 37, 59, 49, 19, 11, 51, 39, 11, 1, 5, 37, 55, 7, 31, 51, 27, 3, 9, 61],
        [43, 25, 21, 11, 33, 3, 59, 35, 55, 27, 17, 21, 21, 7, 23, 47, 35, 43, 19, 57, 13],
        [11, 57, 53, 43, 1, 35, 27, 3, 23, 59, 49, 53, 53, 39, 55, 15, 3, 11, 51, 25, 45],
        [15, 5, 17, 63, 45, 47, 47, 23, 3, 23, 53, 57, 33, 3, 11, 59, 63, 55, 39, 53, 25],
        [47, 37, 49, 31, 13, 15, 15, 55, 35, 55, 21, 25, 1, 35, 43, 27, 31, 23, 7, 21, 57],
        [63, 21, 1, 47, 29, 31, 63, 39, 51, 39, 5, 9, 49, 19, 59, 43, 15, 39, 23, 37, 9],
        [31, 53, 33, 15, 61, 63, 31, 7, 19, 7, 37, 41, 17, 51, 27, 11, 47, 7, 55, 5, 41],
        [23, 29, 57, 7, 53, 39, 55, 47, 59, 63, 13, 33, 57, 43, 19, 3, 39, 15, 31, 61, 17],
        [55, 61, 25, 39, 21, 7, 23, 15, 27, 31, 45, 1, 25, 11, 51, 35, 7, 47, 63, 29, 49],
        [39, 13, 41, 23, 5, 23, 39, 31, 11, 15, 61, 17, 41, 59, 35, 19, 23, 31, 47, 45, 1],
        [7, 45, 9, 55, 37, 55, 7, 63, 43, 47, 29, 49, 9, 27, 3, 51, 55, 63, 15, 13, 33],
        [5, 15, 51, 9, 27, 5, 17, 29, 33, 9, 31, 39, 55, 21, 41, 5, 57, 37, 41, 35, 59],
        [37, 47, 19, 41, 59, 37, 49, 61, 1, 41, 63, 7, 23, 53, 9, 37, 25, 5, 9, 3, 27],
        [53, 31, 35, 25, 43, 53, 1, 45, 17, 57, 47, 23, 39, 5, 25, 21, 9, 53, 25, 51, 43],
        [21, 63, 3, 57, 11, 21, 33, 13, 49, 25, 15, 55, 7, 37, 57, 53, 41, 21, 57, 19, 11],
        [29, 23, 27, 49, 3, 13, 9, 37, 25, 33, 39, 63, 47, 61, 49, 61, 33, 29, 17, 43, 51],
        [61, 55, 59, 17, 35, 45, 41, 5, 57, 1, 7, 31, 15, 29, 17, 29, 1, 61, 49, 11, 19],
        [45, 7, 11, 33, 51, 61, 25, 21, 41, 17, 23, 15, 63, 45, 1, 45, 17, 13, 33, 59, 35],
        [13, 39, 43, 1, 19, 29, 57, 53, 9, 49, 55, 47, 31, 13, 33, 13, 49, 45, 1, 27, 3],
        [9, 27, 15, 21, 63, 17, 13, 33, 29, 29, 51, 35, 11, 41, 29, 57, 13, 17, 21, 55, 55],
        [41, 59, 47, 53, 31, 49, 45, 1, 61, 61, 19, 3, 43, 9, 61, 25, 45, 49, 53, 23, 23],
        [57, 11, 31, 5, 15, 33, 29, 17, 45, 45, 3, 19, 27, 57, 45, 41, 61, 1, 37, 39, 39],
        [25, 43, 63, 37, 47, 1, 61, 49, 13, 13, 35, 51, 59, 25, 13, 9, 29, 33, 5, 7, 7],
        [17, 3, 39, 45, 39, 25, 21, 25, 37, 53, 11, 59, 19, 1, 5, 1, 21, 41, 45, 63, 63],
        [49, 35, 7, 13, 7, 57, 53, 57, 5, 21, 43, 27, 51, 33, 37, 33, 53, 9, 13, 31, 31],
        [33, 19, 55, 61, 23, 41, 5, 41, 21, 5, 59, 11, 3, 17, 53, 17, 37, 57, 29, 47, 47],
        [1, 51, 23, 29, 55, 9, 37, 9, 53, 37, 27, 43, 35, 49, 21, 49, 5, 25, 61, 15, 15],
    ];

    #[test]
    fn sobol_matches_scipy() {
        for (i, row) in SCIPY_SOBOL_64.iter().enumerate() {
            let p = sobol_point(i as u64, SOBOL_MAX_DIMS);
            let want: Vec<f64> = row.iter().map(|&x| f64::from(x) / 64.0).collect();
            assert_eq!(p, want, "point {i}");
        }
        // Later points have more bits; each stays in [0, 1).
        let p = sobol_point(1_000_003, SOBOL_MAX_DIMS);
        assert!(p.iter().all(|x| (0.0..1.0).contains(x)));
    }
}
