//! The operator's SCADA and state estimator: every `estimation.every_s` the remote
//! terminal units read every line flow (from end) and bus injection with Gaussian meter
//! errors, false-data attacks in force alter the readings on their way (Liu, Ning & Reiter
//! 2009: a naive one on the target's injection meter, a stealthy one a = H·c), and the
//! operator estimates the bus angles by weighted least squares ([`crate::worlds::power::estimate`]).
//! With `security.plausibility` on it runs the χ² test and removes measurements by the
//! largest normalized residual before it trusts the estimate. The estimate replaces the
//! load reports the operator dispatches on and the flows its corrective re-dispatch
//! watches.
//!
//! SCADA is modelled as the operator's own dedicated network (scanned, not sent through
//! the agents' channel); the attacks work on its readings.

use serde_json::json;

use super::Roster;
use super::control::OperatorAgent;
use crate::sim::security::Security;
use crate::sim::{AgentRng, Attacks, EventLog};
use crate::worlds::power::config::PowerConfig;
use crate::worlds::power::estimate::{self, BadDataTest, Estimator, Meas};
use crate::worlds::power::profile::normal;
use crate::worlds::power::state::PowerState;

/// Readings differing from the meters' by more than this count as attacked, MW.
const ATTACKED_MW: f64 = 1e-9;

/// What the operator's estimator knows and found.
#[derive(Clone, Debug, Default)]
pub struct Scada {
    model: Option<Estimator>,
    /// Energized branches the model was built for.
    key: Vec<bool>,
    /// Estimated flow of every branch, MW (empty before the first scan).
    pub flows_mw: Vec<f64>,
    /// Scans run, scans the χ² test flagged, measurements removed.
    pub scans: u64,
    pub flagged: u64,
    pub removed: u64,
    /// J of the last scan (before removals) and its threshold χ²₁₋α(m − n).
    pub chi2: f64,
    pub threshold: f64,
    /// Largest |estimated − true| served load over the buses at the last scan, MW.
    pub load_error_mw: f64,
    /// Largest |estimated − true| line flow at the last scan, MW.
    pub flow_error_mw: f64,
    /// The last scan could not be estimated (the previous estimate is kept).
    pub unobservable: bool,
    /// Tick of the last scan, and the measurements it removed.
    pub last_scan: Option<u64>,
    pub removed_now: usize,
}

