//! Single-area frequency dynamics per island (Kundur's load–frequency model), automatic generation
//! control, under-frequency load-shedding relays and generator under-frequency trips, as pure state.
//!
//! Model (P. Kundur, *Power System Stability and Control*, McGraw-Hill 1994, ch. 11 "Control of Active
//! Power and Reactive Power"; A. J. Wood, B. F. Wollenberg & G. B. Sheblé, *Power Generation,
//! Operation, and Control*, 3rd ed., Wiley 2014, chapter "Control of Generation"), per island, with Δf
//! in per unit of f0:
//!
//! ```text
//! 2·H·dΔf/dt = (Σ Pm_i − P_L)/S_base − D·Δf            H = Σ H_i·S_i / S_base (in-service units)
//! Tg_i·dv_i/dt = c_i − v_i,   c_i = clamp(P0_i + ΔPref_i − Δf·S_i/R_i, Pmin_i, Pmax_i)   (governor)
//! Tt_i·dPm_i/dt = v_i − Pm_i, |dPm_i/dt| ≤ ramp_i, Pmin_i ≤ Pm_i ≤ Pmax_i                  (turbine)
//! ```
//!
//! P_L is the island's electric demand at nominal frequency, P0_i the scheduled output, ΔPref_i the
//! AGC input, R_i the droop in per unit on the unit's rating S_i, D the load damping in per unit on
//! S_base (D = 1: 1 % of S_base per 1 % of frequency). A balanced start (Σ P0 = P_L) stays at f0; a
//! step ΔP in P_L gives the initial RoCoF −ΔP·f0/(2H·S_base) and, without limits, the quasi-steady
//! deviation Δf = −ΔP/(D + Σ S_i/(R_i·S_base)).
//!
//! Integration: classical RK4 with sub-steps no longer than 0.05 s and no longer than a tenth of the
//! fastest time constant (Tg, Tt and the frequency loop's 2H/(D + Σ1/R)), so any outer step (0.01 s to
//! seconds) is stable and accurate; the limits are enforced inside the derivative and by clamping
//! after each sub-step.

use serde::{Deserialize, Serialize};

/// Why a frequency model or relay could not be built or stepped.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FreqError {
    /// A parameter outside its range.
    #[error("{0}")]
    Invalid(String),
    /// The step would need more than [`MAX_SUBSTEPS`] sub-steps.
    #[error("a step of {dt} s needs {n} sub-steps (more than {MAX_SUBSTEPS}); take shorter steps")]
    StepTooLong {
        /// The step asked for, s.
        dt: f64,
        /// Sub-steps it would need.
        n: f64,
    },
}

/// Most RK4 sub-steps one [`IslandFrequency::step`] may take.
pub const MAX_SUBSTEPS: usize = 1_000_000;

/// Dynamic parameters of one generating unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnitDynamics {
    /// Rating S_i, MW: the base of `h_s` and `droop`.
    pub rating_mw: f64,
    /// Inertia constant H_i, s on the rating (0 for converter-connected units).
    pub h_s: f64,
    /// Droop R_i, per unit on the rating (0.05 = 5 %); `None`: no primary response.
    pub droop: Option<f64>,
    /// Governor time constant Tg, s.
    pub tg_s: f64,
    /// Turbine time constant Tt, s.
    pub tt_s: f64,
    /// Limit on |dPm/dt|, MW/s; `None`: unlimited.
    pub ramp_mw_per_s: Option<f64>,
}

impl Default for UnitDynamics {
    /// Kundur's textbook non-reheat steam unit: H 5 s, R 5 %, Tg 0.2 s, Tt 0.5 s, on 100 MW.
    fn default() -> Self {
        UnitDynamics { rating_mw: 100.0, h_s: 5.0, droop: Some(0.05), tg_s: 0.2, tt_s: 0.5, ramp_mw_per_s: None }
    }
}

/// One unit's parameters, limits, inputs and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreqUnit {
    /// Dynamic parameters.
    pub dynamics: UnitDynamics,
    /// Minimum mechanical power, MW.
    pub pmin_mw: f64,
    /// Maximum mechanical power, MW.
    pub pmax_mw: f64,
    /// Scheduled output P0 (from dispatch), MW.
    pub setpoint_mw: f64,
    /// AGC input ΔPref, MW (added to the set-point).
    pub agc_mw: f64,
    /// Governor output (valve position) v, MW.
    pub valve_mw: f64,
    /// Mechanical power Pm, MW.
    pub pm_mw: f64,
    /// In service; a tripped unit contributes neither power nor inertia.
    pub in_service: bool,
}

impl FreqUnit {
    /// A unit in steady state at `p0_mw` (clamped to its limits).
    pub fn new(dynamics: UnitDynamics, pmin_mw: f64, pmax_mw: f64, p0_mw: f64) -> Self {
        let p = p0_mw.max(pmin_mw).min(pmax_mw);
        FreqUnit { dynamics, pmin_mw, pmax_mw, setpoint_mw: p, agc_mw: 0.0, valve_mw: p, pm_mw: p, in_service: true }
    }

