//! masim: a simulator of what happens when multi-agent systems scale — communication
//! overhead, contention, faults and attacks, emergent behaviour — on the Bevy ECS.
//!
//! `sim` is the core (no rendering), `scenario` the RON schema, `worlds` the simulated
//! worlds, `runner` the headless driver and outputs, and `gui` (feature "gui") the
//! desktop app, which only reads state and sends commands.

pub mod experiment;
pub mod plot;
pub mod runner;
pub mod scenario;
pub mod sim;
pub mod worlds;

#[cfg(feature = "gui")]
pub mod gui;
