//! What the power world records: its metric columns (with units and how a row summarises
//! them), the lines.csv and buses.csv trace tables, and summary.json's `world` section
//! with per-line and per-generator figures, the cascades and their sizes, the frequency's
//! extremes, the load shedding and the EV charging outcome.

use std::fmt::Write as _;

use bevy::prelude::*;
use serde_json::{Value, json};

use super::agents::control::{AreaAgent, OperatorAgent};
use super::agents::ev::{StationAgent, jain};
use super::agents::prosumers::Prosumer;
use super::agents::units::GenAgent;
use super::config::PowerConfig;
use super::state::{LineStatus, PowerState};
use crate::sim::{Coordination, CoordinationRes, Coordinator, Crashed, MetricSpec, Metrics, SimClock, TraceTable};
use crate::worlds::Params;

/// The world's metric columns, in metrics.csv order.
pub const COLUMNS: [MetricSpec; 34] = [
    MetricSpec::gauge("freq_hz", "Hz"),
    MetricSpec::gauge("rocof_hz_per_s", "Hz/s"),
    MetricSpec::gauge("ace_mw", "MW"),
    MetricSpec::gauge("gen_mw", "MW"),
    MetricSpec::gauge("load_mw", "MW"),
    MetricSpec::gauge("load_shed_mw", "MW"),
    MetricSpec::gauge("unserved_mwh", "MWh"),
    MetricSpec::gauge("lines_tripped", "lines"),
    MetricSpec::gauge("islands", "islands"),
    MetricSpec::gauge("max_line_loading", "share of rating"),
    MetricSpec::gauge("lines_overloaded", "lines"),
    MetricSpec::gauge("gen_cost_per_h", "$/h"),
    MetricSpec::gauge("curtailed_mw", "MW"),
    MetricSpec::gauge("battery_soc_mean", "share"),
    MetricSpec::gauge("ev_waiting", "EVs"),
    MetricSpec::gauge("ev_mean_wait_s", "s"),
    MetricSpec::gauge("ev_unmet_kwh", "kWh"),
    MetricSpec::gauge("charging_fairness_jain", "index"),
    MetricSpec::gauge("demand_mw", "MW"),
    MetricSpec::gauge("pv_mw", "MW"),
    MetricSpec::gauge("battery_mw", "MW"),
    MetricSpec::gauge("ev_charging_mw", "MW"),
    MetricSpec::gauge("price_per_mwh", "$/MWh"),
    MetricSpec::gauge("failsafe_units", "units"),
    MetricSpec::gauge("cascades", "cascades"),
    MetricSpec::count("line_trips", "trips"),
    MetricSpec::count("ufls_operations", "bus stages"),
    MetricSpec::count("gen_trips", "trips"),
    MetricSpec::count("ev_arrivals", "EVs"),
    MetricSpec::gauge("se_chi2", "J"),
    MetricSpec::gauge("se_chi2_threshold", "J"),
    MetricSpec::gauge("se_load_error_mw", "MW"),
    MetricSpec::gauge("se_flow_error_mw", "MW"),
    MetricSpec::count("se_removed", "measurements"),
];

/// The area control error of every area (every island's part of a split one) now, MW (see
/// [`AreaAgent::parts`]).
pub fn area_errors<'a>(state: &PowerState, cfg: &PowerConfig, areas: impl Iterator<Item = &'a AreaAgent>) -> Vec<f64> {
    areas.flat_map(|a| a.parts(state, cfg).into_iter().map(|p| p.ace_mw)).collect()
}