    fn validate(&self, k: usize) -> Result<(), FreqError> {
        let d = &self.dynamics;
        let bad = |what: &str| Err(FreqError::Invalid(format!("unit {k}: {what}")));
        if !(d.rating_mw.is_finite() && d.rating_mw > 0.0) {
            return bad("rating must be positive and finite");
        }
        if !(d.h_s.is_finite() && d.h_s >= 0.0) {
            return bad("H must be ≥ 0 and finite");
        }
        if d.droop.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return bad("droop must be positive and finite");
        }
        if !(d.tg_s.is_finite() && d.tg_s > 0.0 && d.tt_s.is_finite() && d.tt_s > 0.0) {
            return bad("Tg and Tt must be positive and finite");
        }
        if d.ramp_mw_per_s.is_some_and(|r| r.is_nan() || r <= 0.0) {
            return bad("the ramp limit must be positive");
        }
        if !(self.pmin_mw.is_finite() && self.pmax_mw.is_finite() && self.pmin_mw <= self.pmax_mw) {
            return bad("limits must be finite with Pmin ≤ Pmax");
        }
        if ![self.setpoint_mw, self.agc_mw, self.valve_mw, self.pm_mw].iter().all(|v| v.is_finite()) {
            return bad("set-point, AGC input and state must be finite");
        }
        Ok(())
    }

    /// Governor command c = clamp(P0 + ΔPref − Δf·S/R) for deviation `df_pu`.
    fn command(&self, df_pu: f64) -> f64 {
        let d = &self.dynamics;
        let primary = d.droop.map_or(0.0, |r| -df_pu * d.rating_mw / r);
        (self.setpoint_mw + self.agc_mw + primary).max(self.pmin_mw).min(self.pmax_mw)
    }
}

/// The frequency of one island: parameters, demand and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IslandFrequency {
    /// Nominal frequency f0, Hz.
    pub f0_hz: f64,
    /// Per-unit base S_base, MW (of H and D).
    pub base_mw: f64,
    /// Load damping D, per unit power on S_base per per-unit frequency.
    pub damping: f64,
    /// Electric demand at nominal frequency P_L, MW (after any shedding).
    pub load_mw: f64,
    /// The island's units.
    pub units: Vec<FreqUnit>,
    df_pu: f64,
    time_s: f64,
    #[serde(skip)]
    work: Vec<f64>,
}

impl IslandFrequency {
    /// An island at nominal frequency. Fails on parameters out of range.
    pub fn new(
        f0_hz: f64,
        base_mw: f64,
        damping: f64,
        load_mw: f64,
        units: Vec<FreqUnit>,
    ) -> Result<IslandFrequency, FreqError> {
        let s = IslandFrequency { f0_hz, base_mw, damping, load_mw, units, df_pu: 0.0, time_s: 0.0, work: Vec::new() };
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), FreqError> {
        if !(self.f0_hz.is_finite() && self.f0_hz > 0.0 && self.base_mw.is_finite() && self.base_mw > 0.0) {
            return Err(FreqError::Invalid("f0 and the base must be positive and finite".into()));
        }
        if !(self.damping.is_finite() && self.damping >= 0.0 && self.load_mw.is_finite()) {
            return Err(FreqError::Invalid("D must be ≥ 0 and the load finite".into()));
        }
        for (k, u) in self.units.iter().enumerate() {
            u.validate(k)?;
        }
        Ok(())
    }

    /// Frequency, Hz.
    pub fn frequency_hz(&self) -> f64 {
        self.f0_hz * (1.0 + self.df_pu)
    }

    /// Deviation from f0, Hz.
    pub fn deviation_hz(&self) -> f64 {
        self.f0_hz * self.df_pu
    }

    /// Deviation from f0, per unit.
    pub fn deviation_pu(&self) -> f64 {
        self.df_pu
    }

    /// Sets the deviation (per unit), e.g. to start from a disturbed state.
    pub fn set_deviation_pu(&mut self, df_pu: f64) {
        self.df_pu = df_pu;
    }

    /// Simulated time, s.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// Stored kinetic energy at f0 of the in-service units, Σ H_i·S_i, MW·s.
    pub fn inertia_mws(&self) -> f64 {
        self.units.iter().filter(|u| u.in_service).map(|u| u.dynamics.h_s * u.dynamics.rating_mw).sum()
    }

    /// Σ Pm of the in-service units, MW.
    pub fn mechanical_mw(&self) -> f64 {
        self.units.iter().filter(|u| u.in_service).map(|u| u.pm_mw).sum()
    }

    /// Σ S_i/R_i of the in-service units, MW per unit frequency (the primary-response stiffness).
    pub fn droop_stiffness_mw(&self) -> f64 {
        self.units
            .iter()
            .filter(|u| u.in_service)
            .filter_map(|u| u.dynamics.droop.map(|r| u.dynamics.rating_mw / r))
            .sum()
    }

    /// Rate of change of frequency now, Hz/s (`None` without inertia).
    pub fn rocof_hz_per_s(&self) -> Option<f64> {
        let m = 2.0 * self.inertia_mws();
        (m > 0.0)
            .then(|| (self.mechanical_mw() - self.load_mw - self.damping * self.base_mw * self.df_pu) / m * self.f0_hz)
    }

    /// The quasi-steady deviation (per unit) if no limit binds: (Σ P0 + ΔPref − P_L)/(D·S_base + Σ S/R).
    pub fn quasi_steady_pu(&self) -> f64 {
        let sched: f64 = self.units.iter().filter(|u| u.in_service).map(|u| u.setpoint_mw + u.agc_mw).sum();
        let k = self.damping * self.base_mw + self.droop_stiffness_mw();
        if k > 0.0 { (sched - self.load_mw) / k } else { 0.0 }
    }

