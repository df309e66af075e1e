//! The communication channel, driven through the real Communicate phase: a bare app with
//! the core plugin, a handful of hand-placed agents, and a scripted sender in the Decide
//! phase that also records what every agent finds in its inbox. Each test states a
//! property of the channel (loss rate, exact latency, bandwidth caps, range, topology,
//! partitions, blackouts, crashes, counters) and would fail if it were broken.

use bevy::app::{PluginsState, TaskPoolPlugin};
use bevy::prelude::*;
use masim::sim::{
    Agent, AgentId, AgentIds, AgentKind, Channel, ChannelConfig, CommStats, Coordination, Crashed, Dest, FaultKind,
    FaultSpec, Faults, Inbox, Message, Outbox, Phase, Pose, Rect, SimClock, SimPlugin, SimSettings, SimTick, Topology,
};

/// Agent kinds of these tests (the core names no world; tests name their own).
const VEHICLE: AgentKind = AgentKind::new("vehicle");
const CONTROLLER: AgentKind = AgentKind::new("controller");

/// Messages to send: `sends[tick]` lists (sender id, destination, bytes).
#[derive(Resource, Default)]
struct Script {
    sends: Vec<Vec<(u32, Dest, u32)>>,
}

impl Script {
    fn at(&mut self, tick: u64, from: u32, dest: Dest, bytes: u32) {
        let t = tick as usize;
        if self.sends.len() <= t {
            self.sends.resize(t + 1, Vec::new());
        }
        self.sends[t].push((from, dest, bytes));
    }
}

/// One message read from an inbox.
#[derive(Clone, Copy, Debug)]
struct Got {
    /// Tick at which the recipient read it (its Decide phase).
    tick: u64,
    to: u32,
    msg: Message,
}

#[derive(Resource, Default)]
struct Received(Vec<Got>);

/// Serial numbers identify each scripted message (payload[0]).
#[derive(Resource, Default)]
struct Serial(u32);

/// Decide phase, part 1: note everything delivered this tick.
fn record(clock: Res<SimClock>, q: Query<(&Agent, &Inbox)>, mut got: ResMut<Received>) {
    let tick = clock.tick;
    let mut now: Vec<Got> =
        q.iter().flat_map(|(a, inbox)| inbox.0.iter().map(move |m| Got { tick, to: a.id.0, msg: *m })).collect();
    now.sort_by_key(|g| (g.to, g.msg.payload[0] as u32));
    got.0.extend(now);
}

/// Decide phase, part 2: queue this tick's scripted messages, as an agent's decide
/// system would (sent = the current tick).
fn send(clock: Res<SimClock>, script: Res<Script>, mut serial: ResMut<Serial>, mut q: Query<(&Agent, &mut Outbox)>) {
    let Some(todo) = script.sends.get(clock.tick as usize) else { return };
    let mut agents: Vec<_> = q.iter_mut().collect();
    agents.sort_by_key(|(a, _)| a.id);
    for &(from, dest, bytes) in todo {
        if let Some((a, out)) = agents.iter_mut().find(|(a, _)| a.id.0 == from) {
            let id = a.id;
            out.send(id, dest, "test", bytes, clock.tick, [serial.0 as f32, 0.0, 0.0, 0.0]);
            serial.0 += 1;
        }
    }
}

/// A bare simulation with the given channel, fault timeline and agents at (x, y).
fn world(cfg: ChannelConfig, faults: Vec<FaultSpec>, agents: &[(f32, f32, AgentKind)]) -> App {
    let mut app = App::new();
    app.add_plugins(TaskPoolPlugin::default());
    app.add_plugins(SimPlugin(SimSettings {
        seed: 11,
        dt: 1.0,
        ticks: 1_000_000,
        record_every: 1,
        max_events: 1000,
        channel: cfg,
        coordination: Coordination::None,
        faults,
        attacks: Vec::new(),
        security: Default::default(),
    }));
    app.init_resource::<Script>().init_resource::<Received>().init_resource::<Serial>();
    app.add_systems(SimTick, (record, send).chain().in_set(Phase::Decide));
    while app.plugins_state() == PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
    }
    app.finish();
    app.cleanup();
    for &(x, y, kind) in agents {
        let id = app.world_mut().resource_mut::<AgentIds>().alloc();
        app.world_mut().spawn((
            Agent { id, kind },
            Pose { x, y, heading: 0.0, speed: 0.0 },
            Inbox::default(),
            Outbox::default(),
        ));
    }
    app
}

fn cfg(topology: Topology) -> ChannelConfig {
    ChannelConfig { topology, ..ChannelConfig::default() }
}