/// The Measure system: this tick's metrics.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    coord: Res<CoordinationRes>,
    mut state: ResMut<PowerState>,
    mut metrics: ResMut<Metrics>,
    units: Query<&GenAgent>,
    stations: Query<&StationAgent>,
    areas: Query<&AreaAgent>,
    operator: Query<(&OperatorAgent, Option<&Coordinator>, Has<Crashed>)>,
    homes: Query<&Prosumer>,
) {
    let cfg = &params.0;
    let s = &mut *state;
    let low = s.lowest_island().cloned();
    let m = &mut *metrics;
    m.set("freq_hz", low.as_ref().map_or(0.0, |i| i.freq_hz));
    m.set("rocof_hz_per_s", low.as_ref().map_or(0.0, |i| i.rocof));
    let aces = area_errors(s, cfg, areas.iter());
    let worst = aces.iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap_or(0.0);
    m.set("ace_mw", worst);
    let live = s.islands.iter().filter(|i| i.live);
    let (generation, load) = live.fold((0.0, 0.0), |acc, i| (acc.0 + i.gen_mw, acc.1 + i.load_mw));
    m.set("gen_mw", generation);
    m.set("load_mw", load);
    m.set("load_shed_mw", s.shed_mw);
    m.set("unserved_mwh", s.unserved_mwh);
    let tripped = s.lines.iter().filter(|l| matches!(l.status, LineStatus::Tripped | LineStatus::SwitchedOut)).count();
    m.set("lines_tripped", tripped as f64);
    m.set("islands", s.islands.len() as f64);
    let max_loading = s.lines.iter().map(|l| if l.loading.is_finite() { l.loading } else { 0.0 }).fold(0.0, f64::max);
    m.set("max_line_loading", max_loading);
    m.set("lines_overloaded", s.lines.iter().filter(|l| l.loading > 1.0).count() as f64);
    let cost: f64 = s.units.iter().filter(|u| u.online()).filter_map(|u| u.cost.map(|c| c.eval(u.pe_mw))).sum();
    m.set("gen_cost_per_h", cost);
    m.set("curtailed_mw", s.curtailed_mw);
    let soc = s.home_soc_mwh + s.storage.iter().map(|b| b.soc_mwh).sum::<f64>();
    let cap = s.home_cap_mwh + s.storage.iter().map(|b| b.mwh).sum::<f64>();
    m.set("battery_soc_mean", if cap > 0.0 { soc / cap } else { 0.0 });
    let waiting: usize = stations.iter().map(|s| s.queue.len()).sum();
    let (wait, waits) = stations.iter().fold((0.0, 0u64), |a, s| (a.0 + s.wait_s, a.1 + s.waits));
    m.set("ev_waiting", waiting as f64);
    m.set("ev_mean_wait_s", if waits > 0 { wait / waits as f64 } else { 0.0 });
    m.set("ev_unmet_kwh", stations.iter().map(|s| s.unmet_kwh).sum());
    m.set("charging_fairness_jain", jain(stations.iter()));
    m.set("demand_mw", s.buses.iter().map(|b| b.demand_mw).sum());
    m.set("pv_mw", s.pv_mw);
    let home_bat: f64 = homes.iter().map(|p| f64::from(p.battery_kw)).sum::<f64>() / 1000.0;
    m.set("battery_mw", s.storage.iter().map(|b| b.pm_mw).sum::<f64>() + home_bat);
    m.set("ev_charging_mw", s.buses.iter().map(|b| b.ev_mw).sum());
    let price = match coord.0 {
        Coordination::Centralized | Coordination::Hierarchical => leading(&operator).map_or(0.0, |o| {
            if o.prices.is_empty() { 0.0 } else { o.prices.iter().sum::<f64>() / o.prices.len() as f64 }
        }),
        Coordination::Decentralized => {
            let l: Vec<f64> = units.iter().filter_map(|g| g.consensus.as_ref().map(|c| c.lambda)).collect();
            if l.is_empty() { 0.0 } else { l.iter().sum::<f64>() / l.len() as f64 }
        }
        Coordination::None => 0.0,
    };
    m.set("price_per_mwh", price);
    m.set("failsafe_units", units.iter().filter(|g| g.failsafe).count() as f64);
    m.set("cascades", s.cascades.len() as f64);
    let c = std::mem::take(&mut s.counts);
    m.set("line_trips", c.line_trips as f64);
    m.set("ufls_operations", c.ufls_operations as f64);
    m.set("gen_trips", c.gen_trips as f64);
    m.set("ev_arrivals", c.ev_arrivals as f64);
    let scada = leading(&operator).map(|o| &o.scada);
    m.set("se_chi2", scada.map_or(0.0, |x| x.chi2));
    m.set("se_chi2_threshold", scada.map_or(0.0, |x| x.threshold));
    m.set("se_load_error_mw", scada.map_or(0.0, |x| x.load_error_mw));
    m.set("se_flow_error_mw", scada.map_or(0.0, |x| x.flow_error_mw));
    m.set(
        "se_removed",
        scada.map_or(0.0, |x| if x.last_scan == Some(clock.tick) { x.removed_now as f64 } else { 0.0 }),
    );
}

/// A number in a trace table: the shortest text that reads back exactly, nothing when not finite.
fn cell(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    }
}

/// lines.csv: every line's flow, loading and status at a traced tick.
pub const LINES_TABLE: TraceTable =
    TraceTable { file: "lines.csv", header: "tick,line,from_bus,to_bus,flow_mw,loading,status", rows: line_rows };

/// buses.csv: every bus's angle, load, generation and frequency at a traced tick.
pub const BUSES_TABLE: TraceTable =
    TraceTable { file: "buses.csv", header: "tick,bus,angle_deg,load_mw,gen_mw,freq_hz", rows: bus_rows };

fn line_rows(world: &World, done: u64, out: &mut String) {
    let Some(s) = world.get_resource::<PowerState>() else { return };
    for (k, l) in s.lines.iter().enumerate() {
        let (fb, tb) = s.model.line_buses(k);
        let _ = write!(out, "{done},{k},{fb},{tb},");
        cell(out, l.flow_mw);
        out.push(',');
        cell(out, l.loading);
        let _ = writeln!(out, ",{}", l.status.name());
    }
}

