//! The communication channel every world shares. Messages between agents always pass
//! through it, so they are counted, delayed, lost, capped and blocked like real ones:
//! latency with jitter, loss, per-agent and total bandwidth caps, radio range, topology
//! (all-to-all, range-limited, hierarchical relaying through cluster heads, none),
//! partitions and blackouts from faults, and crashed recipients.

use std::collections::VecDeque;

use bevy::ecs::change_detection::Tick;
use bevy::prelude::*;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::faults::Rect;
use super::registry::MetricSpec;
use super::security::flags;
use super::spatial::GridIndex;
use super::{Agent, AgentId, AgentKind, Crashed, Pose, SimClock, rng};

/// Who can talk to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Topology {
    /// Every agent reaches every other directly (a cellular network).
    AllToAll,
    /// Only agents within the radio range reach each other.
    #[default]
    RangeLimited,
    /// Members talk through their cluster head, which relays (heads have a backhaul).
    Hierarchical,
    /// No communication at all.
    None,
}

/// Channel settings (from the scenario; all can change while running).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelConfig {
    /// Who can reach whom.
    pub topology: Topology,
    /// Ticks from send to delivery per hop; at least 1 (a message sent in a tick is read
    /// at the earliest in the next one).
    pub latency_ticks: u32,
    /// Extra uniform delay per hop, 0..=jitter_ticks.
    pub jitter_ticks: u32,
    /// Probability that one hop loses a message copy, 0..=1.
    pub loss: f64,
    /// Bytes one agent may transmit (or relay) per tick; `None` is unlimited.
    pub bandwidth_per_agent: Option<u64>,
    /// Bytes the whole channel carries per tick; `None` is unlimited.
    pub bandwidth_total: Option<u64>,
    /// Radio range in metres (range-limited topology).
    pub range_m: f64,
    /// Side of the square clusters of the hierarchical topology, metres.
    pub cluster_size_m: f64,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            topology: Topology::RangeLimited,
            latency_ticks: 1,
            jitter_ticks: 0,
            loss: 0.0,
            bandwidth_per_agent: None,
            bandwidth_total: None,
            range_m: 150.0,
            cluster_size_m: 200.0,
        }
    }
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dest {
    /// One agent.
    To(AgentId),
    /// Every agent within this many metres of the sender (a local radio broadcast).
    Near(f32),
    /// Every agent of a kind the topology lets the sender reach.
    Kind(AgentKind),
    /// Every agent the topology lets the sender reach.
    All,
}

/// One message.
#[derive(Clone, Copy, Debug)]
pub struct Message {
    /// Sender.
    pub from: AgentId,
    /// Recipient or broadcast scope.
    pub dest: Dest,
    /// Short machine-readable kind (`"v2v_state"`, `"report"`, `"advice"`, ...).
    pub kind: &'static str,
    /// Size on the wire, bytes.
    pub bytes: u32,
    /// Tick it was sent.
    pub sent: u64,
    /// Content: meaning depends on the kind.
    pub payload: [f32; 4],
    /// The sender's sequence number (from 1, per sender), which authentication protects;
    /// the channel numbers every genuine message.
    pub seq: u32,
    /// The agent whose radio transmitted it (the attack layer's ground truth: `from` is
    /// what the message claims).
    pub origin: AgentId,
    /// The attack layer's ground truth and instructions ([`super::security::flags`]);
    /// zero for every genuine message. Defences never read it.
    pub flags: u8,
}

/// Messages delivered to an agent this tick (cleared every tick).
#[derive(Component, Debug, Default, Clone)]
pub struct Inbox(pub Vec<Message>);

/// Messages an agent queued this tick; the channel takes them at the next tick's
/// Communicate phase.
#[derive(Component, Debug, Default, Clone)]
pub struct Outbox(pub Vec<Message>);

impl Outbox {
    /// Queues a message.
    pub fn send(&mut self, from: AgentId, dest: Dest, kind: &'static str, bytes: u32, sent: u64, payload: [f32; 4]) {
        self.0.push(Message { from, dest, kind, bytes, sent, payload, seq: 0, origin: from, flags: 0 });
    }
}