fn vehicles(xy: &[(f32, f32)]) -> Vec<(f32, f32, AgentKind)> {
    xy.iter().map(|&(x, y)| (x, y, VEHICLE)).collect()
}

fn script(app: &mut App) -> Mut<'_, Script> {
    app.world_mut().resource_mut::<Script>()
}

/// Runs `ticks` ticks and returns each tick's channel counters.
fn run(app: &mut App, ticks: u64) -> Vec<CommStats> {
    (0..ticks)
        .map(|_| {
            masim::sim::step(app.world_mut());
            app.world().resource::<Channel>().stats
        })
        .collect()
}

fn received(app: &App) -> Vec<Got> {
    app.world().resource::<Received>().0.clone()
}

fn totals(app: &App) -> CommStats {
    app.world().resource::<Channel>().totals
}

fn crash(app: &mut App, id: u32) {
    let mut q = app.world_mut().query::<(Entity, &Agent)>();
    let e = q.iter(app.world()).find(|(_, a)| a.id.0 == id).map(|(e, _)| e).expect("agent exists");
    app.world_mut().entity_mut(e).insert(Crashed { since: 0 });
}

fn to(id: u32) -> Dest {
    Dest::To(AgentId(id))
}

/// Who received messages from whom: sorted (from, to) pairs.
fn pairs(got: &[Got]) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = got.iter().map(|g| (g.msg.from.0, g.to)).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn loss_rate_matches_the_setting_over_many_messages() {
    for loss in [0.0, 0.3, 0.75] {
        let mut app =
            world(ChannelConfig { loss, ..cfg(Topology::AllToAll) }, vec![], &vehicles(&[(0.0, 0.0), (10.0, 0.0)]));
        let n = 12_000u64;
        for t in 0..120 {
            for _ in 0..100 {
                script(&mut app).at(t, 0, to(1), 50);
            }
        }
        run(&mut app, 125);
        let got = received(&app).len() as f64;
        let t = totals(&app);
        assert_eq!(t.sent, n);
        let observed_loss = 1.0 - got / n as f64;
        assert!((observed_loss - loss).abs() <= 0.02, "loss {loss}: observed {observed_loss}");
        assert_eq!(t.dropped_loss + t.delivered, n, "every message is either lost or delivered: {t:?}");
        assert_eq!(t.delivered as f64, got);
    }
}

#[test]
fn loss_applies_per_hop_on_relayed_paths() {
    // Hierarchical, three hops (member -> head -> head -> member): a copy survives with
    // probability (1 - loss)^3.
    let agents = vehicles(&[(10.0, 10.0), (20.0, 20.0), (210.0, 10.0), (220.0, 20.0)]);
    let c = ChannelConfig { loss: 0.2, cluster_size_m: 100.0, ..cfg(Topology::Hierarchical) };
    let mut app = world(c, vec![], &agents);
    for t in 0..100 {
        for _ in 0..100 {
            script(&mut app).at(t, 1, to(3), 10);
        }
    }
    run(&mut app, 110);
    let rate = received(&app).len() as f64 / 10_000.0;
    let want = 0.8f64.powi(3);
    assert!((rate - want).abs() <= 0.02, "delivered {rate}, want {want}");
}

#[test]
fn latency_is_exact_without_jitter() {
    for lat in [1u32, 2, 5] {
        let c = ChannelConfig { latency_ticks: lat, ..cfg(Topology::AllToAll) };
        let mut app = world(c, vec![], &vehicles(&[(0.0, 0.0), (10.0, 0.0)]));
        for t in [0, 3, 4, 10] {
            script(&mut app).at(t, 0, to(1), 10);
            script(&mut app).at(t, 1, to(0), 10);
        }
        let stats = run(&mut app, 20);
        let got = received(&app);
        assert_eq!(got.len(), 8, "latency {lat}: {got:?}");
        for g in &got {
            assert_eq!(g.tick - g.msg.sent, u64::from(lat), "latency {lat}: sent at {} read at {}", g.msg.sent, g.tick);
        }
        for s in stats.iter().filter(|s| s.delivered > 0) {
            assert_eq!(s.mean_latency(), f64::from(lat), "reported latency");
        }
    }
}

#[test]
fn jitter_stays_within_latency_plus_jitter() {
    let (lat, jit) = (2u32, 3u32);
    let c = ChannelConfig { latency_ticks: lat, jitter_ticks: jit, ..cfg(Topology::AllToAll) };
    let mut app = world(c, vec![], &vehicles(&[(0.0, 0.0), (10.0, 0.0)]));
    for t in 0..50 {
        for _ in 0..20 {
            script(&mut app).at(t, 0, to(1), 10);
        }
    }
    run(&mut app, 60);
    let got = received(&app);
    assert_eq!(got.len(), 1000);
    let mut seen = [0u32; 16];
    for g in &got {
        let d = g.tick - g.msg.sent;
        assert!((u64::from(lat)..=u64::from(lat + jit)).contains(&d), "delay {d}");
        seen[d as usize] += 1;
    }
    // Jitter is actually drawn: every delay in the window occurs.
    for d in lat..=lat + jit {
        assert!(seen[d as usize] > 100, "delay {d} seen {} times", seen[d as usize]);
    }
}

