//! What worlds and layers register with the core — metric columns (with their unit and
//! how a row summarises the ticks it covers), agent kinds and message kinds — through an
//! App extension, like Bevy's `register_type`. Registering never needs another plugin to
//! have run first: the registry is created on first use and read when the app is finished.

use bevy::prelude::*;

use super::AgentKind;

/// How a metric column summarises the ticks between two rows of metrics.csv.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agg {
    /// The value at the row's tick: a state (a speed, a queue length) or a running total.
    Last,
    /// The sum over the ticks the row covers (since the previous row): a per-tick count,
    /// so the rows of a run add up to its total.
    Sum,
    /// The mean over the ticks the row covers, each tick weighted by what it counted
    /// (the mean latency of the copies delivered in the interval).
    WeightedMean,
}

/// Where a column sits in metrics.csv: the core's columns first, then the world's, then
/// cross-cutting layers' (security), then the channel's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricGroup {
    Core,
    World,
    Layer,
    Channel,
}

/// One metric column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricSpec {
    /// Column name in metrics.csv.
    pub name: &'static str,
    /// Unit, as shown on axes and in docs ("m/s", "agents", "messages").
    pub unit: &'static str,
    /// How a row summarises its interval.
    pub agg: Agg,
}

impl MetricSpec {
    /// A state or running total, sampled at the row's tick.
    pub const fn gauge(name: &'static str, unit: &'static str) -> Self {
        MetricSpec { name, unit, agg: Agg::Last }
    }

    /// A per-tick count, summed over the row's interval.
    pub const fn count(name: &'static str, unit: &'static str) -> Self {
        MetricSpec { name, unit, agg: Agg::Sum }
    }

    /// A per-event mean over the row's interval (see [`super::Metrics::set_weighted`]).
    pub const fn mean(name: &'static str, unit: &'static str) -> Self {
        MetricSpec { name, unit, agg: Agg::WeightedMean }
    }
}

/// A kind of message agents exchange, for the legend, the overlay and the docs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MessageKind {
    /// The kind as messages carry it.
    pub name: &'static str,
    /// What it says, in a few words.
    pub about: &'static str,
}

/// A table a world writes beside agents.csv when a run is traced (`--trace`), e.g. one row
/// per link of its network: its file name, its header line, and a function that appends its
/// rows (each ending in a newline) for the traced tick `done` (ticks completed).
#[derive(Clone, Copy)]
pub struct TraceTable {
    pub file: &'static str,
    pub header: &'static str,
    pub rows: fn(&World, u64, &mut String),
}

impl std::fmt::Debug for TraceTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceTable").field("file", &self.file).field("header", &self.header).finish()
    }
}

/// A table a world writes at the end of every run (traced or not), e.g. one row per
/// finished trip: its file name, its header line, and a function that appends its rows
/// (each ending in a newline).
#[derive(Clone, Copy)]
pub struct RunTable {
    pub file: &'static str,
    pub header: &'static str,
    pub rows: fn(&World, &mut String),
}

impl std::fmt::Debug for RunTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTable").field("file", &self.file).field("header", &self.header).finish()
    }
}

/// Everything registered so far.
#[derive(Resource, Debug, Default, Clone)]
pub struct Registry {
    metrics: Vec<(MetricGroup, MetricSpec)>,
    kinds: Vec<AgentKind>,
    messages: Vec<MessageKind>,
    traces: Vec<TraceTable>,
    run_tables: Vec<RunTable>,
}

impl Registry {
    /// Metric columns in metrics.csv order (by group, then registration order).
    pub fn metrics(&self) -> Vec<MetricSpec> {
        let mut v = self.metrics.clone();
        v.sort_by_key(|(g, _)| *g);
        v.into_iter().map(|(_, m)| m).collect()
    }

    /// Metric columns with their group, in metrics.csv order.
    pub fn metrics_grouped(&self) -> Vec<(MetricGroup, MetricSpec)> {
        let mut v = self.metrics.clone();
        v.sort_by_key(|(g, _)| *g);
        v
    }

    /// The spec of a column.
    pub fn metric(&self, name: &str) -> Option<MetricSpec> {
        self.metrics.iter().map(|(_, m)| *m).find(|m| m.name == name)
    }

    /// Agent kinds, in registration order.
    pub fn kinds(&self) -> &[AgentKind] {
        &self.kinds
    }

    /// Message kinds, in registration order.
    pub fn messages(&self) -> &[MessageKind] {
        &self.messages
    }

    /// The tables written beside agents.csv when tracing, in registration order.
    pub fn trace_tables(&self) -> &[TraceTable] {
        &self.traces
    }

    /// The tables written at the end of every run, in registration order.
    pub fn run_tables(&self) -> &[RunTable] {
        &self.run_tables
    }

    fn add_metric(&mut self, group: MetricGroup, spec: MetricSpec) {
        if !self.metrics.iter().any(|(_, m)| m.name == spec.name) {
            self.metrics.push((group, spec));
        }
    }
}

/// Registration through the app, so plugin order cannot matter.
pub trait SimAppExt {
    /// Adds metric columns (idempotent by name).
    fn register_metrics(&mut self, group: MetricGroup, specs: &[MetricSpec]) -> &mut Self;
    /// Adds agent kinds (idempotent).
    fn register_agent_kinds(&mut self, kinds: &[AgentKind]) -> &mut Self;
    /// Adds message kinds (idempotent by name).
    fn register_message_kinds(&mut self, kinds: &[MessageKind]) -> &mut Self;
    /// Adds a table written when tracing (idempotent by file name).
    fn register_trace_table(&mut self, table: TraceTable) -> &mut Self;
    /// Adds a table written at the end of every run (idempotent by file name).
    fn register_run_table(&mut self, table: RunTable) -> &mut Self;
}

impl SimAppExt for App {
    fn register_metrics(&mut self, group: MetricGroup, specs: &[MetricSpec]) -> &mut Self {
        let mut r = self.world_mut().get_resource_or_init::<Registry>();
        for s in specs {
            r.add_metric(group, *s);
        }
        self
    }

    fn register_agent_kinds(&mut self, kinds: &[AgentKind]) -> &mut Self {
        let mut r = self.world_mut().get_resource_or_init::<Registry>();
        for k in kinds {
            if !r.kinds.contains(k) {
                r.kinds.push(*k);
            }
        }
        self
    }

    fn register_message_kinds(&mut self, kinds: &[MessageKind]) -> &mut Self {
        let mut r = self.world_mut().get_resource_or_init::<Registry>();
        for k in kinds {
            if !r.messages.iter().any(|m| m.name == k.name) {
                r.messages.push(*k);
            }
        }
        self
    }

    fn register_trace_table(&mut self, table: TraceTable) -> &mut Self {
        let mut r = self.world_mut().get_resource_or_init::<Registry>();
        if !r.traces.iter().any(|t| t.file == table.file) {
            r.traces.push(table);
        }
        self
    }

    fn register_run_table(&mut self, table: RunTable) -> &mut Self {
        let mut r = self.world_mut().get_resource_or_init::<Registry>();
        if !r.run_tables.iter().any(|t| t.file == table.file) {
            r.run_tables.push(table);
        }
        self
    }
}
