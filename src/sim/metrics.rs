//! Named time series recorded every N ticks: worlds register columns and set values each
//! tick; the core appends a row after the world's measure systems have run.

use bevy::prelude::*;

use super::{Agent, Channel, SimClock};

/// A world's own part of summary.json, computed from the world at the end of a run (the
/// runner writes it under `"world"`).
#[derive(Resource, Clone, Copy)]
pub struct WorldSummary(pub fn(&World) -> serde_json::Value);

/// The metric table of a run.
#[derive(Resource, Debug, Clone)]
pub struct Metrics {
    columns: Vec<&'static str>,
    current: Vec<f64>,
    rows: Vec<Vec<f64>>,
    record_every: u64,
    /// Keep only the newest rows in memory (the desktop app); `None` keeps all.
    pub keep_last: Option<usize>,
    /// The column after the last one set: systems set their columns in the same order
    /// every tick, so [`Metrics::set`] finds each name at once instead of searching.
    next: usize,
}

impl Metrics {
    /// An empty table that records every `record_every` ticks.
    pub fn new(record_every: u64) -> Self {
        Metrics {
            columns: Vec::new(),
            current: Vec::new(),
            rows: Vec::new(),
            record_every: record_every.max(1),
            keep_last: None,
            next: 0,
        }
    }

    /// Drops every recorded row and zeroes the current values; keeps the columns.
    pub fn clear(&mut self, record_every: u64) {
        self.rows.clear();
        self.current.iter_mut().for_each(|v| *v = 0.0);
        self.record_every = record_every.max(1);
    }

    /// Adds a column (idempotent); returns its index.
    pub fn register(&mut self, name: &'static str) -> usize {
        if let Some(i) = self.index(name) {
            return i;
        }
        self.columns.push(name);
        self.current.push(0.0);
        self.columns.len() - 1
    }

    /// Index of a column.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| *c == name)
    }

    /// Sets this tick's value of a registered column. Unknown names are a programming
    /// error, caught in debug builds.
    pub fn set(&mut self, name: &str, value: f64) {
        let i =
            if self.columns.get(self.next).is_some_and(|c| *c == name) { Some(self.next) } else { self.index(name) };
        match i {
            Some(i) => {
                self.current[i] = value;
                self.next = i + 1;
            }
            None => debug_assert!(false, "metric column {name} was never registered"),
        }
    }

    /// Column names in order.
    pub fn columns(&self) -> &[&'static str] {
        &self.columns
    }

    /// Recorded rows.
    pub fn rows(&self) -> &[Vec<f64>] {
        &self.rows
    }

    /// The values being assembled for the current tick (after Measure: the last tick's).
    pub fn current(&self) -> &[f64] {
        &self.current
    }

    /// The value of `name` in the newest recorded row.
    pub fn last(&self, name: &str) -> Option<f64> {
        let i = self.index(name)?;
        self.rows.last().map(|r| r[i])
    }

    /// A column's recorded values.
    pub fn series(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.index(name)?;
        Some(self.rows.iter().map(|r| r[i]).collect())
    }

    /// Recording interval in ticks.
    pub fn record_every(&self) -> u64 {
        self.record_every
    }
}

/// Fills the core columns and appends the row when the interval is due.
pub(crate) fn record_row(
    clock: Res<SimClock>,
    channel: Res<Channel>,
    agents: Query<(), With<Agent>>,
    mut metrics: ResMut<Metrics>,
) {
    let done = clock.tick + 1;
    metrics.set("tick", done as f64);
    metrics.set("time_s", done as f64 * clock.dt);
    metrics.set("agents", agents.iter().len() as f64);
    let stats = channel.stats;
    for (name, v) in stats.values() {
        metrics.set(name, v);
    }
    if done.is_multiple_of(metrics.record_every) {
        let row = metrics.current.clone();
        metrics.rows.push(row);
        if let Some(k) = metrics.keep_last
            && metrics.rows.len() > k
        {
            let excess = metrics.rows.len() - k;
            metrics.rows.drain(0..excess);
        }
    }
}
