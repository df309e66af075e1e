//! The power grid world: DC power flow on a MATPOWER case or a network written in the
//! scenario, islands each balanced by their own units, frequency per island (Kundur's
//! single-area model) with AGC, under-frequency load shedding and unit trips, line
//! protection and the cascades it sets off, households with PV, batteries and flexible
//! demand, EV charging stations as the contended resource, and dispatch by an operator, by
//! area controllers or by consensus between units — all talking through the shared channel.
//! (The code calls it `power`: "grid" already names the city grid and the spatial index.)
//!
//! The numerical core is pure and tested on its own: `matpower` (the case parser, with
//! positioned errors), `dcflow` (MATPOWER's DC model, islands, a cached sparse
//! factorization), `frequency` (the single-area model, AGC, relays) and `dispatch`
//! (economic dispatch, DC OPF, consensus). The rest is the world: `config` (the scenario
//! section), `validate`, `model` (the static grid), `layout`, `profile`, `state`,
//! `events` (Inject), `agents` (Perceive/Decide/Act), `physics` (Resolve), `measure`.
//!
//! One tick: edits and events (Inject) → agents measure (Perceive) → the channel delivers
//! (Communicate) → agents decide set-points and send messages (Decide) → set-points,
//! household and EV demand reach the grid (Act) → frequency, relays, DC flow and protection
//! (Resolve) → metrics (Measure).

pub mod agents;
pub mod config;
pub mod dcflow;
pub mod dispatch;
pub mod estimate;
pub mod events;
pub mod frequency;
pub mod layout;
pub mod matpower;
pub mod measure;
pub mod model;
pub mod physics;
pub mod profile;
pub mod state;
mod validate;

use std::path::Path;

use bevy::prelude::*;
use rand::RngExt;

pub use config::PowerConfig;

use agents::control::{AreaAgent, OperatorAgent};
use agents::ev::StationAgent;
use agents::prosumers::Prosumer;
use agents::units::{ConsensusGraph, GenAgent, StorageAgent};
use agents::{Meter, Roster};
use events::PowerEvents;
use state::PowerState;

use crate::sim::security::{AttackKind, AttackSpec};
use crate::sim::timeline::Timeline;
use crate::sim::{
    Agent, AgentIds, AgentKind, AgentRng, Decision, Inbox, InjectSet, LeaderView, MeasureSet, MessageKind, MetricGroup,
    Outbox, Phase, Pose, ResetWorld, SimAppExt, SimClock, SimTick, SpawnWorld, WorldSummary,
};
use crate::worlds::{Checker, CoreView, Fixed, Params, WorldSpec};

/// A generating unit's controller.
pub const GENERATOR: AgentKind = AgentKind::new("generator");
/// A grid-scale battery.
pub const GRID_BATTERY: AgentKind = AgentKind::new("grid_battery");
/// An EV charging station.
pub const CHARGING_STATION: AgentKind = AgentKind::new("charging_station");
/// A control area's controller (AGC, area dispatch, demand response).
pub const AREA_CONTROLLER: AgentKind = AgentKind::new("area_controller");
/// The system operator.
pub const OPERATOR: AgentKind = AgentKind::new("operator");
/// A household with (maybe) rooftop PV, a battery and flexible demand.
pub const PROSUMER: AgentKind = AgentKind::new("prosumer");

/// The power settings in force (the runner replaces it on live edits).
pub type PowerParams = Params<PowerConfig>;

/// The world's message kinds.
pub const MESSAGES: [MessageKind; 13] = [
    MessageKind {
        name: agents::MSG_TELEMETRY,
        about: "unit → operator or area controller: output, frequency, availability",
    },
    MessageKind { name: agents::MSG_LOADS, about: "area controller → operator: bus demands (two a message)" },
    MessageKind { name: agents::MSG_AREA, about: "area controller → operator: tie export, ACE, frequency" },
    MessageKind {
        name: agents::MSG_SETPOINT, about: "operator or area controller → unit: set-point and its AGC part"
    },
    MessageKind { name: agents::MSG_SCHEDULE, about: "operator → area controller: scheduled export and area price" },
    MessageKind {
        name: agents::MSG_PRICE,
        about: "operator or area controller → households, stations, batteries: area price",
    },
    MessageKind {
        name: agents::MSG_CONSENSUS,
        about: "unit → neighbouring unit: round, incremental cost, mismatch estimate",
    },
    MessageKind {
        name: agents::MSG_METER,
        about: "household → area controller: net demand, battery charge, flexibility",
    },
    MessageKind { name: agents::MSG_DR, about: "area controller → households: shed or release flexible demand" },
    MessageKind { name: agents::MSG_EV, about: "station → operator: charging power, EVs waiting, cap" },
    MessageKind { name: agents::MSG_EV_CAP, about: "operator → station: a cap on its charging power" },
    MessageKind { name: agents::MSG_STORAGE, about: "battery → operator: state of charge and output" },
    MessageKind { name: agents::MSG_SWITCH, about: "operator → area controller: close a tripped line" },
];