#[test]
fn per_agent_bandwidth_cap_is_respected_and_excess_counted() {
    let c = ChannelConfig { bandwidth_per_agent: Some(350), ..cfg(Topology::AllToAll) };
    let mut app = world(c, vec![], &vehicles(&[(0.0, 0.0), (10.0, 0.0), (20.0, 0.0)]));
    for t in 0..20 {
        for _ in 0..10 {
            script(&mut app).at(t, 0, to(1), 100);
        }
        // A second sender is not limited by the first one's use.
        script(&mut app).at(t, 2, to(1), 300);
    }
    // Messages queued in tick t are routed in tick t + 1.
    let stats = run(&mut app, 22);
    for (t, s) in stats.iter().enumerate().skip(1).take(20) {
        assert_eq!(s.sent, 11, "tick {t}");
        assert_eq!(s.bytes, 300 + 300, "tick {t}: bytes {}", s.bytes);
        assert_eq!(s.dropped_bandwidth, 7, "tick {t}");
    }
    let got = received(&app);
    for t in 0..20u64 {
        let from0 = got.iter().filter(|g| g.msg.sent == t && g.msg.from.0 == 0).count();
        let from2 = got.iter().filter(|g| g.msg.sent == t && g.msg.from.0 == 2).count();
        assert_eq!((from0, from2), (3, 1), "tick {t}");
    }
}

#[test]
fn total_bandwidth_cap_is_respected_and_shared() {
    let c = ChannelConfig { bandwidth_total: Some(1000), ..cfg(Topology::AllToAll) };
    let pts: Vec<(f32, f32)> = (0..6).map(|i| (i as f32 * 5.0, 0.0)).collect();
    let mut app = world(c, vec![], &vehicles(&pts));
    for t in 0..200 {
        for from in 0..5 {
            for _ in 0..4 {
                script(&mut app).at(t, from, to(5), 100);
            }
        }
    }
    let stats = run(&mut app, 201);
    for (t, s) in stats.iter().enumerate().skip(1).take(200) {
        assert!(s.bytes <= 1000, "tick {t}: {} bytes over a 1000-byte cap", s.bytes);
        assert_eq!(s.bytes, 1000, "tick {t}: the cap is used in full");
        assert_eq!(s.sent, 20);
        assert_eq!(s.dropped_bandwidth, 10, "tick {t}");
    }
    // No sender is starved by the total cap over the run.
    let got = received(&app);
    for from in 0..5 {
        let n = got.iter().filter(|g| g.msg.from.0 == from).count();
        assert!(n > 200, "sender {from} got only {n} messages through");
    }
}

#[test]
fn broadcast_is_charged_once_per_sender() {
    let c = ChannelConfig { bandwidth_per_agent: Some(250), ..cfg(Topology::AllToAll) };
    let mut app = world(c, vec![], &vehicles(&[(0.0, 0.0), (10.0, 0.0), (20.0, 0.0), (30.0, 0.0)]));
    script(&mut app).at(0, 0, Dest::All, 200);
    script(&mut app).at(0, 0, Dest::All, 200);
    let stats = run(&mut app, 3);
    assert_eq!(stats[1].bytes, 200);
    assert_eq!(stats[1].dropped_bandwidth, 1);
    assert_eq!(pairs(&received(&app)), vec![(0, 1), (0, 2), (0, 3)]);
}

#[test]
fn range_limited_unicast_reaches_only_within_range() {
    let c = ChannelConfig { range_m: 100.0, ..cfg(Topology::RangeLimited) };
    // 1 is 99 m away, 2 is 101 m away, 3 is 150 m away diagonally.
    let mut app = world(c, vec![], &vehicles(&[(0.0, 0.0), (99.0, 0.0), (0.0, 101.0), (106.0, 106.0)]));
    for d in 1..4 {
        script(&mut app).at(0, 0, to(d), 10);
        script(&mut app).at(0, d, to(0), 10);
    }
    let stats = run(&mut app, 3);
    assert_eq!(pairs(&received(&app)), vec![(0, 1), (1, 0)]);
    assert_eq!(stats[1].sent, 6);
    assert_eq!(stats[1].dropped_range, 4);
}

