//! The road-traffic world: vehicles with car-following models on a road network (the
//! ring road for now), V2V and vehicle-to-controller messages through the shared
//! channel, and coordination from none to centralized.

pub mod config;
pub mod models;
pub mod ring;

pub use config::{CarFollowing, Road, TrafficConfig};
pub use ring::{Controllers, RingRoad, TrafficPlugin, Vehicle};
