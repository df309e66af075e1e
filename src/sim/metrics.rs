//! Named time series recorded every N ticks: worlds register columns (see
//! [`super::SimAppExt`]) and set values each tick; the core appends a row after the
//! world's measure systems have run. A row describes the whole interval it closes: a
//! state is sampled at the row's tick, a per-tick count is summed over the interval, a
//! per-event mean is averaged over the events of the interval (see [`Agg`]).

use bevy::prelude::*;

use super::registry::{Agg, MetricSpec};
use super::{Agent, Channel, SimClock};

/// A world's own part of summary.json, computed from the world at the end of a run (the
/// runner writes it under `"world"`).
#[derive(Resource, Clone, Copy)]
pub struct WorldSummary(pub fn(&World) -> serde_json::Value);

/// The metric table of a run.
#[derive(Resource, Debug, Clone)]
pub struct Metrics {
    columns: Vec<&'static str>,
    units: Vec<&'static str>,
    aggs: Vec<Agg>,
    current: Vec<f64>,
    /// Per column: the sum over the interval so far (`Sum`), or the weighted sum and the
    /// weights (`WeightedMean`).
    acc: Vec<f64>,
    weights: Vec<f64>,
    weight_now: Vec<f64>,
    /// The tick generation each column was last set in: a count not set in a tick
    /// counts 0 there, not its previous value again.
    set_in: Vec<u64>,
    generation: u64,
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
            units: Vec::new(),
            aggs: Vec::new(),
            current: Vec::new(),
            acc: Vec::new(),
            weights: Vec::new(),
            weight_now: Vec::new(),
            set_in: Vec::new(),
            generation: 0,
            rows: Vec::new(),
            record_every: record_every.max(1),
            keep_last: None,
            next: 0,
        }
    }

    /// Drops every recorded row and zeroes the current values; keeps the columns.
    pub fn clear(&mut self, record_every: u64) {
        self.rows.clear();
        for v in [&mut self.current, &mut self.acc, &mut self.weights, &mut self.weight_now] {
            v.iter_mut().for_each(|v| *v = 0.0);
        }
        self.set_in.iter_mut().for_each(|g| *g = u64::MAX);
        self.generation = 0;
        self.record_every = record_every.max(1);
    }

    /// Adds a column sampled at the row's tick (idempotent); returns its index.
    pub fn register(&mut self, name: &'static str) -> usize {
        self.register_spec(MetricSpec::gauge(name, ""))
    }

    /// Adds a column (idempotent by name); returns its index.
    pub fn register_spec(&mut self, spec: MetricSpec) -> usize {
        if let Some(i) = self.index(spec.name) {
            return i;
        }
        self.columns.push(spec.name);
        self.units.push(spec.unit);
        self.aggs.push(spec.agg);
        for v in [&mut self.current, &mut self.acc, &mut self.weights, &mut self.weight_now] {
            v.push(0.0);
        }
        self.set_in.push(u64::MAX);
        self.columns.len() - 1
    }

    /// Adds every registered column not yet present, in order.
    pub fn set_columns(&mut self, specs: &[MetricSpec]) {
        for s in specs {
            self.register_spec(*s);
        }
    }

    /// How column `name` summarises an interval.
    pub fn agg(&self, name: &str) -> Option<Agg> {
        self.index(name).map(|i| self.aggs[i])
    }

    /// Unit of column `name` as registered ("" when none was given).
    pub fn unit(&self, name: &str) -> Option<&'static str> {
        self.index(name).map(|i| self.units[i])
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
                self.set_in[i] = self.generation;
                self.next = i + 1;
            }
            None => debug_assert!(false, "metric column {name} was never registered"),
        }
    }

    /// Sets this tick's value of a per-event mean column and how many events it averages
    /// (the row is the mean over all the interval's events).
    pub fn set_weighted(&mut self, name: &str, value: f64, weight: f64) {
        self.set(name, value);
        if let Some(i) = self.index(name) {
            self.weight_now[i] = weight;
        }
    }

    /// Closes this tick: adds it to the interval and appends the row when one is due at
    /// `done` ticks; clears counts that nothing set this tick.
    fn close_tick(&mut self, done: u64) {
        for i in 0..self.columns.len() {
            let set = self.set_in[i] == self.generation;
            match self.aggs[i] {
                Agg::Last => {}
                Agg::Sum => {
                    if set {
                        self.acc[i] += self.current[i];
                    }
                }
                Agg::WeightedMean => {
                    if set {
                        self.acc[i] += self.current[i] * self.weight_now[i];
                        self.weights[i] += self.weight_now[i];
                    }
                }
            }
        }
        self.generation += 1;
        if !done.is_multiple_of(self.record_every) {
            return;
        }
        self.push_row();
    }

    /// Appends a row for the interval since the last one and starts the next interval.
    fn push_row(&mut self) {
        let row: Vec<f64> = (0..self.columns.len())
            .map(|i| match self.aggs[i] {
                Agg::Last => self.current[i],
                Agg::Sum => self.acc[i],
                Agg::WeightedMean => {
                    if self.weights[i] > 0.0 {
                        self.acc[i] / self.weights[i]
                    } else {
                        0.0
                    }
                }
            })
            .collect();
        self.acc.iter_mut().for_each(|v| *v = 0.0);
        self.weights.iter_mut().for_each(|v| *v = 0.0);
        self.rows.push(row);
        if let Some(k) = self.keep_last
            && self.rows.len() > k
        {
            let excess = self.rows.len() - k;
            self.rows.drain(0..excess);
        }
    }

    /// Records the interval still open at the end of a run (when the run's length is not
    /// a multiple of `record_every`), so the rows cover every tick. `done` is the number of
    /// ticks run; nothing happens when the last row is already at `done`.
    pub fn finish_run(&mut self, done: u64) {
        if done > 0 && !done.is_multiple_of(self.record_every) {
            self.push_row();
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
    let delivered = stats.delivered as f64;
    if let Some(i) = metrics.index("mean_latency_ticks") {
        metrics.weight_now[i] = delivered;
    }
    metrics.close_tick(done);
}