#[test]
fn near_broadcast_reaches_exactly_the_agents_within_its_radius() {
    let xs = [0.0f32, 10.0, 29.0, 31.0, 60.0, -25.0, -40.0];
    for topology in [Topology::AllToAll, Topology::RangeLimited] {
        let c = ChannelConfig { range_m: 150.0, ..cfg(topology) };
        let pts: Vec<(f32, f32)> = xs.iter().map(|&x| (x, 0.0)).collect();
        let mut app = world(c, vec![], &vehicles(&pts));
        script(&mut app).at(0, 0, Dest::Near(30.0), 10);
        let stats = run(&mut app, 3);
        assert_eq!(pairs(&received(&app)), vec![(0, 1), (0, 2), (0, 5)], "{topology:?}");
        assert_eq!(stats[1].sent, 1);
        assert_eq!(stats[1].bytes, 10);
    }
    // Range-limited: a Near radius beyond the radio range is cut to the range.
    let c = ChannelConfig { range_m: 20.0, ..cfg(Topology::RangeLimited) };
    let pts: Vec<(f32, f32)> = xs.iter().map(|&x| (x, 0.0)).collect();
    let mut app = world(c, vec![], &vehicles(&pts));
    script(&mut app).at(0, 0, Dest::Near(100.0), 10);
    run(&mut app, 3);
    assert_eq!(pairs(&received(&app)), vec![(0, 1)]);
}

#[test]
fn kind_broadcast_reaches_only_that_kind_within_range() {
    let agents = [
        (0.0, 0.0, VEHICLE),
        (10.0, 0.0, CONTROLLER),
        (20.0, 0.0, VEHICLE),
        (500.0, 0.0, VEHICLE),
        (510.0, 0.0, CONTROLLER),
    ];
    let mut app = world(ChannelConfig { range_m: 100.0, ..cfg(Topology::RangeLimited) }, vec![], &agents);
    script(&mut app).at(0, 1, Dest::Kind(VEHICLE), 10);
    script(&mut app).at(0, 0, Dest::All, 10);
    run(&mut app, 3);
    assert_eq!(pairs(&received(&app)), vec![(0, 1), (0, 2), (1, 0), (1, 2)]);

    let mut app = world(cfg(Topology::AllToAll), vec![], &agents);
    script(&mut app).at(0, 1, Dest::Kind(VEHICLE), 10);
    run(&mut app, 3);
    assert_eq!(pairs(&received(&app)), vec![(1, 0), (1, 2), (1, 3)]);
}

/// A broadcast to a kind the world did not register is refused (counted as unreachable)
/// and logged once with the kinds the world has.
#[test]
fn broadcast_to_a_kind_the_world_lacks_is_refused_with_its_kinds() {
    let agents = [(0.0, 0.0, VEHICLE), (10.0, 0.0, CONTROLLER), (20.0, 0.0, VEHICLE)];
    let mut app = world(cfg(Topology::AllToAll), vec![], &agents);
    app.world_mut().resource_mut::<Channel>().kinds = vec![VEHICLE, CONTROLLER];
    let robot = AgentKind::new("robot");
    script(&mut app).at(0, 1, Dest::Kind(robot), 10);
    script(&mut app).at(1, 1, Dest::Kind(robot), 10);
    script(&mut app).at(1, 1, Dest::Kind(VEHICLE), 10);
    run(&mut app, 4);
    assert_eq!(pairs(&received(&app)), vec![(1, 0), (1, 2)], "only the broadcast to vehicles arrives");
    let t = totals(&app);
    assert_eq!((t.sent, t.dropped_range), (3, 2));
    let log = app.world().resource::<masim::sim::EventLog>();
    let refused: Vec<String> =
        log.events().iter().filter(|e| e.kind == "broadcast_refused").map(|e| format!("{:?}", e.detail)).collect();
    assert_eq!(refused.len(), 1, "logged once: {refused:?}");
    assert!(refused[0].contains("Robot") && refused[0].contains("Vehicle") && refused[0].contains("Controller"));
}

#[test]
fn topology_none_delivers_nothing() {
    let mut app = world(cfg(Topology::None), vec![], &vehicles(&[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]));
    for t in 0..10 {
        script(&mut app).at(t, 0, to(1), 10);
        script(&mut app).at(t, 1, Dest::All, 10);
        script(&mut app).at(t, 2, Dest::Near(50.0), 10);
    }
    let stats = run(&mut app, 12);
    assert!(received(&app).is_empty());
    let t = totals(&app);
    assert_eq!(t.sent, 30);
    assert_eq!(t.delivered, 0);
    assert_eq!(t.dropped_range, 30);
    assert_eq!(t.bytes, 0, "nothing is transmitted");
    assert!(stats.iter().all(|s| s.in_flight == 0));
}

