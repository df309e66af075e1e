//! Car-following models as pure functions: the Intelligent Driver Model (Treiber, Hennecke
//! & Helbing 2000), the FollowerStopper wave-damping controller (Stern et al. 2018) and the
//! Nagel–Schreckenberg cellular automaton (Nagel & Schreckenberg 1992).

use serde::{Deserialize, Serialize};

/// Intelligent Driver Model parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdmParams {
    /// Desired speed v0, m/s.
    pub v0: f64,
    /// Desired time headway T, s.
    pub time_headway: f64,
    /// Minimum jam gap s0, m.
    pub s0: f64,
    /// Maximum acceleration a, m/s².
    pub a: f64,
    /// Comfortable deceleration b, m/s².
    pub b: f64,
    /// Acceleration exponent δ.
    pub delta: f64,
    /// Vehicle length, m.
    pub length: f64,
    /// Human drivers' acceleration noise: uniform with this standard deviation, m/s².
    pub noise: f64,
}

impl Default for IdmParams {
    fn default() -> Self {
        IdmParams { v0: 15.0, time_headway: 1.0, s0: 2.0, a: 0.5, b: 1.5, delta: 4.0, length: 4.5, noise: 0.0 }
    }
}

impl IdmParams {
    /// IDM acceleration for gap `s` (m), own speed `v` and approaching rate
    /// `dv = v - v_leader` (m/s), with time headway `t`.
    pub fn accel_with(&self, s: f64, v: f64, dv: f64, t: f64) -> f64 {
        let s_star = self.s0 + (v * t + v * dv / (2.0 * (self.a * self.b).sqrt())).max(0.0);
        let s = s.max(1e-3);
        self.a * (1.0 - (v / self.v0).powf(self.delta) - (s_star / s).powi(2))
    }

    /// IDM acceleration with the parameters' own time headway.
    pub fn accel(&self, s: f64, v: f64, dv: f64) -> f64 {
        self.accel_with(s, v, dv, self.time_headway)
    }

    /// Acceleration on a free road.
    pub fn free_accel(&self, v: f64) -> f64 {
        self.a * (1.0 - (v / self.v0).powf(self.delta))
    }

    /// Equilibrium gap at speed v: s_e(v) = (s0 + vT) / sqrt(1 - (v/v0)^δ).
    pub fn equilibrium_gap(&self, v: f64) -> f64 {
        (self.s0 + v * self.time_headway) / (1.0 - (v / self.v0).powf(self.delta)).sqrt()
    }

    /// Equilibrium speed at gap s (the inverse of [`Self::equilibrium_gap`]).
    ///
    /// Newton's method on F(v) = (s0 + vT)² − s²(1 − (v/v0)^δ), which is increasing and
    /// convex on [0, v0] (δ ≥ 1) with F(0) < 0 < F(v0): started at v0, the iterates fall
    /// monotonically onto the root without overshooting, in about six steps (one `powf`
    /// each; the bisection it replaces took 80).
    pub fn equilibrium_speed(&self, s: f64) -> f64 {
        if s <= self.s0 {
            return 0.0;
        }
        let (s0, t, v0, d) = (self.s0, self.time_headway, self.v0, self.delta);
        if d < 1.0 {
            // F is not convex: bisection.
            let (mut lo, mut hi) = (0.0, v0);
            for _ in 0..80 {
                let m = 0.5 * (lo + hi);
                if self.equilibrium_gap(m) < s { lo = m } else { hi = m }
            }
            return lo;
        }
        let mut v = v0;
        for _ in 0..100 {
            let r = (v / v0).powf(d - 1.0);
            let f = (s0 + v * t).powi(2) - s * s * (1.0 - r * v / v0);
            let df = 2.0 * t * (s0 + v * t) + s * s * d * r / v0;
            let next = (v - f / df).max(0.0);
            if next.partial_cmp(&v) != Some(std::cmp::Ordering::Less) {
                break;
            }
            v = next;
        }
        v
    }