impl PowerConfig {
    /// The static grid these settings describe (cached).
    pub fn model(&self) -> Option<std::sync::Arc<model::GridModel>> {
        model::model(self).ok()
    }
}

impl WorldSpec for PowerConfig {
    fn name(&self) -> &'static str {
        "power"
    }

    fn quality_metric(&self) -> (&'static str, bool) {
        ("max_line_loading", false)
    }

    fn message_kinds(&self) -> Vec<&'static str> {
        MESSAGES.iter().map(|m| m.name).collect()
    }

    fn honours(&self, attack: &AttackSpec) -> Result<(), String> {
        match attack.attack {
            AttackKind::FalseData { target, .. } => {
                if !self.estimation.enabled {
                    return Err(
                        "false data works on the operator's state estimate: set world.estimation.enabled: true"
                            .to_string(),
                    );
                }
                match model::model(self) {
                    Ok(m) if m.bus(target).is_none() => Err(format!("target bus {target} is not in the network")),
                    _ => Ok(()),
                }
            }
            AttackKind::Hijack => {
                let a = &attack.attackers;
                if a.kind.is_some_and(|k| k != GRID_BATTERY && k != CHARGING_STATION && k != OPERATOR)
                    || (a.kind.is_none() && a.agents.is_empty())
                {
                    return Err(format!(
                        "in the power world only grid batteries ({}), EV charging stations ({}) and the operator's \
                         replicas ({}) have a hijack behaviour (load-altering: batteries charge flat out, stations \
                         ignore caps and pauses; a hijacked operator orders the most loaded line opened); name them \
                         with `kind` or their ids",
                        GRID_BATTERY.file_name(),
                        CHARGING_STATION.file_name(),
                        OPERATOR.file_name()
                    ));
                }
                if a.kind == Some(GRID_BATTERY) && self.batteries.is_empty() {
                    return Err("the scenario has no grid batteries to hijack".to_string());
                }
                if a.kind == Some(CHARGING_STATION) && self.ev.stations.is_empty() {
                    return Err("the scenario has no EV charging stations to hijack".to_string());
                }
                Ok(())
            }
            _ => crate::worlds::honours_by_default(self.name(), attack),
        }
    }

    fn agent_kinds(&self) -> Vec<AgentKind> {
        let mut v = vec![GENERATOR];
        if !self.batteries.is_empty() {
            v.push(GRID_BATTERY);
        }
        if !self.ev.stations.is_empty() {
            v.push(CHARGING_STATION);
        }
        v.extend([AREA_CONTROLLER, OPERATOR]);
        if self.prosumers.households > 0 {
            v.push(PROSUMER);
        }
        v
    }

    /// The units (generator rows in service), the grid batteries, the stations, the area
    /// controllers, the operator, the households.
    fn agent_count(&self) -> u64 {
        self.model().map_or(0, |m| Roster::of(self, &m).total())
    }

    /// The system operator.
    fn replicates_coordinator(&self) -> bool {
        true
    }

    /// The operator's switching orders.
    fn quorum_commands(&self) -> bool {
        true
    }

    fn validate(&self, core: &CoreView, out: &mut Checker) {
        validate::power(out, self, core);
    }

    fn fixed_at_start(&self) -> Vec<Fixed> {
        vec![
            Fixed::Value("world.network", "the network cannot change while running (trip and restore lines instead)"),
            Fixed::Value("world.areas", "the control areas only apply at start"),
            Fixed::Value("world.frequency.f0_hz", "the nominal frequency only applies at start"),
            Fixed::Value("world.prosumers.households", "the households only apply at start"),
            Fixed::Value("world.prosumers.buses", "the households only apply at start"),
            Fixed::Value("world.prosumers.pv_share", "which households have PV is decided at start"),
            Fixed::Value("world.prosumers.battery_share", "which households have batteries is decided at start"),
            Fixed::Value("world.prosumers.spread_m", "the households only apply at start"),
            Fixed::Value("world.ev.stations", "the charging stations only apply at start"),
            Fixed::Value("world.batteries", "the grid batteries only apply at start"),
            Fixed::Value("world.events", "the world's events are its timeline; inject new ones instead"),
            Fixed::Value("world.profile.start_hour", "the hour the run starts at only applies at start"),
        ]
    }

    fn build(&self, app: &mut App) {
        app.add_plugins(PowerPlugin(self.clone()));
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let config::Network::Matpower { path, .. } = &mut self.network
            && !path.is_empty()
        {
            let p = Path::new(path.as_str());
            let joined = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
            if let Ok(abs) = std::path::absolute(&joined) {
                *path = abs.display().to_string();
            }
        }
    }

    fn truncate_events(&mut self, ticks: u64) -> Vec<String> {
        let list = self.events.clone();
        crate::sim::timeline::truncate(&mut self.events, ticks)
            .into_iter()
            .map(|k| {
                format!("world.events[{k}] ({} at tick {}) comes after the run's end", list[k].event.name(), list[k].at)
            })
            .collect()
    }

    fn record_session(&mut self, world: &World) {
        if let Some(e) = world.get_resource::<PowerEvents>() {
            self.events = e.0.session();
        }
    }
}