/// Channel counters of one tick. Outcome counters count recipient copies (a broadcast
/// has one per reachable recipient), except `dropped_bandwidth`, which counts messages
/// refused at a sender or copies refused at a relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CommStats {
    /// Messages handed to the channel.
    pub sent: u64,
    /// Copies placed in an inbox.
    pub delivered: u64,
    /// Copies lost on the air.
    pub dropped_loss: u64,
    /// Messages or relayed copies refused by a bandwidth cap.
    pub dropped_bandwidth: u64,
    /// Copies that could not reach their recipient: out of range, other partition,
    /// blacked out, crashed recipient or relay, or topology none.
    pub dropped_range: u64,
    /// Bytes transmitted (relays included).
    pub bytes: u64,
    /// Relay hops performed by cluster heads.
    pub relayed: u64,
    /// Sum of send-to-delivery ticks over delivered copies.
    pub latency_sum: u64,
    /// Copies still travelling after this tick.
    pub in_flight: u64,
}

impl CommStats {
    /// The metric columns the channel adds, in order.
    pub const COLUMNS: [&'static str; 9] = [
        "msgs_sent",
        "msgs_delivered",
        "msgs_dropped_loss",
        "msgs_dropped_bandwidth",
        "msgs_dropped_range",
        "bytes_sent",
        "mean_latency_ticks",
        "msgs_relayed",
        "msgs_in_flight",
    ];

    /// The metric columns with their units and how a row summarises them: the counts are
    /// summed over the ticks a row covers (so metrics.csv adds up to the run's totals),
    /// the latency is the mean over the copies delivered in those ticks, and the copies in
    /// flight are counted at the row's tick.
    pub const SPECS: [MetricSpec; 9] = [
        MetricSpec::count("msgs_sent", "messages"),
        MetricSpec::count("msgs_delivered", "messages"),
        MetricSpec::count("msgs_dropped_loss", "messages"),
        MetricSpec::count("msgs_dropped_bandwidth", "messages"),
        MetricSpec::count("msgs_dropped_range", "messages"),
        MetricSpec::count("bytes_sent", "bytes"),
        MetricSpec::mean("mean_latency_ticks", "ticks"),
        MetricSpec::count("msgs_relayed", "messages"),
        MetricSpec::gauge("msgs_in_flight", "messages"),
    ];

    /// Mean delivery latency of this tick's deliveries (0 with none).
    pub fn mean_latency(&self) -> f64 {
        if self.delivered == 0 { 0.0 } else { self.latency_sum as f64 / self.delivered as f64 }
    }

    /// (column, value) pairs in column order.
    pub fn values(&self) -> [(&'static str, f64); 9] {
        let c = Self::COLUMNS;
        [
            (c[0], self.sent as f64),
            (c[1], self.delivered as f64),
            (c[2], self.dropped_loss as f64),
            (c[3], self.dropped_bandwidth as f64),
            (c[4], self.dropped_range as f64),
            (c[5], self.bytes as f64),
            (c[6], self.mean_latency()),
            (c[7], self.relayed as f64),
            (c[8], self.in_flight as f64),
        ]
    }

    fn add(&mut self, o: &CommStats) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.dropped_loss += o.dropped_loss;
        self.dropped_bandwidth += o.dropped_bandwidth;
        self.dropped_range += o.dropped_range;
        self.bytes += o.bytes;
        self.relayed += o.relayed;
        self.latency_sum += o.latency_sum;
        self.in_flight = o.in_flight;
    }
}

/// What became of a message copy (for the desktop app's overlay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Scheduled for delivery.
    InFlight,
    /// Lost on the air.
    Lost,
    /// Unreachable (range, partition, blackout, crash, topology).
    Unreachable,
    /// Refused by a bandwidth cap.
    Bandwidth,
}