/// One SCADA scan and estimate: updates the operator's loads and estimated flows.
#[allow(clippy::too_many_arguments)]
pub fn scan(
    op: &mut OperatorAgent,
    state: &PowerState,
    cfg: &PowerConfig,
    attacks: &Attacks,
    sec: &mut Security,
    rng: &mut AgentRng,
    roster: &Roster,
    now: u64,
    log: &mut EventLog,
) {
    let e = &cfg.estimation;
    let net = &state.net;
    let key: Vec<bool> = (0..net.branches().len()).map(|k| net.branch_energized(k)).collect();
    if op.scada.model.is_none() || op.scada.key != key {
        let meas = estimate::full_set(net);
        let sigma: Vec<f64> = meas
            .iter()
            .map(|m| if matches!(m, Meas::Flow(_)) { e.flow_sigma_mw } else { e.injection_sigma_mw })
            .collect();
        op.scada.model = Estimator::new(net, meas, sigma).ok();
        op.scada.key = key;
    }
    let Some(model) = op.scada.model.as_mut() else {
        if !op.scada.unobservable {
            log.push(now, "estimate_unobservable", None, [("reason", json!("topology"))]);
        }
        op.scada.unobservable = true;
        return;
    };
    // The meters.
    let flows: Vec<f64> = state.lines.iter().map(|l| l.flow_mw).collect();
    let injections = net.bus_injections_mw(&flows);
    let mut z: Vec<f64> = model
        .measurements()
        .iter()
        .map(|m| match *m {
            Meas::Flow(k) => flows[k],
            Meas::Injection(i) => injections[i],
        })
        .collect();
    if e.noise {
        for (v, m) in z.iter_mut().zip(model.measurements()) {
            let s = if matches!(m, Meas::Flow(_)) { e.flow_sigma_mw } else { e.injection_sigma_mw };
            *v += s * normal(&mut rng.0);
        }
    }
    // The attacks, with the attacker's knowledge of H.
    let mut attacked = vec![false; z.len()];
    for (target, magnitude, stealthy) in attacks.false_data() {
        let Some(t) = net.bus_index(target) else { continue };
        let a: Vec<f64> = if stealthy {
            // Raise the target's estimated load by `magnitude`: its injection falls by
            // that much, so c = −magnitude / (∂Pₜ/∂θₜ) at the target.
            let b = model.self_susceptance(t);
            if b == 0.0 {
                continue;
            }
            model.attack(&[(t, -magnitude / b)])
        } else {
            model.measurements().iter().map(|m| if *m == Meas::Injection(t) { -magnitude } else { 0.0 }).collect()
        };
        for ((v, x), hit) in z.iter_mut().zip(&a).zip(attacked.iter_mut()) {
            *v += x;
            *hit |= x.abs() > ATTACKED_MW;
        }
    }
    let test = sec.config.plausibility.then_some(BadDataTest {
        alpha: e.alpha,
        lnr: e.lnr_threshold,
        max_removals: e.max_removals as usize,
    });
    let Ok(checked) = estimate::check(net, model, &z, test) else {
        op.scada.unobservable = true;
        return;
    };
    op.scada.unobservable = false;
    op.scada.scans += 1;
    op.scada.last_scan = Some(now);
    op.scada.removed_now = if test.is_some() { checked.removed.len() } else { 0 };
    op.scada.chi2 = checked.j;
    op.scada.threshold = checked.threshold;
    if test.is_some() && checked.detected {
        op.scada.flagged += 1;
        let any_attack = attacked.iter().any(|&a| a);
        let meas = model.measurements();
        let mut named = Vec::new();
        for &(m, rn) in &checked.removed {
            let i = meas.iter().position(|x| *x == m).unwrap_or(0);
            let bus = match m {
                Meas::Flow(k) => net.branches()[k].from,
                Meas::Injection(b) => b,
            };
            let area = state.model.bus_area.get(bus).copied().unwrap_or(0);
            let hit = attacked.get(i).copied().unwrap_or(false);
            sec.alarm(now, Some(roster.area(area)), "bad_data", hit);
            named.push(json!({"measurement": m.label(net), "normalized_residual": rn, "attacked": hit}));
        }
        if checked.removed.is_empty() {
            sec.alarm(now, Some(roster.operator()), "bad_data_unidentified", any_attack);
        }
        op.scada.removed += checked.removed.len() as u64;
        log.push(
            now,
            "bad_data",
            Some(roster.operator().0),
            [
                ("chi2", json!(checked.j)),
                ("threshold", json!(checked.threshold)),
                ("removed", json!(named)),
                ("clean_after", json!(checked.clean)),
            ],
        );
    }
    // What the operator now believes.
    let theta = &checked.estimate.theta;
    let est_flows = net.flows_mw(theta);
    let est_inj = net.bus_injections_mw(&est_flows);
    let mut gen_at = vec![0.0; state.buses.len()];
    for (u, unit) in state.units.iter().enumerate() {
        if op.units[u].1 && unit.online() {
            gen_at[unit.bus] += op.units[u].0;
        }
    }
    for (k, st) in state.storage.iter().enumerate() {
        gen_at[st.bus] += op.storage[k].0;
    }
    let mut worst_load = 0.0_f64;
    for (i, b) in state.buses.iter().enumerate() {
        if net.island_of(i).is_none() {
            continue;
        }
        let served = gen_at[i] - est_inj[i];
        worst_load = worst_load.max((served - b.served_mw).abs());
        if b.shed_share < 1.0 {
            op.loads[i] = (served / (1.0 - b.shed_share), now);
        }
    }
    op.scada.load_error_mw = worst_load;
    op.scada.flow_error_mw = est_flows.iter().zip(&flows).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    op.scada.flows_mw = est_flows;
}