/// Two clusters of 100 m: agents 0 (head) and 1 in one, 2 (head) and 3 in the other.
fn clusters() -> Vec<(f32, f32, AgentKind)> {
    vehicles(&[(10.0, 10.0), (20.0, 20.0), (210.0, 10.0), (220.0, 20.0)])
}

#[test]
fn hierarchical_relays_through_cluster_heads() {
    let lat = 2u32;
    let c = ChannelConfig { latency_ticks: lat, cluster_size_m: 100.0, ..cfg(Topology::Hierarchical) };
    let mut app = world(c, vec![], &clusters());
    script(&mut app).at(0, 1, to(3), 100); // member -> head 0 -> head 2 -> member: 3 hops
    script(&mut app).at(0, 1, to(2), 100); // member -> head 0 -> head 2: 2 hops
    script(&mut app).at(0, 1, to(0), 100); // member -> own head: 1 hop
    script(&mut app).at(0, 2, to(3), 100); // head -> own member: 1 hop
    let stats = run(&mut app, 10);
    let got = received(&app);
    let delay = |from: u32, to: u32| {
        let g: Vec<&Got> = got.iter().filter(|g| g.msg.from.0 == from && g.to == to).collect();
        assert_eq!(g.len(), 1, "{from}->{to}: {got:?}");
        g[0].tick - g[0].msg.sent
    };
    let l = u64::from(lat);
    assert_eq!(delay(1, 3), 3 * l);
    assert_eq!(delay(1, 2), 2 * l);
    assert_eq!(delay(1, 0), l);
    assert_eq!(delay(2, 3), l);
    // Relays: 1->3 by heads 0 and 2, 1->2 by head 0; 1->0 and 2->3 are direct.
    assert_eq!(stats[1].relayed, 3);
    assert_eq!(stats[1].bytes, 4 * 100 + 3 * 100, "relayed bytes are transmitted again");
}

#[test]
fn hierarchical_crashed_head_cuts_its_cluster_off() {
    let c = ChannelConfig { cluster_size_m: 100.0, ..cfg(Topology::Hierarchical) };
    let mut app = world(c, vec![], &clusters());
    crash(&mut app, 0);
    script(&mut app).at(0, 1, to(3), 10); // needs head 0: cut
    script(&mut app).at(0, 3, to(1), 10); // needs head 0: cut
    script(&mut app).at(0, 2, to(3), 10); // the other cluster still works
    script(&mut app).at(0, 3, to(2), 10);
    let stats = run(&mut app, 4);
    assert_eq!(pairs(&received(&app)), vec![(2, 3), (3, 2)]);
    assert_eq!(stats[1].dropped_range, 2);
}

#[test]
fn relay_bandwidth_is_charged_to_the_head() {
    // The head may carry 150 bytes a tick: one 100-byte relay fits, the second does not.
    let c = ChannelConfig { cluster_size_m: 100.0, bandwidth_per_agent: Some(150), ..cfg(Topology::Hierarchical) };
    let mut agents = clusters();
    agents.push((30.0, 30.0, VEHICLE)); // agent 4, a second member of cluster 0
    let mut app = world(c, vec![], &agents);
    script(&mut app).at(0, 1, to(3), 100);
    script(&mut app).at(0, 4, to(3), 100);
    let stats = run(&mut app, 6);
    assert_eq!(received(&app).len(), 1);
    assert_eq!(stats[1].dropped_bandwidth, 1);
}

fn west_east_partition(at: u64, duration: Option<u64>) -> FaultSpec {
    FaultSpec {
        at,
        duration,
        fault: FaultKind::Partition {
            regions: vec![
                Rect { x0: -1000.0, y0: -1000.0, x1: -1.0, y1: 1000.0 },
                Rect { x0: 1.0, y0: -1000.0, x1: 1000.0, y1: 1000.0 },
            ],
        },
        ended_at: None,
    }
}

#[test]
fn partitions_block_cross_partition_messages_only() {
    // 0, 1 west; 2, 3 east; 4 outside both regions.
    let agents = vehicles(&[(-50.0, 0.0), (-20.0, 0.0), (30.0, 0.0), (60.0, 0.0), (5000.0, 0.0)]);
    let mut app = world(cfg(Topology::AllToAll), vec![west_east_partition(0, Some(10))], &agents);
    for t in [2, 20] {
        for from in 0..5 {
            script(&mut app).at(t, from, Dest::All, 10);
        }
    }
    let stats = run(&mut app, 25);
    let got = received(&app);
    let during: Vec<Got> = got.iter().copied().filter(|g| g.msg.sent == 2).collect();
    assert_eq!(pairs(&during), vec![(0, 1), (1, 0), (2, 3), (3, 2)]);
    assert_eq!(stats[3].delivered, 4);
    assert_eq!(stats[3].dropped_range, 20 - 4, "every cross-partition copy is counted");
    // After the partition ends everybody reaches everybody again.
    let after: Vec<Got> = got.iter().copied().filter(|g| g.msg.sent == 20).collect();
    assert_eq!(after.len(), 20);
}