/// A copy as seen by the overlay: endpoints, kind and fate.
#[derive(Clone, Copy, Debug)]
pub struct Trace {
    pub from: AgentId,
    pub to: Option<AgentId>,
    pub kind: &'static str,
    pub sent: u64,
    pub due: u64,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug)]
struct Envelope {
    msg: Message,
    to: AgentId,
}

#[derive(Clone, Copy, Debug)]
struct DirEntry {
    x: f32,
    y: f32,
    kind: AgentKind,
    crashed: bool,
    dark: bool,
    partition: u16,
    head: u32,
}

/// The channel: settings, fault effects, messages in flight and counters.
#[derive(Resource)]
pub struct Channel {
    /// Settings in force (live-changeable).
    pub config: ChannelConfig,
    /// Added loss from active faults (combined as independent losses).
    pub fault_loss: f64,
    /// Added latency per hop from active faults.
    pub fault_latency: u32,
    /// Active partitions: each is a list of regions; agents in different regions (or
    /// inside vs outside all of them) cannot reach each other.
    pub partitions: Vec<Vec<Rect>>,
    /// Active blackout regions: agents inside neither send nor receive.
    pub blackouts: Vec<Rect>,
    /// This tick's counters.
    pub stats: CommStats,
    /// Counters summed over the run.
    pub totals: CommStats,
    /// Record per-copy traces for the overlay (off in headless runs).
    pub trace: bool,
    /// This tick's copies (when `trace` is on), at most `TRACE_CAP`.
    pub traces: Vec<Trace>,
    /// The agent kinds the world registered; a broadcast to another kind is refused
    /// (empty: no check, as in a bare app without a world).
    pub kinds: Vec<AgentKind>,
    /// Bytes authentication adds to each message (0 with authentication off); the
    /// security layer sets it.
    pub tag_bytes: u32,
    /// Kinds a broadcast named that the world does not have, each logged once.
    refused_kinds: Vec<AgentKind>,
    seqs: Vec<u32>,
    rng: ChaCha8Rng,
    in_flight: VecDeque<Vec<Envelope>>,
    base_tick: u64,
    dir: Vec<Option<DirEntry>>,
    index: GridIndex,
    used: Vec<u64>,
    touched: Vec<u32>,
    inbox_dirty: bool,
    due: Vec<Envelope>,
}

/// Most copies traced per tick for the overlay.
pub const TRACE_CAP: usize = 20_000;

impl Channel {
    /// A channel with the given settings; its random stream comes from the seed.
    pub fn new(config: ChannelConfig, seed: u64) -> Self {
        Channel {
            config,
            fault_loss: 0.0,
            fault_latency: 0,
            partitions: Vec::new(),
            blackouts: Vec::new(),
            stats: CommStats::default(),
            totals: CommStats::default(),
            trace: false,
            traces: Vec::new(),
            kinds: Vec::new(),
            tag_bytes: 0,
            refused_kinds: Vec::new(),
            seqs: Vec::new(),
            rng: rng::stream(seed, "channel", 0),
            in_flight: VecDeque::new(),
            base_tick: 0,
            dir: Vec::new(),
            index: GridIndex::default(),
            used: Vec::new(),
            touched: Vec::new(),
            inbox_dirty: false,
            due: Vec::new(),
        }
    }

    /// Loss per hop in force (settings combined with faults).
    pub fn effective_loss(&self) -> f64 {
        1.0 - (1.0 - self.config.loss) * (1.0 - self.fault_loss)
    }

    /// Latency per hop in force, ticks.
    pub fn effective_latency(&self) -> u32 {
        self.config.latency_ticks.max(1) + self.fault_latency
    }

    /// Nothing is in flight and every inbox is empty: no message can reach an agent
    /// this tick unless one is sent.
    pub fn quiet(&self) -> bool {
        !self.inbox_dirty && self.in_flight.iter().all(Vec::is_empty)
    }

    /// Messages in flight: (message, recipient, due tick).
    pub fn in_flight(&self) -> impl Iterator<Item = (&Message, AgentId, u64)> {
        self.in_flight
            .iter()
            .enumerate()
            .flat_map(move |(k, b)| b.iter().map(move |e| (&e.msg, e.to, self.base_tick + k as u64)))
    }