    /// Linear string-stability margin of uniform flow at gap s (Wilson & Ward 2011):
    /// f_v²/2 − f_Δv·f_v − f_s with f = dv/dt(s, Δv, v), Δv the leader's speed minus own.
    /// Non-negative: perturbations decay along the string; negative: stop-and-go waves.
    pub fn string_stability_margin(&self, s: f64) -> f64 {
        let v = self.equilibrium_speed(s);
        let h = 1e-5;
        // Here the relative speed is leader minus own, so IDM's approaching rate is -rel.
        let f = |s: f64, rel: f64, v: f64| self.accel(s, v, -rel);
        let fs = (f(s + h, 0.0, v) - f(s - h, 0.0, v)) / (2.0 * h);
        let fr = (f(s, h, v) - f(s, -h, v)) / (2.0 * h);
        let fv = (f(s, 0.0, v + h) - f(s, 0.0, v - h)) / (2.0 * h);
        fv * fv / 2.0 - fr * fv - fs
    }
}

/// FollowerStopper commanded speed (Stern et al. 2018): gap `s`, own speed `v`, leader
/// speed `v_lead`, desired speed `u`.
pub fn follower_stopper(s: f64, v: f64, v_lead: f64, u: f64) -> f64 {
    const X0: [f64; 3] = [4.5, 5.25, 6.0];
    const D: [f64; 3] = [1.5, 1.0, 0.5];
    let dv = (v_lead - v).min(0.0);
    let x = [X0[0] + dv * dv / (2.0 * D[0]), X0[1] + dv * dv / (2.0 * D[1]), X0[2] + dv * dv / (2.0 * D[2])];
    let w = v_lead.max(0.0).min(u);
    if s <= x[0] {
        0.0
    } else if s <= x[1] {
        w * (s - x[0]) / (x[1] - x[0])
    } else if s <= x[2] {
        w + (u - w) * (s - x[1]) / (x[2] - x[1])
    } else {
        u
    }
}

/// The "PI with saturation" controller of Stern et al. (2018), one step: the command
/// speed from the vehicle's own mean speed `u`, plus a catch-up term that grows from 0
/// to 1 m/s as the gap `s` opens from 7 to 30 m, blended with the leader's speed when
/// the gap is short (weight α over γ = 2 m beyond a safe gap of max(2Δv, 4 m)) and
/// low-pass filtered with the previous command (weight 1 − β = α/2).
pub fn pi_saturation(s: f64, v: f64, v_lead: f64, u: f64, v_cmd_prev: f64) -> f64 {
    const G_L: f64 = 7.0;
    const G_U: f64 = 30.0;
    const V_CATCH: f64 = 1.0;
    const GAMMA: f64 = 2.0;
    let v_target = u + V_CATCH * ((s - G_L) / (G_U - G_L)).clamp(0.0, 1.0);
    let dx_s = (2.0 * (v_lead - v)).max(4.0);
    let alpha = ((s - dx_s) / GAMMA).clamp(0.0, 1.0);
    let beta = 1.0 - 0.5 * alpha;
    beta * (alpha * v_target + (1.0 - alpha) * v_lead) + (1.0 - beta) * v_cmd_prev
}

/// Acceleration that tracks a commanded speed, never less careful than an IDM driver
/// with a short headway (the vehicle's own sensors keep it safe whatever it is told).
pub fn track_speed(p: &IdmParams, v_cmd: f64, s: f64, v: f64, v_lead: f64) -> f64 {
    const GAIN: f64 = 0.5;
    let a = (GAIN * (v_cmd - v)).clamp(-3.0 * p.b, 3.0 * p.a);
    let mut guard = *p;
    guard.a = 3.0 * p.a;
    a.min(guard.accel_with(s, v, v - v_lead, 0.5))
}

