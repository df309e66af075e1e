//! The event log: faults starting and ending, jams forming and dissolving, notable
//! decisions — one record per event, with its tick, in the order they happened.

use bevy::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

/// One logged event.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Tick at which it happened.
    pub tick: u64,
    /// Short machine-readable kind (`fault_start`, `jam_start`, `fallback`, ...).
    pub kind: &'static str,
    /// The agent concerned, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<u32>,
    /// Further fields.
    #[serde(flatten)]
    pub detail: Map<String, Value>,
}

/// All events of a run, capped so that a pathological run cannot exhaust memory.
#[derive(Resource, Debug, Clone)]
pub struct EventLog {
    events: Vec<Event>,
    max: usize,
    suppressed: u64,
}

impl EventLog {
    /// An empty log that keeps at most `max` events (the rest are counted).
    pub fn new(max: usize) -> Self {
        EventLog { events: Vec::new(), max, suppressed: 0 }
    }

    /// Logs an event. `detail` is a list of (key, value) pairs.
    pub fn push(
        &mut self,
        tick: u64,
        kind: &'static str,
        agent: Option<u32>,
        detail: impl IntoIterator<Item = (&'static str, Value)>,
    ) {
        if self.events.len() >= self.max {
            self.suppressed += 1;
            return;
        }
        let detail = detail.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        self.events.push(Event { tick, kind, agent, detail });
    }

    /// The events so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Events not kept because the cap was reached.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// How many events of each kind, sorted by kind.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        let mut kinds: Vec<(&'static str, u64)> = Vec::new();
        for e in &self.events {
            match kinds.iter_mut().find(|(k, _)| *k == e.kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((e.kind, 1)),
            }
        }
        kinds.sort();
        kinds
    }
}