    fn partition_of(&self, x: f32, y: f32) -> u16 {
        // Combine all active partitions into one label: agents must share the region
        // of every active partition to talk.
        let mut label: u16 = 0;
        for regions in &self.partitions {
            let r = regions.iter().position(|r| r.contains(x, y)).unwrap_or(regions.len()) as u16;
            label = label.wrapping_mul(31).wrapping_add(r + 1);
        }
        label
    }

    fn dark(&self, x: f32, y: f32) -> bool {
        self.blackouts.iter().any(|r| r.contains(x, y))
    }

    fn entry(&self, id: AgentId) -> Option<&DirEntry> {
        self.dir.get(id.0 as usize).and_then(|e| e.as_ref())
    }

    fn charge(&mut self, id: u32, bytes: u64, total_used: &mut u64) -> bool {
        if let Some(cap) = self.config.bandwidth_total
            && *total_used + bytes > cap
        {
            return false;
        }
        let i = id as usize;
        if self.used.len() <= i {
            self.used.resize(i + 1, 0);
        }
        if let Some(cap) = self.config.bandwidth_per_agent
            && self.used[i] + bytes > cap
        {
            return false;
        }
        if self.used[i] == 0 {
            self.touched.push(id);
        }
        self.used[i] += bytes;
        *total_used += bytes;
        true
    }

    fn schedule(&mut self, env: Envelope, delay: u64, now: u64) {
        if self.in_flight.is_empty() {
            self.base_tick = now;
        }
        let k = (now + delay - self.base_tick) as usize;
        while self.in_flight.len() <= k {
            self.in_flight.push_back(Vec::new());
        }
        self.in_flight[k].push(env);
    }

    fn trace(&mut self, t: Trace) {
        if self.trace && self.traces.len() < TRACE_CAP {
            self.traces.push(t);
        }
    }

    /// Traces a message refused at its sender (no recipient copies were made).
    fn trace_refused(&mut self, msg: &Message, now: u64, outcome: Outcome) {
        self.trace(Trace { from: msg.from, to: None, kind: msg.kind, sent: msg.sent, due: now, outcome });
    }

    fn hop_delay(&mut self, hops: u32) -> u64 {
        let lat = u64::from(self.effective_latency());
        let j = self.config.jitter_ticks;
        let mut d = 0;
        for _ in 0..hops {
            d += lat;
            if j > 0 {
                d += u64::from(self.rng.random_range(0..=j));
            }
        }
        d
    }

    /// Recipients of a message, in a fixed order; excludes the sender.
    fn recipients(&self, from: &DirEntry, from_id: AgentId, dest: Dest, out: &mut Vec<u32>) {
        out.clear();
        let range = self.config.range_m as f32;
        match dest {
            Dest::To(id) => out.push(id.0),
            Dest::Near(r) => {
                let r = if self.config.topology == Topology::RangeLimited { r.min(range) } else { r };
                self.index.within(from.x, from.y, r, |i| out.push(i));
                out.sort_unstable();
            }
            Dest::Kind(_) | Dest::All => {
                let want = if let Dest::Kind(k) = dest { Some(k) } else { None };
                if self.config.topology == Topology::RangeLimited {
                    self.index.within(from.x, from.y, range, |i| out.push(i));
                    out.sort_unstable();
                } else {
                    out.extend((0..self.dir.len() as u32).filter(|&i| self.dir[i as usize].is_some()));
                }
                if let Some(k) = want {
                    out.retain(|&i| self.dir[i as usize].is_some_and(|e| e.kind == k));
                }
            }
        }
        out.retain(|&i| i != from_id.0);
    }
}

