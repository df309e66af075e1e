//! The power world's agents: generating units, grid batteries, EV charging stations, area
//! controllers, the system operator and households. Every one is an entity with the core's
//! components (identity, pose, decision with a reason, inbox and outbox, its own random
//! stream) plus its own; it perceives local measurements ([`Meter`]), decides set-points
//! with machine-readable reasons, and talks to the others only through the shared channel.
//!
//! Ids are dense from 0 in this order: the units (in generator-row order), the grid
//! batteries, the stations, the area controllers (in area order), the operator, the
//! households ([`Roster`]).

// Bevy systems take many-component queries; naming each would not make them clearer.
#![allow(clippy::type_complexity)]

pub mod control;
pub mod ev;
pub mod prosumers;
pub mod scada;
pub mod units;

use bevy::prelude::*;

use super::config::PowerConfig;
use super::model::GridModel;
use crate::sim::AgentId;

/// Unit → operator or area controller: [unit, output MW, frequency Hz, available 1/0].
pub const MSG_TELEMETRY: &str = "telemetry";
/// Area controller → operator: [bus, demand MW, bus, demand MW] (bus −1: none).
pub const MSG_LOADS: &str = "load_report";
/// Area controller → operator: [area, tie export MW, ACE MW, frequency Hz].
pub const MSG_AREA: &str = "area_report";
/// Operator or area controller → unit: [set-point MW, its AGC part MW, 0, 0].
pub const MSG_SETPOINT: &str = "setpoint";
/// Operator → area controller: [area, scheduled export MW, area price $/MWh, 0].
pub const MSG_SCHEDULE: &str = "schedule";
/// Operator or area controller → households, stations, batteries: [area (−1: all), price $/MWh, 0, 0].
pub const MSG_PRICE: &str = "price";
/// Unit → neighbouring unit: [round, incremental cost λ $/MWh, mismatch estimate y MW, output MW].
pub const MSG_CONSENSUS: &str = "consensus";
/// Household → area controller: [net demand kW, battery state of charge, flexible kW, PV kW].
pub const MSG_METER: &str = "meter";
/// Area controller → households: [area, 1 = shed flexible load / 0 = release, 0, 0].
pub const MSG_DR: &str = "dr_request";
/// Station → area controller and operator: [station, charging kW, EVs waiting, cap kW].
pub const MSG_EV: &str = "ev_report";
/// Operator → station: [cap kW (−1: none), 0, 0, 0].
pub const MSG_EV_CAP: &str = "ev_cap";
/// Battery → operator: [battery, state of charge, output MW, 0].
pub const MSG_STORAGE: &str = "storage_report";
/// Operator → area controller: [line, 1 = close, 0, 0].
pub const MSG_SWITCH: &str = "switch";

/// What an agent measured this tick at its own place: frequency and its rate of change, the
/// voltage angle, its power, the most loaded line at its bus, and the last price it heard.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Meter {
    /// Tick of the measurement.
    pub tick: u64,
    /// Frequency, Hz (0: de-energized).
    pub freq_hz: f64,
    /// Its rate of change, Hz/s.
    pub rocof: f64,
    /// Voltage angle, degrees.
    pub angle_deg: f64,
    /// Its own power (output or demand), MW.
    pub power_mw: f64,
    /// Highest loading of a line at its bus.
    pub loading: f64,
    /// Last price heard, $/MWh, and when.
    pub price: f64,
    pub price_tick: Option<u64>,
}

/// Agent ids by role.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roster {
    pub units: u32,
    pub storage: u32,
    pub stations: u32,
    pub areas: u32,
    pub prosumers: u32,
}

impl Roster {
    /// The roster of `cfg` on `model`.
    pub fn of(cfg: &PowerConfig, model: &GridModel) -> Self {
        Roster {
            units: model.units.len() as u32,
            storage: cfg.batteries.len() as u32,
            stations: cfg.ev.stations.len() as u32,
            areas: model.areas.len() as u32,
            prosumers: cfg.prosumers.households,
        }
    }
    pub fn unit(&self, k: usize) -> AgentId {
        AgentId(k as u32)
    }
    pub fn storage_id(&self, k: usize) -> AgentId {
        AgentId(self.units + k as u32)
    }
    pub fn station(&self, k: usize) -> AgentId {
        AgentId(self.units + self.storage + k as u32)
    }
    pub fn area(&self, k: usize) -> AgentId {
        AgentId(self.units + self.storage + self.stations + k as u32)
    }
    pub fn operator(&self) -> AgentId {
        AgentId(self.units + self.storage + self.stations + self.areas)
    }
    pub fn first_prosumer(&self) -> u32 {
        self.operator().0 + 1
    }
    /// Agents in all.
    pub fn total(&self) -> u64 {
        u64::from(self.first_prosumer()) + u64::from(self.prosumers)
    }
}

/// Ticks in `s` seconds at `dt` (at least one).
pub fn ticks(s: f64, dt: f64) -> u64 {
    if !(s.is_finite() && dt > 0.0) {
        return 1;
    }
    (s / dt).round().max(1.0) as u64
}

/// Whether an agent with `id` acts at `now` on a cycle of `period` ticks (cycles are staggered by id).
pub fn due(now: u64, period: u64, id: u32) -> bool {
    now % period.max(1) == u64::from(id) % period.max(1)
}