/// The power world's plugin.
pub struct PowerPlugin(pub PowerConfig);

impl Plugin for PowerPlugin {
    fn build(&self, app: &mut App) {
        let cfg = &self.0;
        app.register_agent_kinds(&cfg.agent_kinds())
            .register_metrics(MetricGroup::World, &measure::COLUMNS)
            .register_message_kinds(&MESSAGES)
            .register_trace_table(measure::LINES_TABLE)
            .register_trace_table(measure::BUSES_TABLE);
        app.insert_resource(Params(cfg.clone()));
        app.insert_resource(WorldSummary(measure::summary));
        reset(app.world_mut());
        app.add_systems(ResetWorld, reset);
        app.add_systems(SpawnWorld, spawn);
        app.add_systems(
            SimTick,
            (events::apply_params, events::apply_events, events::environment).chain().in_set(InjectSet::World),
        );
        app.add_systems(SimTick, agents::units::perceive.in_set(Phase::Perceive));
        app.add_systems(
            SimTick,
            (
                agents::units::decide_units,
                agents::units::decide_storage,
                agents::ev::decide_stations,
                agents::control::decide_areas,
                agents::control::decide_operator,
                agents::prosumers::decide_prosumers,
            )
                .chain()
                .in_set(Phase::Decide),
        );
        app.add_systems(
            SimTick,
            (
                agents::units::act_units,
                agents::units::act_storage,
                agents::ev::act_stations,
                agents::prosumers::act_prosumers,
                agents::control::act_switching,
            )
                .chain()
                .in_set(Phase::Act),
        );
        app.add_systems(SimTick, physics::resolve.in_set(Phase::Resolve));
        app.add_systems(SimTick, measure::measure.in_set(MeasureSet::World));
    }
}

/// The `ResetWorld` system: the grid, its timeline and its consensus graph for the settings
/// in force.
pub fn reset(world: &mut World) {
    let cfg = world.resource::<PowerParams>().0.clone();
    let seed = world.get_resource::<SimClock>().map_or(0, |c| c.seed);
    let Ok(model) = model::model(&cfg) else {
        // Validation refuses such a scenario before any app is built.
        return;
    };
    let roster = Roster::of(&cfg, &model);
    let state = PowerState::new(&cfg, model, seed, 0);
    let graph = ConsensusGraph::build(&state, cfg.consensus.neighbours as usize);
    world.insert_resource(roster);
    world.insert_resource(graph);
    world.insert_resource(PowerEvents(Timeline::new(cfg.events.clone())));
    world.insert_resource(state);
}

/// The bus numbers households hang off, in turn.
fn household_buses(cfg: &PowerConfig, state: &PowerState) -> Vec<usize> {
    let m = &state.model;
    if !cfg.prosumers.buses.is_empty() {
        return cfg.prosumers.buses.iter().filter_map(|&n| m.bus(n)).collect();
    }
    let loaded: Vec<usize> = (0..m.case.buses.len()).filter(|&i| m.has_load(i)).collect();
    if loaded.is_empty() { (0..m.case.buses.len()).collect() } else { loaded }
}