/// The Communicate phase: take every outbox, route each message, and deliver what is due.
#[allow(clippy::type_complexity)]
pub(crate) fn communicate(
    clock: Res<SimClock>,
    mut channel: ResMut<Channel>,
    mut outboxes: Query<(&Agent, Mut<Outbox>, Has<Crashed>)>,
    positions: Query<(&Agent, &Pose, Has<Crashed>)>,
    mut inboxes: Query<(&Agent, &mut Inbox)>,
    mut log: ResMut<super::EventLog>,
) {
    let now = clock.tick;
    let ch = &mut *channel;
    ch.stats = CommStats::default();
    ch.traces.clear();

    // 1. Collect what agents queued, in sender-id order. A crashed agent sends nothing.
    // Only outboxes written since the last tick can hold messages. Whether there are any
    // is one pass over the change ticks, table by table (a loop the compiler vectorizes),
    // so an idle population costs about an instruction per agent, not a visit to each.
    let written = match outboxes.contiguous_iter() {
        Ok(mut tables) => tables.any(|(_, out, _)| {
            // `Tick::is_newer_than` on plain integers, so that it vectorizes. Its clamp of
            // each age to `Tick::MAX` cannot change the comparison, since the age it is
            // compared with is clamped already.
            let (last, this) = (out.last_run_tick().get(), out.this_run_tick().get());
            let since_run = this.wrapping_sub(last).min(Tick::MAX.get());
            let newer = |t: &Tick| u32::from(this.wrapping_sub(t.get()) < since_run);
            out.changed_ticks_slice().iter().map(newer).fold(0, |a, b| a | b) > 0
        }),
        Err(_) => true,
    };
    let mut pending: Vec<Message> = Vec::new();
    if written {
        for (agent, mut out, crashed) in outboxes.iter_mut() {
            if !out.is_changed() || out.0.is_empty() {
                continue;
            }
            if !crashed {
                for &m0 in out.0.iter() {
                    let mut m = m0;
                    m.origin = agent.id;
                    if m.flags & flags::SPOOFED == 0 {
                        m.from = agent.id;
                    }
                    if m.flags & (flags::SPOOFED | flags::REPLAY) == 0 {
                        // Genuine messages are numbered per sender, in the order queued.
                        let i = agent.id.0 as usize;
                        if ch.seqs.len() <= i {
                            ch.seqs.resize(i + 1, 0);
                        }
                        ch.seqs[i] = ch.seqs[i].wrapping_add(1);
                        m.seq = ch.seqs[i];
                    }
                    if m.flags & flags::REPLAY == 0 {
                        m.bytes += ch.tag_bytes;
                    }
                    pending.push(m);
                }
            }
            out.0.clear();
        }
    }
    pending.sort_by_key(|m| m.from);

    let due_now = !ch.in_flight.is_empty() && ch.base_tick <= now;
    if !pending.is_empty() || due_now {
        build_directory(ch, &positions);
    }

    // 2. Route.
    if !pending.is_empty() {
        let before = ch.refused_kinds.len();
        route(ch, &pending, now);
        let known: Vec<&str> = ch.kinds.iter().map(|k| k.file_name()).collect();
        for k in &ch.refused_kinds[before..] {
            log.push(
                now,
                "broadcast_refused",
                None,
                [("kind", serde_json::json!(k.file_name())), ("world_kinds", serde_json::json!(known))],
            );
        }
    }

    // 3. Deliver what is due this tick.
    ch.due.clear();
    while !ch.in_flight.is_empty() && ch.base_tick <= now {
        let mut bucket = ch.in_flight.pop_front().unwrap_or_default();
        ch.base_tick += 1;
        ch.due.append(&mut bucket);
    }
    let mut due = std::mem::take(&mut ch.due);
    due.retain(|e| {
        let ok = ch.entry(e.to).is_some_and(|d| !d.crashed && !d.dark);
        if !ok {
            ch.stats.dropped_range += 1;
        }
        ok
    });
    due.sort_by_key(|e| e.to);
    ch.stats.delivered = due.len() as u64;
    ch.stats.latency_sum = due.iter().map(|e| now - e.msg.sent).sum();

    if ch.inbox_dirty || !due.is_empty() {
        // Offsets of each recipient's run of messages in `due`.
        let mut cursor = 0usize;
        let starts: Vec<(u32, usize, usize)> = {
            let mut v = Vec::new();
            while cursor < due.len() {
                let id = due[cursor].to.0;
                let s = cursor;
                while cursor < due.len() && due[cursor].to.0 == id {
                    cursor += 1;
                }
                v.push((id, s, cursor));
            }
            v
        };
        for (agent, mut inbox) in inboxes.iter_mut() {
            if !inbox.0.is_empty() {
                inbox.0.clear();
            }
            if let Ok(k) = starts.binary_search_by_key(&agent.id.0, |s| s.0) {
                let (_, s, e) = starts[k];
                inbox.0.extend(due[s..e].iter().map(|e| e.msg));
            }
        }
        ch.inbox_dirty = !due.is_empty();
    }
    ch.due = due;
    ch.stats.in_flight = ch.in_flight.iter().map(|b| b.len() as u64).sum();
    let s = ch.stats;
    ch.totals.add(&s);
}