#[test]
fn runtime_partition_via_fault_api() {
    let agents = vehicles(&[(-50.0, 0.0), (50.0, 0.0)]);
    let mut app = world(cfg(Topology::AllToAll), vec![], &agents);
    for t in 0..30 {
        script(&mut app).at(t, 0, to(1), 10);
    }
    run(&mut app, 5);
    let id = app.world_mut().resource_mut::<Faults>().inject(west_east_partition(0, None));
    run(&mut app, 10);
    app.world_mut().resource_mut::<Faults>().end(id);
    run(&mut app, 20);
    let got = received(&app);
    let sent: Vec<u64> = got.iter().map(|g| g.msg.sent).collect();
    // Injected before tick 5, ended before tick 15: messages routed in ticks 5..15
    // (sent in 4..14) are blocked.
    assert!(sent.contains(&3) && sent.contains(&14) && sent.contains(&20), "{sent:?}");
    for s in 4..14 {
        assert!(!sent.contains(&s), "message sent at {s} crossed the partition");
    }
}

#[test]
fn blackout_region_stops_sending_and_receiving() {
    let dark = Rect { x0: 90.0, y0: -10.0, x1: 110.0, y1: 10.0 };
    let agents = vehicles(&[(0.0, 0.0), (100.0, 0.0), (50.0, 0.0)]);
    let spec = FaultSpec { at: 0, duration: Some(10), fault: FaultKind::Blackout { region: dark }, ended_at: None };
    let mut app = world(cfg(Topology::AllToAll), vec![spec], &agents);
    for t in [1, 15] {
        script(&mut app).at(t, 0, to(1), 10);
        script(&mut app).at(t, 1, to(0), 10);
        script(&mut app).at(t, 1, Dest::All, 10);
        script(&mut app).at(t, 0, to(2), 10);
    }
    let stats = run(&mut app, 20);
    let got = received(&app);
    let during: Vec<Got> = got.iter().copied().filter(|g| g.msg.sent == 1).collect();
    assert_eq!(pairs(&during), vec![(0, 2)]);
    assert_eq!(stats[2].sent, 4);
    assert_eq!(stats[2].bytes, 20, "the blacked-out agent transmits nothing");
    let after: Vec<Got> = got.iter().copied().filter(|g| g.msg.sent == 15).collect();
    assert_eq!(pairs(&after), vec![(0, 1), (0, 2), (1, 0), (1, 2)]);
}

#[test]
fn crashed_agent_sends_and_receives_nothing() {
    let agents = vehicles(&[(0.0, 0.0), (10.0, 0.0), (20.0, 0.0)]);
    let mut app = world(cfg(Topology::AllToAll), vec![], &agents);
    crash(&mut app, 1);
    for t in 0..10 {
        script(&mut app).at(t, 0, to(1), 10);
        script(&mut app).at(t, 0, Dest::All, 10);
        script(&mut app).at(t, 1, to(0), 10);
        script(&mut app).at(t, 1, Dest::All, 10);
    }
    run(&mut app, 12);
    let got = received(&app);
    assert!(got.iter().all(|g| g.to != 1), "crashed agent received: {got:?}");
    assert!(got.iter().all(|g| g.msg.from.0 != 1), "crashed agent sent: {got:?}");
    assert_eq!(pairs(&got), vec![(0, 2)]);
    let t = totals(&app);
    assert_eq!(t.sent, 20, "a crashed agent's outbox never reaches the channel");
    assert_eq!(t.delivered, 10);
    assert_eq!(t.dropped_range, 20, "copies for the crashed agent are dropped");
    // Its outbox is emptied, not kept for later.
    let mut q = app.world_mut().query::<(&Agent, &Outbox)>();
    assert!(q.iter(app.world()).all(|(_, o)| o.0.is_empty()));
}

#[test]
fn message_in_flight_to_an_agent_that_crashes_is_dropped() {
    let c = ChannelConfig { latency_ticks: 5, ..cfg(Topology::AllToAll) };
    let mut app = world(c, vec![], &vehicles(&[(0.0, 0.0), (10.0, 0.0)]));
    script(&mut app).at(0, 0, to(1), 10);
    run(&mut app, 3);
    crash(&mut app, 1);
    run(&mut app, 6);
    assert!(received(&app).is_empty());
    assert_eq!(totals(&app).dropped_range, 1);
}