fn bus_xy(state: &PowerState, bus: usize) -> Vec2 {
    let p = state.model.xy.get(bus).copied().unwrap_or([0.0, 0.0]);
    Vec2::new(p[0] as f32, p[1] as f32)
}

/// A point `r` m from `c` at the `k`-th of a golden-angle spiral.
fn around(c: Vec2, r: f32, k: usize) -> Vec2 {
    let a = k as f32 * 2.399_963;
    c + Vec2::new(a.cos(), a.sin()) * r
}

/// Where every agent of the network side stands, and the controllers' initial state.
struct Placement {
    units: Vec<(Vec2, f64)>,
    storage: Vec<Vec2>,
    stations: Vec<(Vec2, usize)>,
    areas: Vec<(Vec2, AreaAgent)>,
    operator: (Vec2, OperatorAgent),
    homes_at: Vec<usize>,
    xy: Vec<Vec2>,
}

fn place(s: &PowerState, cfg: &PowerConfig) -> Placement {
    let model = &s.model;
    let edge = layout::EDGE_M as f32;
    let xy: Vec<Vec2> = (0..model.case.buses.len()).map(|b| bus_xy(s, b)).collect();
    // Units, batteries and stations beside their bus, controllers above their area's centre.
    let mut at_bus = vec![0usize; xy.len()];
    let mut beside = |bus: usize| {
        at_bus[bus] += 1;
        around(xy[bus], 0.18 * edge, at_bus[bus])
    };
    let units = s.units.iter().map(|u| (beside(u.bus), u.setpoint_mw)).collect();
    let storage = s.storage.iter().map(|b| beside(b.bus)).collect();
    let stations = cfg
        .ev
        .stations
        .iter()
        .map(|st| {
            let bus = model.bus(st.bus).unwrap_or(0);
            (beside(bus), bus)
        })
        .collect();
    let centre = |buses: &[usize]| -> Vec2 {
        let n = buses.len().max(1) as f32;
        buses.iter().map(|&b| xy[b]).fold(Vec2::ZERO, |a, p| a + p) / n
    };
    let areas = (0..model.areas.len())
        .map(|a| {
            let agent = AreaAgent::new(s, a, cfg);
            (centre(&agent.buses) + Vec2::new(0.0, 0.35 * edge), agent)
        })
        .collect();
    let (lo, hi) = xy.iter().fold((Vec2::splat(f32::MAX), Vec2::splat(f32::MIN)), |(l, h), p| (l.min(*p), h.max(*p)));
    let operator =
        (Vec2::new((lo.x + hi.x) * 0.5, hi.y + 0.8 * edge), OperatorAgent::new(s, cfg.ev.stations.len(), cfg));
    Placement { units, storage, stations, areas, operator, homes_at: household_buses(cfg, s), xy }
}