fn bus_rows(world: &World, done: u64, out: &mut String) {
    let Some(s) = world.get_resource::<PowerState>() else { return };
    let f0 = world.get_resource::<Params<PowerConfig>>().map_or(60.0, |p| p.0.frequency.f0_hz);
    for (i, b) in s.buses.iter().enumerate() {
        let number = s.model.case.buses.get(i).map_or(0, |x| x.number);
        let _ = write!(out, "{done},{number},");
        cell(out, if b.energized { b.angle_rad.to_degrees() } else { 0.0 });
        out.push(',');
        cell(out, b.served_mw);
        out.push(',');
        cell(out, b.gen_mw);
        out.push(',');
        cell(out, s.bus_freq(i, f0));
        out.push('\n');
    }
}

fn j(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// summary.json's `world` section.
pub fn summary(world: &World) -> Value {
    let Some(s) = world.get_resource::<PowerState>() else { return Value::Null };
    let ticks = world.get_resource::<crate::sim::SimClock>().map_or(1, |c| c.tick.max(1));
    let lines: Vec<Value> = s
        .lines
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let (fb, tb) = s.model.line_buses(k);
            json!({
                "line": k,
                "from_bus": fb,
                "to_bus": tb,
                "rating_mw": l.rating_mw.map_or(Value::Null, j),
                "mean_abs_flow_mw": j(l.abs_flow_sum / ticks as f64),
                "max_loading": j(l.max_loading),
                "overloaded_s": j(l.overloaded_s),
                "trips": l.trips,
                "final_status": l.status.name(),
            })
        })
        .collect();
    let gens: Vec<Value> = s
        .units
        .iter()
        .map(|u| {
            json!({
                "generator": u.row,
                "bus": s.model.case.buses.get(u.bus).map_or(0, |b| b.number),
                "agent": u.agent.0,
                "pmax_mw": j(u.pmax_mw),
                "final_mw": j(u.pe_mw),
                "energy_mwh": j(u.energy_mwh),
                "mean_mw": j(u.energy_mwh / (ticks as f64) * 3600.0 / world.get_resource::<crate::sim::SimClock>().map_or(1.0, |c| c.dt)),
                "cost": j(u.cost_total),
                "tripped": if u.uf_tripped { "under_frequency" } else if u.outage { "outage" } else { "no" },
            })
        })
        .collect();
    let cascades: Vec<Value> = s
        .cascades
        .iter()
        .map(|c| {
            json!({
                "cascade": c.id,
                "cause": c.cause,
                "start_tick": c.start_tick,
                "end_tick": c.last_tick,
                "lines": c.lines,
                "size_lines": c.lines.len(),
                "generators": c.gens,
                "mw_shed": j(c.mw_shed()),
            })
        })
        .collect();
    let mut sizes: Vec<usize> = s.cascades.iter().map(|c| c.lines.len()).collect();
    sizes.sort_unstable();
    let mut st_q = world.try_query::<&StationAgent>();
    let (mut arrived, mut departed, mut balked, mut delivered, mut unmet) = (0, 0, 0, 0.0, 0.0);
    let mut fair = 1.0;
    if let Some(q) = st_q.as_mut() {
        for st in q.iter(world) {
            arrived += st.arrived;
            departed += st.departed;
            balked += st.balked;
            delivered += st.delivered_kwh;
            unmet += st.unmet_kwh;
        }
        fair = jain(q.iter(world));
    }
    json!({
        "buses": s.buses.len(),
        "lines": lines,
        "generators": gens,
        "cascades": cascades,
        "cascade_sizes_lines": sizes,
        "largest_cascade_mw_shed": j(s.cascades.iter().map(|c| c.mw_shed()).fold(0.0, f64::max)),
        "frequency": {"nadir_hz": j(s.nadir_hz), "zenith_hz": j(s.zenith_hz), "max_rocof_hz_per_s": j(s.max_rocof)},
        "unserved_mwh": j(s.unserved_mwh),
        "ufls_stage_operations": s.ufls_by_stage,
        "max_islands": s.max_islands,
        "dc_solves": s.solves,
        "factorizations": s.factorizations,
        "ev": {
            "arrived": arrived,
            "departed": departed,
            "balked": balked,
            "delivered_kwh": j(delivered),
            "unmet_kwh": j(unmet),
            "fairness_jain": j(fair),
        },
    })
}

/// The operator that leads now (the only one, or the replica up and leading); failing
/// that, the first.
fn leading<'a>(q: &'a Query<(&OperatorAgent, Option<&Coordinator>, Has<Crashed>)>) -> Option<&'a OperatorAgent> {
    q.iter()
        .find(|(_, c, down)| !down && crate::sim::security::failover::acts(*c))
        .or_else(|| q.iter().next())
        .map(|x| x.0)
}