#[test]
fn counters_add_up_for_unicast() {
    // Loss, range, a bandwidth cap, jitter and a crash at once; every unicast message is
    // accounted for exactly once.
    let c = ChannelConfig {
        loss: 0.2,
        range_m: 100.0,
        bandwidth_per_agent: Some(500),
        latency_ticks: 2,
        jitter_ticks: 2,
        ..cfg(Topology::RangeLimited)
    };
    let pts: Vec<(f32, f32)> = (0..8).map(|i| (i as f32 * 40.0, 0.0)).collect();
    let mut app = world(c, vec![], &vehicles(&pts));
    crash(&mut app, 5);
    for t in 0..300u64 {
        for from in 0..8u32 {
            for k in 0..3 {
                let dest = (from + 1 + (t as u32 + k) % 7) % 8;
                script(&mut app).at(t, from, to(dest), 150 + 30 * k);
            }
        }
    }
    let mut sum = CommStats::default();
    let stats = run(&mut app, 310);
    for s in &stats {
        sum.sent += s.sent;
        sum.delivered += s.delivered;
        sum.dropped_loss += s.dropped_loss;
        sum.dropped_bandwidth += s.dropped_bandwidth;
        sum.dropped_range += s.dropped_range;
    }
    let t = totals(&app);
    assert_eq!((sum.sent, sum.delivered, sum.dropped_loss), (t.sent, t.delivered, t.dropped_loss));
    assert_eq!(t.sent, 300 * 7 * 3, "crashed sender 5 sends nothing");
    assert_eq!(stats.last().map(|s| s.in_flight), Some(0));
    assert_eq!(t.sent, t.delivered + t.dropped_loss + t.dropped_bandwidth + t.dropped_range, "{t:?}");
    assert!(t.dropped_loss > 0 && t.dropped_bandwidth > 0 && t.dropped_range > 0, "{t:?}");
    assert_eq!(received(&app).len() as u64, t.delivered);
    // Each message arrives at most once.
    let mut serials: Vec<u32> = received(&app).iter().map(|g| g.msg.payload[0] as u32).collect();
    serials.sort();
    let n = serials.len();
    serials.dedup();
    assert_eq!(serials.len(), n, "a message was delivered twice");
}

#[test]
fn metrics_rows_carry_the_channel_counters() {
    let mut app = world(cfg(Topology::AllToAll), vec![], &vehicles(&[(0.0, 0.0), (10.0, 0.0)]));
    for t in 0..5 {
        script(&mut app).at(t, 0, to(1), 64);
    }
    let stats = run(&mut app, 6);
    let m = app.world().resource::<masim::sim::Metrics>();
    for c in CommStats::COLUMNS {
        assert!(m.index(c).is_some(), "missing column {c}");
    }
    let sent = m.series("msgs_sent").unwrap();
    let bytes = m.series("bytes_sent").unwrap();
    let delivered = m.series("msgs_delivered").unwrap();
    for (k, s) in stats.iter().enumerate() {
        assert_eq!(sent[k], s.sent as f64);
        assert_eq!(bytes[k], s.bytes as f64);
        assert_eq!(delivered[k], s.delivered as f64);
    }
    assert_eq!(bytes.iter().sum::<f64>(), 5.0 * 64.0);
}

#[test]
fn hierarchical_broadcast_charges_each_relay_once() {
    let c = ChannelConfig { cluster_size_m: 100.0, ..cfg(Topology::Hierarchical) };
    let mut app = world(c, vec![], &clusters());
    script(&mut app).at(0, 1, Dest::All, 100);
    let stats = run(&mut app, 6);
    let got = received(&app);
    assert_eq!(pairs(&got), vec![(1, 0), (1, 2), (1, 3)]);
    // 0 is one hop, 2 two hops (via head 0), 3 three hops (via heads 0 and 2).
    let delay = |to: u32| got.iter().find(|g| g.to == to).map(|g| g.tick - g.msg.sent);
    assert_eq!((delay(0), delay(2), delay(3)), (Some(1), Some(2), Some(3)));
    assert_eq!(stats[1].relayed, 2, "heads 0 and 2 relay the message once each");
    assert_eq!(stats[1].bytes, 300);
}

#[test]
fn unicast_to_an_unknown_agent_is_dropped_and_counted() {
    let mut app = world(cfg(Topology::AllToAll), vec![], &vehicles(&[(0.0, 0.0), (1.0, 0.0)]));
    script(&mut app).at(0, 0, to(57), 10);
    let stats = run(&mut app, 3);
    assert!(received(&app).is_empty());
    assert_eq!((stats[1].sent, stats[1].dropped_range), (1, 1));
}