    /// Trips unit `k` (no effect if out of range).
    pub fn trip(&mut self, k: usize) {
        if let Some(u) = self.units.get_mut(k) {
            u.in_service = false;
        }
    }

    /// Writes `total_mw` of AGC input to the in-service units in proportion to `participation`
    /// (one factor per unit; factors of tripped units are ignored and the rest renormalised).
    pub fn distribute_agc(&mut self, total_mw: f64, participation: &[f64]) {
        let sum: f64 =
            self.units.iter().zip(participation).filter(|(u, _)| u.in_service).map(|(_, a)| a.max(0.0)).sum();
        for (u, a) in self.units.iter_mut().zip(participation) {
            u.agc_mw = if u.in_service && sum > 0.0 { total_mw * a.max(0.0) / sum } else { 0.0 };
        }
    }

    /// Longest stable and accurate sub-step for the current parameters, s.
    pub fn max_substep_s(&self) -> f64 {
        let mut tau = f64::INFINITY;
        for u in self.units.iter().filter(|u| u.in_service) {
            tau = tau.min(u.dynamics.tg_s).min(u.dynamics.tt_s);
        }
        let k = self.damping * self.base_mw + self.droop_stiffness_mw();
        if k > 0.0 {
            tau = tau.min(2.0 * self.inertia_mws() / k);
        }
        (0.1 * tau).min(0.05)
    }

    /// Advances the island by `dt` seconds. Without inertia (no in-service unit with H > 0) there
    /// are no frequency dynamics: the state is left unchanged and `Ok(false)` returned (the caller
    /// should treat the island as de-energized).
    pub fn step(&mut self, dt: f64) -> Result<bool, FreqError> {
        if !(dt.is_finite() && dt >= 0.0) {
            return Err(FreqError::Invalid(format!("dt = {dt} (expected a finite step ≥ 0)")));
        }
        self.validate()?;
        if self.inertia_mws() <= 0.0 {
            return Ok(false);
        }
        if dt == 0.0 {
            return Ok(true);
        }
        let h_max = self.max_substep_s();
        let n = (dt / h_max).ceil();
        if n.is_nan() || n > MAX_SUBSTEPS as f64 {
            return Err(FreqError::StepTooLong { dt, n });
        }
        let n = (n as usize).max(1);
        let h = dt / n as f64;
        let len = 1 + 2 * self.units.len();
        self.work.resize(6 * len, 0.0);
        let mut work = std::mem::take(&mut self.work);
        {
            let (y, rest) = work.split_at_mut(len);
            let (tmp, rest) = rest.split_at_mut(len);
            let (k1, rest) = rest.split_at_mut(len);
            let (k2, rest) = rest.split_at_mut(len);
            let (k3, k4) = rest.split_at_mut(len);
            self.pack(y);
            for _ in 0..n {
                self.deriv(y, k1);
                axpy(tmp, y, 0.5 * h, k1);
                self.deriv(tmp, k2);
                axpy(tmp, y, 0.5 * h, k2);
                self.deriv(tmp, k3);
                axpy(tmp, y, h, k3);
                self.deriv(tmp, k4);
                for j in 0..len {
                    y[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
                }
                self.clamp(y);
            }
            self.unpack(y);
        }
        self.work = work;
        self.time_s += dt;
        Ok(true)
    }

    fn pack(&self, y: &mut [f64]) {
        y[0] = self.df_pu;
        for (i, u) in self.units.iter().enumerate() {
            y[1 + 2 * i] = u.valve_mw;
            y[2 + 2 * i] = u.pm_mw;
        }
    }

    fn unpack(&mut self, y: &[f64]) {
        self.df_pu = y[0];
        for (i, u) in self.units.iter_mut().enumerate() {
            if u.in_service {
                u.valve_mw = y[1 + 2 * i];
                u.pm_mw = y[2 + 2 * i];
            }
        }
    }

    fn clamp(&self, y: &mut [f64]) {
        for (i, u) in self.units.iter().enumerate() {
            for j in [1 + 2 * i, 2 + 2 * i] {
                y[j] = y[j].max(u.pmin_mw).min(u.pmax_mw);
            }
        }
    }

    fn deriv(&self, y: &[f64], dy: &mut [f64]) {
        let df = y[0];
        let mut pm = 0.0;
        for (i, u) in self.units.iter().enumerate() {
            if !u.in_service {
                dy[1 + 2 * i] = 0.0;
                dy[2 + 2 * i] = 0.0;
                continue;
            }
            let (v, p) = (y[1 + 2 * i], y[2 + 2 * i]);
            pm += p;
            dy[1 + 2 * i] = (u.command(df) - v) / u.dynamics.tg_s;
            let mut dp = (v - p) / u.dynamics.tt_s;
            if let Some(r) = u.dynamics.ramp_mw_per_s {
                dp = dp.max(-r).min(r);
            }
            dy[2 + 2 * i] = dp;
        }
        dy[0] = (pm - self.load_mw - self.damping * self.base_mw * df) / (2.0 * self.inertia_mws());
    }
}

fn axpy(out: &mut [f64], y: &[f64], a: f64, k: &[f64]) {
    for ((o, y), k) in out.iter_mut().zip(y).zip(k) {
        *o = y + a * k;
    }
}

/// Integral AGC of a single area: ACE = β·Δf (no tie lines), ΔPreḟ = −Ki·ACE·S_base.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agc {
    /// Frequency bias β, per unit on S_base (usually D + Σ1/R).
    pub beta: f64,
    /// Integral gain Ki, 1/s.
    pub ki: f64,
    /// Accumulated ΔPref, MW.
    pub output_mw: f64,
}