/// The `SpawnWorld` system: every agent, in the documented order.
pub fn spawn(world: &mut World) {
    let Some(state) = world.get_resource::<PowerState>() else { return };
    let cfg = world.resource::<PowerParams>().0.clone();
    let seed = world.resource::<SimClock>().seed;
    let model = state.model.clone();
    let roster = *world.resource::<Roster>();
    let pl = place(state, &cfg);
    let homes_at = pl.homes_at.clone();
    let n_home_buses = homes_at.len().max(1);
    let xy = pl.xy.clone();
    let first_prosumer = roster.first_prosumer();
    let households = cfg.prosumers.households;

    let base = |id: crate::sim::AgentId, kind: AgentKind, p: Vec2, tag: &str| {
        (
            Agent { id, kind },
            Pose { x: p.x, y: p.y, heading: 0.0, speed: 0.0 },
            Decision::default(),
            Inbox::default(),
            Outbox::default(),
            AgentRng::new(seed, tag, u64::from(id.0)),
            Meter::default(),
        )
    };
    let mut ids = Vec::new();
    {
        let mut alloc = world.resource_mut::<AgentIds>();
        for _ in 0..roster.total() {
            ids.push(alloc.alloc());
        }
    }
    let mut next = ids.into_iter();
    let mut take = || next.next().unwrap_or(crate::sim::AgentId(u32::MAX));
    for (k, (pos, p0)) in pl.units.into_iter().enumerate() {
        let id = take();
        world.spawn((
            base(id, GENERATOR, pos, "power_unit"),
            LeaderView::new(0, roster.operator()),
            GenAgent {
                unit: k,
                schedule_mw: p0,
                agc_mw: 0.0,
                target_mw: p0,
                heard: None,
                failsafe: false,
                consensus: None,
                synced: false,
            },
        ));
    }
    for (k, pos) in pl.storage.into_iter().enumerate() {
        let id = take();
        world.spawn((
            base(id, GRID_BATTERY, pos, "power_battery"),
            LeaderView::new(0, roster.operator()),
            StorageAgent { index: k, target_mw: 0.0, price_mean: 0.0 },
        ));
    }
    for (k, (pos, bus)) in pl.stations.into_iter().enumerate() {
        let id = take();
        let hh = match homes_at.iter().position(|&b| b == bus) {
            Some(j) if (j as u32) < households => {
                let count = (households - j as u32).div_ceil(n_home_buses as u32);
                (first_prosumer + j as u32, n_home_buses as u32, count)
            }
            _ => (0, 0, 0),
        };
        world.spawn((
            base(id, CHARGING_STATION, pos, "power_station"),
            LeaderView::new(0, roster.operator()),
            StationAgent::new(k, bus, &cfg.ev.stations[k], hh),
        ));
    }
    for (pos, a) in pl.areas {
        let id = take();
        world.spawn((base(id, AREA_CONTROLLER, pos, "power_area"), LeaderView::new(0, roster.operator()), a));
    }
    let id = take();
    let (op_pos, op_agent) = pl.operator;
    let op_entity = world.spawn((base(id, OPERATOR, op_pos, "power_operator"), op_agent.clone())).id();
    let h = &cfg.prosumers;
    let mut batch = Vec::with_capacity(households as usize);
    for k in 0..households as usize {
        let id = take();
        let bus = homes_at.get(k % n_home_buses).copied().unwrap_or(0);
        let j = k / n_home_buses;
        let per_bus = (households as usize).div_ceil(n_home_buses).max(1);
        let r = h.spread_m as f32 * ((j as f32 + 0.5) / per_bus as f32).sqrt();
        let p = around(xy[bus], r, j);
        let mut rng = AgentRng::new(seed, "power_home", u64::from(id.0));
        let z = profile::normal(&mut rng.0);
        let size = (0.3 * z).exp().clamp(0.4, 2.5) as f32;
        let has_pv = rng.0.random::<f64>() < h.pv_share;
        let has_bat = rng.0.random::<f64>() < h.battery_share;
        let uf_drop = rng.0.random_range(0.001..0.003) as f32;
        let price_lo = rng.0.random_range(0.75..0.95) as f32;
        let price_hi = rng.0.random_range(1.05..1.35) as f32;
        let area = model.bus_area.get(bus).copied().unwrap_or(0) as u16;
        let bat_kwh = if has_bat { h.battery_kwh as f32 } else { 0.0 };
        batch.push((
            (
                Agent { id, kind: PROSUMER },
                Pose { x: p.x, y: p.y, heading: 0.0, speed: 0.0 },
                Decision::default(),
                Inbox::default(),
                Outbox::default(),
                rng,
            ),
            Prosumer {
                bus: bus as u32,
                area,
                size,
                noise: 0.0,
                pv_kw: if has_pv { h.pv_kw as f32 } else { 0.0 },
                bat_kwh,
                bat_kw: if has_bat { h.battery_kw as f32 } else { 0.0 },
                soc_kwh: 0.5 * bat_kwh,
                deferred_kwh: 0.0,
                deferred_s: 0.0,
                price: 0.0,
                price_mean: 0.0,
                price_tick: 0,
                price_lo,
                price_hi,
                dr: false,
                uf_drop,
                uf_waiting: false,
                demand_kw: 0.0,
                pv_out_kw: 0.0,
                curtailed_kw: 0.0,
                battery_kw: 0.0,
                net_kw: 0.0,
                freq_hz: 0.0,
            },
        ));
    }
    world.spawn_batch(batch);
    // Standby replicas of the operator (security.failover), in a row beside it.
    let step = Vec2::new(0.06 * (pl_span(&xy) + 1.0), 0.0);
    crate::sim::security::failover::replicate(world, 0, (id, op_entity), |sid, k| {
        (base(sid, OPERATOR, op_pos + step * k as f32, "power_operator"), op_agent.clone())
    });
}

/// The width of the buses' drawing, m (standby operators are spaced by a share of it).
fn pl_span(xy: &[Vec2]) -> f32 {
    let (lo, hi) = xy.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| (lo.min(p.x), hi.max(p.x)));
    if hi > lo { hi - lo } else { 0.0 }
}