#[test]
fn traffic_v2v_latency_matches_the_setting_end_to_end() {
    // The same property through the traffic world's own beacons and the metrics table.
    let mut s = masim::scenario::load_file(std::path::Path::new("scenarios/traffic_ring.ron")).expect("loads");
    s.coordination = Coordination::Decentralized;
    s.output.record_every = 1;
    for lat in [1u32, 3] {
        s.channel.latency_ticks = lat;
        let mut app = masim::runner::headless_app(&s, None);
        for _ in 0..100 {
            masim::runner::step(&mut app);
        }
        let m = app.world().resource::<masim::sim::Metrics>();
        let delivered = m.series("msgs_delivered").expect("column");
        let latency = m.series("mean_latency_ticks").expect("column");
        let rows: Vec<f64> =
            latency.iter().zip(&delivered).skip(10).filter(|(_, d)| **d > 0.0).map(|(l, _)| *l).collect();
        assert!(rows.len() > 80, "too few ticks with deliveries");
        assert!(rows.iter().all(|l| *l == f64::from(lat)), "latency {lat}: {rows:?}");
    }
}

#[test]
fn partition_also_blocks_relays_through_a_head_on_the_other_side() {
    // One 100 m cluster cell split by a partition at x = 50: its head (agent 0, the
    // lowest id) is east of the line, members 1 and 2 are west. The members share a side
    // but can only talk through their head, across the partition.
    let agents = vehicles(&[(60.0, 10.0), (20.0, 10.0), (30.0, 20.0), (80.0, 30.0)]);
    let split = FaultSpec {
        at: 0,
        duration: None,
        fault: FaultKind::Partition {
            regions: vec![
                Rect { x0: -1000.0, y0: -1000.0, x1: 50.0, y1: 1000.0 },
                Rect { x0: 50.5, y0: -1000.0, x1: 1000.0, y1: 1000.0 },
            ],
        },
        ended_at: None,
    };
    let c = ChannelConfig { cluster_size_m: 100.0, ..cfg(Topology::Hierarchical) };
    let mut app = world(c, vec![split], &agents);
    script(&mut app).at(1, 1, to(2), 10); // west -> west, relayed by the east head
    script(&mut app).at(1, 3, to(0), 10); // east -> east head: direct
    script(&mut app).at(1, 0, to(3), 10); // east head -> east member: direct
    run(&mut app, 5);
    assert_eq!(pairs(&received(&app)), vec![(0, 3), (3, 0)]);
}

#[test]
fn range_limited_broadcasts_match_brute_force_over_many_agents() {
    // 300 agents scattered over 600 m x 400 m; every one broadcasts to All and to a
    // Near radius; who hears whom must equal a brute-force distance check.
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as f32 / (1u64 << 31) as f32
    };
    let pts: Vec<(f32, f32)> = (0..300).map(|_| (next() * 600.0 - 300.0, next() * 400.0 - 200.0)).collect();
    let range = 60.0f32;
    for (dest, radius) in [(Dest::All, range), (Dest::Near(25.0), 25.0)] {
        let c = ChannelConfig { range_m: f64::from(range), ..cfg(Topology::RangeLimited) };
        let mut app = world(c, vec![], &vehicles(&pts));
        for i in 0..pts.len() as u32 {
            script(&mut app).at(0, i, dest, 20);
        }
        run(&mut app, 3);
        let got = pairs(&received(&app));
        let mut want = Vec::new();
        for (i, a) in pts.iter().enumerate() {
            for (j, b) in pts.iter().enumerate() {
                let d2 = (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2);
                if i != j && d2 <= radius * radius {
                    want.push((i as u32, j as u32));
                }
            }
        }
        assert!(want.len() > 300, "the layout should give many neighbours ({})", want.len());
        assert_eq!(got, want, "{dest:?}");
        assert_eq!(totals(&app).delivered as usize, want.len());
    }
}

#[test]
fn latency_fault_adds_its_ticks_on_every_hop() {
    let spike = FaultSpec { at: 0, duration: None, fault: FaultKind::Latency { extra_ticks: 2 }, ended_at: None };
    let c = ChannelConfig { latency_ticks: 1, cluster_size_m: 100.0, ..cfg(Topology::Hierarchical) };
    let mut app = world(c, vec![spike], &clusters());
    script(&mut app).at(1, 1, to(3), 10); // three hops
    script(&mut app).at(1, 1, to(0), 10); // one hop
    run(&mut app, 15);
    let got = received(&app);
    let delay = |to: u32| got.iter().find(|g| g.to == to).map(|g| g.tick - g.msg.sent);
    assert_eq!((delay(3), delay(0)), (Some(9), Some(3)));
}