impl Agc {
    /// Bias β and gain Ki, starting from 0.
    pub fn new(beta: f64, ki: f64) -> Self {
        Agc { beta, ki, output_mw: 0.0 }
    }

    /// One AGC cycle of `dt` seconds at deviation `df_pu` on base `base_mw`: returns the total ΔPref, MW.
    pub fn step(&mut self, df_pu: f64, base_mw: f64, dt: f64) -> f64 {
        if df_pu.is_finite() && dt.is_finite() && dt > 0.0 {
            self.output_mw -= self.ki * self.beta * df_pu * base_mw * dt;
        }
        self.output_mw
    }

    /// One AGC cycle of `dt` seconds on an area control error `ace_mw` (ACE = ΔP_tie + β·Δf·S_base,
    /// positive when the area over-generates): ΔPref changes by −Ki·ACE·dt. Returns the total ΔPref, MW.
    pub fn step_ace(&mut self, ace_mw: f64, dt: f64) -> f64 {
        if ace_mw.is_finite() && dt.is_finite() && dt > 0.0 {
            self.output_mw -= self.ki * ace_mw * dt;
        }
        self.output_mw
    }
}

/// One stage of an under-frequency load-shedding scheme.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UflsStage {
    /// Pick-up frequency, Hz.
    pub threshold_hz: f64,
    /// Time the frequency must stay below the threshold before the stage sheds, s.
    pub delay_s: f64,
    /// Cumulative share of the reference load shed once this stage has operated (0–1).
    pub cumulative_share: f64,
}

/// An under-frequency load-shedding relay scheme: stages operate in order, each once, after their
/// delay below their threshold (the timer resets when the frequency recovers above the threshold).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UflsRelay {
    stages: Vec<UflsStage>,
    timers: Vec<f64>,
    fired: usize,
}

/// Tolerance on relay timers (accumulated steps of e.g. 0.1 s should reach 0.3 s).
const TIMER_EPS: f64 = 1e-9;

impl UflsRelay {
    /// A scheme from stages ordered by strictly decreasing threshold and strictly increasing
    /// cumulative share in (0, 1], with delays ≥ 0.
    pub fn new(stages: Vec<UflsStage>) -> Result<UflsRelay, FreqError> {
        for (k, s) in stages.iter().enumerate() {
            if !(s.threshold_hz.is_finite() && s.delay_s.is_finite() && s.delay_s >= 0.0) {
                return Err(FreqError::Invalid(format!(
                    "UFLS stage {k}: threshold and delay must be finite, delay ≥ 0"
                )));
            }
            if !(s.cumulative_share > 0.0 && s.cumulative_share <= 1.0) {
                return Err(FreqError::Invalid(format!("UFLS stage {k}: share must be in (0, 1]")));
            }
            if k > 0
                && !(s.threshold_hz < stages[k - 1].threshold_hz && s.cumulative_share > stages[k - 1].cumulative_share)
            {
                return Err(FreqError::Invalid(format!(
                    "UFLS stage {k}: thresholds must decrease and shares increase from stage to stage"
                )));
            }
        }
        let timers = vec![0.0; stages.len()];
        Ok(UflsRelay { stages, timers, fired: 0 })
    }

    /// ERCOT's scheme for 60 Hz (ERCOT Nodal Operating Guides, section 2.6, under-frequency load
    /// shedding): 59.3 / 58.9 / 58.5 Hz shedding 5 / 15 / 25 % of the load cumulatively. The 0.1 s
    /// delay (relay pick-up plus breaker time) is our assumption, not a value from the guides.
    pub fn ercot() -> UflsRelay {
        Self::preset(&[(59.3, 0.05), (58.9, 0.15), (58.5, 0.25)], 0.1)
    }

    /// A scheme for 50 Hz systems shaped after the ENTSO-E Network Code on Emergency and Restoration
    /// (Commission Regulation (EU) 2017/2196, Annex, Continental Europe): starts at 49.0 Hz, ends at
    /// 48.0 Hz, 45 % of the load in six steps of at most 10 %: 49.0/48.8/48.6/48.4/48.2/48.0 Hz →
    /// 5/13/21/29/37/45 % cumulative, 0.1 s each (the steps and delay are our choice within the code).
    pub fn entsoe() -> UflsRelay {
        Self::preset(&[(49.0, 0.05), (48.8, 0.13), (48.6, 0.21), (48.4, 0.29), (48.2, 0.37), (48.0, 0.45)], 0.1)
    }

    fn preset(steps: &[(f64, f64)], delay_s: f64) -> UflsRelay {
        let stages: Vec<UflsStage> =
            steps.iter().map(|&(f, s)| UflsStage { threshold_hz: f, delay_s, cumulative_share: s }).collect();
        let timers = vec![0.0; stages.len()];
        UflsRelay { stages, timers, fired: 0 }
    }

    /// The same scheme with thresholds scaled from `from_hz` to `to_hz` nominal (e.g. ERCOT's on 50 Hz:
    /// 59.3 Hz becomes 49.42 Hz).
    pub fn scaled(&self, from_hz: f64, to_hz: f64) -> UflsRelay {
        let k = to_hz / from_hz;
        let stages = self.stages.iter().map(|s| UflsStage { threshold_hz: s.threshold_hz * k, ..*s }).collect();
        UflsRelay { stages, timers: vec![0.0; self.stages.len()], fired: 0 }
    }

