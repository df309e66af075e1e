//! The worlds masim simulates. Each is a plugin that spawns from its scenario section
//! and adds systems to the core's phases.

pub mod traffic;
