//! The road-traffic world: vehicles with car-following models on a road network (the
//! ring road for now), V2V and vehicle-to-controller messages through the shared
//! channel, and coordination from none to centralized.

pub mod city;
pub mod config;
pub mod models;
pub mod network;
pub mod ring;
pub mod signals;

pub use config::{CarFollowing, Road, TrafficConfig};
pub use ring::{Controllers, RingRoad, TrafficPlugin, Vehicle};

/// (Re)inserts the traffic world's state for `cfg`: the ring's or the city's.
pub fn reset(world: &mut bevy::prelude::World, cfg: &TrafficConfig) {
    match cfg.road {
        Road::Ring { .. } => ring::reset(world, cfg),
        Road::Grid { .. } | Road::Network { .. } => city::reset(world, cfg),
    }
}