fn build_directory(ch: &mut Channel, positions: &Query<(&Agent, &Pose, Has<Crashed>)>) {
    let bound = positions.iter().map(|(a, _, _)| a.id.0 as usize + 1).max().unwrap_or(0);
    ch.dir.clear();
    ch.dir.resize(bound, None);
    for (agent, pose, crashed) in positions.iter() {
        let partition = ch.partition_of(pose.x, pose.y);
        let dark = ch.dark(pose.x, pose.y);
        ch.dir[agent.id.0 as usize] =
            Some(DirEntry { x: pose.x, y: pose.y, kind: agent.kind, crashed, dark, partition, head: agent.id.0 });
    }
    let cell = match ch.config.topology {
        Topology::Hierarchical => ch.config.cluster_size_m as f32,
        _ => ch.config.range_m.max(1.0) as f32,
    };
    let dir = std::mem::take(&mut ch.dir);
    ch.index.rebuild(cell, dir.iter().enumerate().filter_map(|(i, e)| e.map(|e| (i as u32, e.x, e.y))));
    ch.dir = dir;
    if ch.config.topology == Topology::Hierarchical {
        // Cluster head: the lowest id in each cluster cell.
        let mut heads: Vec<(u64, u32)> =
            ch.dir.iter().enumerate().filter_map(|(i, e)| e.map(|e| (ch.index.cell_key(e.x, e.y), i as u32))).collect();
        heads.sort_unstable();
        let mut k = 0;
        while k < heads.len() {
            let (cell_key, head) = heads[k];
            while k < heads.len() && heads[k].0 == cell_key {
                if let Some(e) = ch.dir[heads[k].1 as usize].as_mut() {
                    e.head = head;
                }
                k += 1;
            }
        }
    }
}

