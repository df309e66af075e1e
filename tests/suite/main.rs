//! The integration tests, one binary: linking a Bevy test binary costs a minute and about a
//! gigabyte, so the suites are modules of one test crate (`cargo test --test suite <module>::`
//! runs one of them).

mod analyst_outputs;
mod bad_input;
mod catalog;
mod channel;
mod common;
mod core_metrics_intervals;
mod core_names_no_world;
mod core_world_contract;
mod determinism;
mod experiments;
mod fast_path;
mod faults;
mod grid;
mod gui_session_replay;
mod gui_smoke;
mod plots;
mod power_cli;
mod power_world;
mod scenarios;
mod security;
mod traffic_claims;
mod validation;
mod warehouse_deadlock;
mod warehouse_invariant;
mod warehouse_maps;
mod warehouse_session;
mod warehouse_tasks;