    /// The stages.
    pub fn stages(&self) -> &[UflsStage] {
        &self.stages
    }

    /// Stages operated so far.
    pub fn fired(&self) -> usize {
        self.fired
    }

    /// Cumulative share shed so far.
    pub fn shed_share(&self) -> f64 {
        if self.fired == 0 { 0.0 } else { self.stages[self.fired - 1].cumulative_share }
    }

    /// Re-arms the last stage that operated (its load comes back); nothing when none has.
    pub fn restore_one(&mut self) {
        if self.fired > 0 {
            self.fired -= 1;
            self.timers[self.fired] = 0.0;
        }
    }

    /// Re-arms every stage.
    pub fn reset(&mut self) {
        self.fired = 0;
        self.timers.iter_mut().for_each(|t| *t = 0.0);
    }

    /// Advances the relay by `dt` seconds at frequency `f_hz` (the frequency at the end of the step).
    /// Returns the share of the reference load to shed now (0 when no stage operates; several stages
    /// may operate in one step).
    pub fn step(&mut self, f_hz: f64, dt: f64) -> f64 {
        let before = self.shed_share();
        let dt = if dt.is_finite() && dt > 0.0 { dt } else { 0.0 };
        for k in self.fired..self.stages.len() {
            if f_hz < self.stages[k].threshold_hz {
                self.timers[k] += dt;
            } else {
                self.timers[k] = 0.0;
            }
        }
        while self.fired < self.stages.len()
            && self.timers[self.fired] + TIMER_EPS >= self.stages[self.fired].delay_s
            && f_hz < self.stages[self.fired].threshold_hz
        {
            self.fired += 1;
        }
        self.shed_share() - before
    }
}

/// A generator's under-frequency protection: trips once after `delay_s` below `threshold_hz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnderFrequencyTrip {
    /// Trip frequency, Hz.
    pub threshold_hz: f64,
    /// Time below the threshold before tripping, s.
    pub delay_s: f64,
    timer: f64,
    tripped: bool,
}

impl UnderFrequencyTrip {
    /// A relay with threshold and delay.
    pub fn new(threshold_hz: f64, delay_s: f64) -> Self {
        UnderFrequencyTrip { threshold_hz, delay_s, timer: 0.0, tripped: false }
    }

    /// 60 Hz systems: 57.5 Hz with no delay, in the range of NERC PRC-024's off-nominal frequency
    /// curves (an illustrative setting, not a standard's value).
    pub fn nerc_60hz() -> Self {
        Self::new(57.5, 0.0)
    }

    /// 50 Hz systems: 47.5 Hz with no delay, the lower bound of the frequency range in which
    /// ENTSO-E's Requirements for Generators (Regulation (EU) 2016/631) require units to stay connected.
    pub fn entsoe_50hz() -> Self {
        Self::new(47.5, 0.0)
    }

    /// Whether it has tripped.
    pub fn tripped(&self) -> bool {
        self.tripped
    }