fn route(ch: &mut Channel, pending: &[Message], now: u64) {
    let loss = ch.effective_loss();
    let mut total_used = 0u64;
    for &t in &ch.touched {
        ch.used[t as usize] = 0;
    }
    ch.touched.clear();
    let mut rec = Vec::new();
    let mut relays_charged: Vec<u32> = Vec::new();
    // Rotate the starting sender each tick so that a total cap does not always favour
    // low ids.
    let n = pending.len();
    let offset = (now as usize).wrapping_mul(7919) % n;
    for k in 0..n {
        let msg = pending[(k + offset) % n];
        ch.stats.sent += 1;
        // The transmitter is `origin` (a spoofed or ghost `from` is only a claim): its
        // place, its radio and its bandwidth are the ones that count.
        let Some(src) = ch.entry(msg.origin).copied() else {
            ch.stats.dropped_range += 1;
            continue;
        };
        if ch.config.topology == Topology::None || src.dark {
            ch.stats.dropped_range += 1;
            ch.trace_refused(&msg, now, Outcome::Unreachable);
            continue;
        }
        if !ch.charge(msg.origin.0, u64::from(msg.bytes), &mut total_used) {
            ch.stats.dropped_bandwidth += 1;
            ch.trace_refused(&msg, now, Outcome::Bandwidth);
            continue;
        }
        ch.stats.bytes += u64::from(msg.bytes);
        if let Dest::Kind(k) = msg.dest
            && !ch.kinds.is_empty()
            && !ch.kinds.contains(&k)
        {
            // A broadcast to a kind this world does not have: refused, and logged once.
            ch.stats.dropped_range += 1;
            ch.trace_refused(&msg, now, Outcome::Unreachable);
            if !ch.refused_kinds.contains(&k) {
                ch.refused_kinds.push(k);
            }
            continue;
        }
        ch.recipients(&src, msg.origin, msg.dest, &mut rec);
        relays_charged.clear();
        for &to in &rec {
            if to == msg.from.0 && msg.from != msg.origin {
                continue; // a forgery is not heard by the identity it claims
            }
            let to_id = AgentId(to);
            let mut outcome = Outcome::InFlight;
            let mut hops = 1u32;
            match ch.entry(to_id).copied() {
                None => outcome = Outcome::Unreachable,
                Some(dst) => {
                    if dst.dark || dst.partition != src.partition {
                        outcome = Outcome::Unreachable;
                    } else {
                        match ch.config.topology {
                            Topology::AllToAll | Topology::None => {}
                            Topology::RangeLimited => {
                                let (dx, dy) = (dst.x - src.x, dst.y - src.y);
                                let r = ch.config.range_m as f32;
                                if dx * dx + dy * dy > r * r {
                                    outcome = Outcome::Unreachable;
                                }
                            }
                            Topology::Hierarchical => {
                                // src -> head(src) -> head(dst) -> dst, skipping
                                // repeated nodes.
                                let mut path = [msg.origin.0, src.head, dst.head, to];
                                let mut len = 4;
                                let mut w = 1;
                                for r in 1..len {
                                    if path[r] != path[w - 1] {
                                        path[w] = path[r];
                                        w += 1;
                                    }
                                }
                                len = w;
                                hops = (len - 1) as u32;
                                for &relay in &path[1..len - 1] {
                                    // A relay across a partition line is as unreachable as
                                    // a crashed or blacked-out one.
                                    let ok = ch
                                        .dir
                                        .get(relay as usize)
                                        .and_then(|e| *e)
                                        .is_some_and(|e| !e.crashed && !e.dark && e.partition == src.partition);
                                    if !ok {
                                        outcome = Outcome::Unreachable;
                                        break;
                                    }
                                    if !relays_charged.contains(&relay) {
                                        if !ch.charge(relay, u64::from(msg.bytes), &mut total_used) {
                                            outcome = Outcome::Bandwidth;
                                            break;
                                        }
                                        relays_charged.push(relay);
                                        ch.stats.relayed += 1;
                                        ch.stats.bytes += u64::from(msg.bytes);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if outcome == Outcome::InFlight {
                let p_copy = 1.0 - (1.0 - loss).powi(hops as i32);
                if p_copy > 0.0 && ch.rng.random_bool(p_copy.min(1.0)) {
                    outcome = Outcome::Lost;
                }
            }
            let due = match outcome {
                Outcome::InFlight => {
                    // Latency counts from the tick the message was sent (its sender's
                    // Decide phase), not from this routing pass one tick later: a message
                    // with latency L sent in tick t is read in tick t + L.
                    let due = (msg.sent + ch.hop_delay(hops)).max(now);
                    ch.schedule(Envelope { msg, to: to_id }, due - now, now);
                    due
                }
                Outcome::Lost => {
                    ch.stats.dropped_loss += 1;
                    now
                }
                Outcome::Unreachable => {
                    ch.stats.dropped_range += 1;
                    now
                }
                Outcome::Bandwidth => {
                    ch.stats.dropped_bandwidth += 1;
                    now
                }
            };
            ch.trace(Trace { from: msg.from, to: Some(to_id), kind: msg.kind, sent: msg.sent, due, outcome });
        }
    }
}