/// Nagel–Schreckenberg parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NaschParams {
    /// Maximum speed, cells per tick.
    pub vmax: u32,
    /// Random slow-down probability p.
    pub p_slow: f64,
    /// Cell length, m.
    pub cell_m: f64,
}

impl NaschParams {
    /// Speed in m/s of `v` cells per tick, with ticks of `dt` seconds. Every NaSch speed
    /// the ring reports goes through here, so its two paths agree to the bit.
    #[inline]
    pub fn speed_mps(&self, v: u32, dt: f64) -> f64 {
        f64::from(v) * self.cell_m / dt
    }
}

impl Default for NaschParams {
    fn default() -> Self {
        NaschParams { vmax: 5, p_slow: 0.25, cell_m: 7.5 }
    }
}

/// One NaSch velocity update (rules 1–3): accelerate, brake to the gap (free cells
/// ahead), and slow down by one with probability p (`dawdle` is that draw).
pub fn nasch_speed(v: u32, gap: u32, vmax: u32, dawdle: bool) -> u32 {
    let v = (v + 1).min(vmax).min(gap);
    if dawdle { v.saturating_sub(1) } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idm_equilibrium_gap_has_zero_acceleration() {
        let p = IdmParams { v0: 30.0, time_headway: 1.5, s0: 2.0, a: 1.0, b: 1.5, ..Default::default() };
        for v in [0.5, 5.0, 12.0, 20.0, 28.0] {
            let s = p.equilibrium_gap(v);
            assert!(p.accel(s, v, 0.0).abs() < 1e-9, "v={v} s={s} a={}", p.accel(s, v, 0.0));
            assert!((p.equilibrium_speed(s) - v).abs() < 1e-6);
            // Closer than equilibrium brakes, farther accelerates.
            assert!(p.accel(0.9 * s, v, 0.0) < 0.0);
            assert!(p.accel(1.1 * s, v, 0.0) > 0.0);
        }
        // Closed form at v = 0: s_e = s0.
        assert!((p.equilibrium_gap(0.0) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn idm_stability_margin_sign() {
        let p = IdmParams::default();
        // Sugiyama spacing (22 on 230 m) is string-unstable, sparse traffic is stable.
        assert!(p.string_stability_margin(230.0 / 22.0 - p.length) < 0.0);
        assert!(p.string_stability_margin(1000.0 / 22.0 - p.length) > 0.0);
    }

    #[test]
    fn nasch_rules() {
        assert_eq!(nasch_speed(0, 10, 5, false), 1); // accelerate
        assert_eq!(nasch_speed(5, 10, 5, false), 5); // capped at vmax
        assert_eq!(nasch_speed(3, 2, 5, false), 2); // brake to gap
        assert_eq!(nasch_speed(3, 0, 5, false), 0); // blocked
        assert_eq!(nasch_speed(3, 10, 5, true), 3); // dawdle after accelerating
        assert_eq!(nasch_speed(0, 0, 5, true), 0); // never negative
    }

    #[test]
    fn equilibrium_speed_inverts_equilibrium_gap() {
        for delta in [0.5, 1.0, 4.0, 8.0] {
            let p = IdmParams { delta, ..Default::default() };
            for k in 0..400 {
                let v = p.v0 * f64::from(k) / 400.0;
                let s = p.equilibrium_gap(v);
                let back = p.equilibrium_speed(s);
                assert!((back - v).abs() < 1e-9 * p.v0.max(1.0), "delta {delta}: v {v} -> s {s} -> {back}");
            }
        }
        assert_eq!(IdmParams::default().equilibrium_speed(0.5), 0.0);
    }

    #[test]
    fn follower_stopper_regions() {
        assert_eq!(follower_stopper(4.0, 5.0, 5.0, 8.0), 0.0);
        assert_eq!(follower_stopper(50.0, 5.0, 5.0, 8.0), 8.0);
        let mid = follower_stopper(5.625, 5.0, 5.0, 8.0);
        assert!((mid - 6.5).abs() < 1e-9);
    }
}