    /// Advances by `dt` at frequency `f_hz`; returns `true` in the step in which it trips.
    pub fn step(&mut self, f_hz: f64, dt: f64) -> bool {
        if self.tripped {
            return false;
        }
        if f_hz < self.threshold_hz {
            self.timer += if dt.is_finite() && dt > 0.0 { dt } else { 0.0 };
            if self.timer + TIMER_EPS >= self.delay_s {
                self.tripped = true;
                return true;
            }
        } else {
            self.timer = 0.0;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // scripts/reference_dcflow.py: scipy odeint (rtol 1e-12), Kundur single area (H = 5, D = 1,
    // R = 0.05, Tg = 0.2, Tt = 0.5, 0.05 pu load step, f0 = 50 Hz), cross-checked against the
    // closed-loop transfer function's step response (scipy.signal).
    const KUNDUR_NADIR_HZ: f64 = -0.18383757392718644; // deviation from f0 at the nadir
    const KUNDUR_NADIR_T_S: f64 = 1.2148591320791384;
    const KUNDUR_SETTLE_2PCT_S: f64 = 6.742960142986551;
    const KUNDUR_STEADY_HZ: f64 = -0.11904761904761905;

    /// Kundur's textbook area on a 1000 MW base: one aggregate unit at 1000 MW scheduled at 800 MW.
    fn textbook() -> IslandFrequency {
        let d = UnitDynamics { rating_mw: 1000.0, ..UnitDynamics::default() };
        IslandFrequency::new(50.0, 1000.0, 1.0, 800.0, vec![FreqUnit::new(d, 0.0, 1000.0, 800.0)])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `sys` for `t_end` s in steps of `dt`, returning (t, Δf Hz) samples including t = 0.
    fn run(sys: &mut IslandFrequency, dt: f64, t_end: f64) -> Vec<(f64, f64)> {
        let mut out = vec![(0.0, sys.deviation_hz())];
        let n = (t_end / dt).round() as usize;
        for k in 1..=n {
            sys.step(dt).unwrap_or_else(|e| panic!("{e}"));
            out.push((k as f64 * dt, sys.deviation_hz()));
        }
        out
    }

    #[test]
    fn balanced_start_stays_at_nominal() {
        let mut s = textbook();
        run(&mut s, 0.1, 30.0);
        assert_eq!(s.deviation_hz(), 0.0);
        assert!((s.time_s() - 30.0).abs() < 1e-9);
    }

    #[test]
    fn initial_rocof_matches_swing_equation() {
        let mut s = textbook();
        s.load_mw += 50.0; // 5 % step
        let want = -0.05 * 50.0 / (2.0 * 5.0);
        let r = s.rocof_hz_per_s().unwrap_or(0.0);
        assert!((r - want).abs() <= 0.01 * want.abs(), "{r} vs {want}");
        // Measured over the first 10 ms of the simulation.
        s.step(0.01).unwrap_or_else(|e| panic!("{e}"));
        let measured = s.deviation_hz() / 0.01;
        assert!((measured - want).abs() <= 0.01 * want.abs(), "{measured} vs {want}");
    }

    #[test]
    fn quasi_steady_deviation_matches_droop_formula() {
        let mut s = textbook();
        s.load_mw += 50.0;
        run(&mut s, 0.05, 60.0);
        let want = -0.05 / (1.0 + 1.0 / 0.05) * 50.0;
        assert!((s.deviation_hz() - want).abs() <= 0.005 * want.abs(), "{} vs {want}", s.deviation_hz());
        assert!((s.quasi_steady_pu() * 50.0 - want).abs() < 1e-12);
        assert!((want - KUNDUR_STEADY_HZ).abs() < 1e-12);
    }

    #[test]
    fn several_units_share_by_droop() {
        // Two units on a 1000 MW base: 600 MW at 4 % and 400 MW at 5 % droop; a 30 MW step.
        let a = UnitDynamics { rating_mw: 600.0, droop: Some(0.04), ..UnitDynamics::default() };
        let b = UnitDynamics { rating_mw: 400.0, droop: Some(0.05), h_s: 3.0, ..UnitDynamics::default() };
        let mut s = IslandFrequency::new(
            60.0,
            1000.0,
            1.5,
            700.0,
            vec![FreqUnit::new(a, 0.0, 600.0, 400.0), FreqUnit::new(b, 0.0, 400.0, 300.0)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.load_mw += 30.0;
        let h = (5.0 * 600.0 + 3.0 * 400.0) / 1000.0;
        let r0 = s.rocof_hz_per_s().unwrap_or(0.0);
        assert!((r0 + 0.03 * 60.0 / (2.0 * h)).abs() < 1e-12);
        run(&mut s, 0.1, 80.0);
        let k = 1.5 + 600.0 / (0.04 * 1000.0) + 400.0 / (0.05 * 1000.0);
        let want = -0.03 / k;
        assert!((s.deviation_pu() - want).abs() <= 0.005 * want.abs(), "{} vs {want}", s.deviation_pu());
        let d1 = s.units[0].pm_mw - 400.0;
        let d2 = s.units[1].pm_mw - 300.0;
        assert!((d1 / d2 - (600.0 / 0.04) / (400.0 / 0.05)).abs() < 1e-3, "{d1} {d2}");
    }

    #[test]
    fn long_steps_are_stable_and_reach_the_same_steady_state() {
        let mut fine = textbook();
        let mut coarse = textbook();
        fine.load_mw += 50.0;
        coarse.load_mw += 50.0;
        let f = run(&mut fine, 0.01, 60.0);
        let c = run(&mut coarse, 1.0, 60.0);
        assert!(c.iter().all(|&(_, d)| d.is_finite() && d.abs() < 1.0), "bounded");
        assert!((coarse.deviation_hz() - fine.deviation_hz()).abs() < 1e-6);
        // The coarse run's samples lie on the fine trajectory.
        for &(t, d) in &c {
            let k = (t / 0.01).round() as usize;
            assert!((f[k].1 - d).abs() < 1e-6, "t = {t}: {d} vs {}", f[k].1);
        }
        // Every step length in the brief's range.
        for dt in [0.01, 0.02, 0.1, 0.25, 0.5, 1.0] {
            let mut s = textbook();
            s.load_mw += 50.0;
            run(&mut s, dt, 60.0);
            assert!((s.deviation_hz() - KUNDUR_STEADY_HZ).abs() < 0.005 * KUNDUR_STEADY_HZ.abs(), "dt = {dt}");
        }
    }

    #[test]
    fn textbook_nadir_and_settling_match_scipy() {
        let mut s = textbook();
        s.load_mw += 50.0;
        let dt = 0.01;
        let tr = run(&mut s, dt, 20.0);
        let k = (1..tr.len() - 1).min_by(|&i, &j| tr[i].1.total_cmp(&tr[j].1)).unwrap_or(1);
        // Parabola through the three samples around the minimum.
        let (y0, y1, y2) = (tr[k - 1].1, tr[k].1, tr[k + 1].1);
        let off = 0.5 * (y0 - y2) / (y0 - 2.0 * y1 + y2);
        let t_nadir = tr[k].0 + off * dt;
        let nadir = y1 - 0.25 * (y0 - y2) * off;
        assert!((nadir - KUNDUR_NADIR_HZ).abs() <= 0.01 * KUNDUR_NADIR_HZ.abs(), "nadir {nadir}");
        assert!((t_nadir - KUNDUR_NADIR_T_S).abs() <= 0.01 * KUNDUR_NADIR_T_S, "t_nadir {t_nadir}");
        // Far tighter than 1 % in fact:
        assert!((nadir - KUNDUR_NADIR_HZ).abs() < 1e-6 && (t_nadir - KUNDUR_NADIR_T_S).abs() < 1e-3);
        // 2 % settling: the last crossing of the band, interpolated.
        let band = 0.02 * KUNDUR_STEADY_HZ.abs();
        let out = |d: f64| (d - KUNDUR_STEADY_HZ).abs() - band;
        let last = (0..tr.len() - 1).rev().find(|&i| out(tr[i].1) > 0.0).unwrap_or(0);
        let (a, b) = (out(tr[last].1), out(tr[last + 1].1));
        let t_settle = tr[last].0 + dt * a / (a - b);
        assert!((t_settle - KUNDUR_SETTLE_2PCT_S).abs() <= 0.01 * KUNDUR_SETTLE_2PCT_S, "settling {t_settle}");
    }

    #[test]
    fn capacity_and_ramp_limits_bind() {
        // Headroom of 20 MW only: the unit saturates and frequency settles on damping alone.
        let d = UnitDynamics { rating_mw: 1000.0, ..UnitDynamics::default() };
        let mut s = IslandFrequency::new(50.0, 1000.0, 1.0, 800.0, vec![FreqUnit::new(d.clone(), 0.0, 820.0, 800.0)])
            .unwrap_or_else(|e| panic!("{e}"));
        s.load_mw += 50.0;
        run(&mut s, 0.1, 120.0);
        assert!((s.units[0].pm_mw - 820.0).abs() < 1e-9);
        let want = -30.0 / (1.0 * 1000.0);
        assert!((s.deviation_pu() - want).abs() < 1e-4 * want.abs(), "{}", s.deviation_pu());
        // A 2 MW/s ramp limit: Pm rises by at most 2 MW per second.
        let slow = UnitDynamics { ramp_mw_per_s: Some(2.0), ..d };
        let mut s = IslandFrequency::new(50.0, 1000.0, 1.0, 800.0, vec![FreqUnit::new(slow, 0.0, 1000.0, 800.0)])
            .unwrap_or_else(|e| panic!("{e}"));
        s.load_mw += 50.0;
        let mut prev = s.units[0].pm_mw;
        for _ in 0..50 {
            s.step(0.5).unwrap_or_else(|e| panic!("{e}"));
            assert!(s.units[0].pm_mw - prev <= 1.0 + 1e-9);
            prev = s.units[0].pm_mw;
        }
        assert!(s.units[0].pm_mw > 800.0 + 40.0);
    }

    #[test]
    fn agc_restores_nominal_frequency() {
        let mut s = textbook();
        s.load_mw += 50.0;
        let mut agc = Agc::new(1.0 + 1.0 / 0.05, 0.05);
        for _ in 0..600 {
            s.step(0.5).unwrap_or_else(|e| panic!("{e}"));
            let total = agc.step(s.deviation_pu(), s.base_mw, 0.5);
            s.distribute_agc(total, &[1.0]);
        }
        assert!(s.deviation_hz().abs() < 1e-4, "{}", s.deviation_hz());
        assert!((s.units[0].agc_mw - 50.0).abs() < 0.1);
    }

    #[test]
    fn tripped_units_lose_power_and_inertia() {
        let d = UnitDynamics { rating_mw: 500.0, ..UnitDynamics::default() };
        let mut s = IslandFrequency::new(
            50.0,
            1000.0,
            1.0,
            800.0,
            vec![FreqUnit::new(d.clone(), 0.0, 500.0, 400.0), FreqUnit::new(d, 0.0, 500.0, 400.0)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.trip(1);
        assert_eq!(s.inertia_mws(), 2500.0);
        let r = s.rocof_hz_per_s().unwrap_or(0.0);
        assert!((r + 400.0 / 5000.0 * 50.0).abs() < 1e-12);
        s.trip(0);
        assert_eq!(s.rocof_hz_per_s(), None);
        assert_eq!(s.step(0.1), Ok(false));
        assert!(s.step(f64::NAN).is_err());
        assert!(matches!(s.step(-1.0), Err(FreqError::Invalid(_))));
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let bad = UnitDynamics { tg_s: 0.0, ..UnitDynamics::default() };
        assert!(IslandFrequency::new(50.0, 100.0, 1.0, 50.0, vec![FreqUnit::new(bad, 0.0, 100.0, 50.0)]).is_err());
        let bad = UnitDynamics { droop: Some(-0.05), ..UnitDynamics::default() };
        assert!(IslandFrequency::new(50.0, 100.0, 1.0, 50.0, vec![FreqUnit::new(bad, 0.0, 100.0, 50.0)]).is_err());
        assert!(IslandFrequency::new(0.0, 100.0, 1.0, 50.0, vec![]).is_err());
        let mut s = textbook();
        s.units[0].pm_mw = f64::NAN;
        assert!(s.step(0.1).is_err());
        let mut s = textbook();
        assert!(matches!(s.step(1e9), Err(FreqError::StepTooLong { .. })));
    }

    #[test]
    fn ufls_stages_fire_in_order_once_after_their_delay() {
        let mut r = UflsRelay::ercot();
        assert_eq!(r.step(59.5, 0.05), 0.0);
        assert_eq!(r.step(59.2, 0.05), 0.0); // 0.05 s below 59.3: not yet
        assert!((r.step(59.2, 0.05) - 0.05).abs() < 1e-12); // 0.1 s: stage 1
        assert_eq!(r.step(59.2, 0.5), 0.0, "each stage once");
        // Recovery resets the pending timers.
        r.step(58.8, 0.05);
        r.step(59.0, 0.05);
        assert_eq!(r.step(58.8, 0.05), 0.0);
        assert!((r.step(58.8, 0.05) - 0.10).abs() < 1e-12);
        // A deep plunge operates the last stage only after its own delay.
        assert_eq!(r.step(58.0, 0.05), 0.0);
        assert!((r.step(58.0, 0.05) - 0.10).abs() < 1e-12);
        assert_eq!(r.fired(), 3);
        assert!((r.shed_share() - 0.25).abs() < 1e-12);
        assert_eq!(r.step(50.0, 10.0), 0.0);
        r.reset();
        assert_eq!(r.fired(), 0);
        // All stages at once in one long step.
        assert!((r.step(58.0, 1.0) - 0.25).abs() < 1e-12);
        // In order even when a later stage's delay is shorter.
        let mut r = UflsRelay::new(vec![
            UflsStage { threshold_hz: 49.0, delay_s: 0.5, cumulative_share: 0.1 },
            UflsStage { threshold_hz: 48.5, delay_s: 0.0, cumulative_share: 0.2 },
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.step(48.0, 0.1), 0.0);
        for _ in 0..3 {
            r.step(48.0, 0.1);
        }
        assert!((r.step(48.0, 0.1) - 0.2).abs() < 1e-12);
        assert!(
            UflsRelay::new(vec![
                UflsStage { threshold_hz: 49.0, delay_s: 0.1, cumulative_share: 0.1 },
                UflsStage { threshold_hz: 49.5, delay_s: 0.1, cumulative_share: 0.2 },
            ])
            .is_err()
        );
    }

    #[test]
    fn presets() {
        let e = UflsRelay::entsoe();
        assert_eq!(e.stages()[0].threshold_hz, 49.0);
        assert_eq!(e.stages().last().map(|s| s.threshold_hz), Some(48.0));
        assert!(e.stages().windows(2).all(|w| w[1].cumulative_share - w[0].cumulative_share <= 0.10 + 1e-12));
        let s = UflsRelay::ercot().scaled(60.0, 50.0);
        assert!((s.stages()[0].threshold_hz - 59.3 * 50.0 / 60.0).abs() < 1e-12);
        let mut t = UnderFrequencyTrip::new(57.5, 0.2);
        assert!(!t.step(57.4, 0.1));
        assert!(t.step(57.4, 0.1));
        assert!(t.tripped() && !t.step(50.0, 0.1));
        assert!(UnderFrequencyTrip::entsoe_50hz().threshold_hz < 48.0);
    }

    /// 60 Hz island, 1000 MW of load: an 800 MW unit at 600 MW (200 MW headroom) and a 400 MW unit
    /// that trips at t = 0. Without shedding the survivor saturates and the frequency collapses; with
    /// ERCOT's scheme three stages operate in order and the frequency settles above 59.3 Hz.
    fn big_loss(ufls: Option<UflsRelay>) -> (IslandFrequency, f64, Vec<(f64, usize)>) {
        let a = UnitDynamics { rating_mw: 800.0, ..UnitDynamics::default() };
        let b = UnitDynamics { rating_mw: 400.0, ..UnitDynamics::default() };
        let mut s = IslandFrequency::new(
            60.0,
            1000.0,
            1.0,
            1000.0,
            vec![FreqUnit::new(a, 0.0, 800.0, 600.0), FreqUnit::new(b, 0.0, 400.0, 400.0)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.trip(1);
        let reference_load = s.load_mw;
        let mut relay = ufls;
        let mut fmin = f64::INFINITY;
        let mut events = Vec::new();
        let dt = 0.02;
        for k in 1..=3000 {
            s.step(dt).unwrap_or_else(|e| panic!("{e}"));
            let f = s.frequency_hz();
            fmin = fmin.min(f);
            if let Some(r) = relay.as_mut() {
                let before = r.fired();
                let shed = r.step(f, dt);
                s.load_mw -= shed * reference_load;
                for stage in before..r.fired() {
                    events.push((k as f64 * dt, stage));
                }
            }
        }
        (s, fmin, events)
    }

    #[test]
    fn ufls_stops_the_decline_after_a_big_loss() {
        let (without, fmin0, _) = big_loss(None);
        assert!(without.frequency_hz() < 57.0, "collapses without shedding: {}", without.frequency_hz());
        let (with, fmin, events) = big_loss(Some(UflsRelay::ercot()));
        let stages: Vec<usize> = events.iter().map(|e| e.1).collect();
        assert_eq!(stages, vec![0, 1, 2], "each stage once, in order: {events:?}");
        assert!(events.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!((with.load_mw - 750.0).abs() < 1e-9);
        assert!(fmin > 58.0 && fmin > fmin0, "nadir {fmin}");
        let f = with.frequency_hz();
        assert!(f > 59.3 && f < 60.0, "settles above the first threshold: {f}");
        assert!(with.rocof_hz_per_s().unwrap_or(1.0).abs() < 1e-3);
        // Settles where droop predicts: deficit 150 MW over D·S_base + S/R = 1000 + 16000 MW/pu.
        let want = 60.0 * (1.0 - 150.0 / 17_000.0);
        assert!((f - want).abs() < 1e-3, "{f} vs {want}");
    }
}
