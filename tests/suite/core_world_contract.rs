//! The world contract, proven by a world that exists only here: walkers on a line who
//! tell the walker behind them their speed, with a world event ("stop a walker for a
//! while") on its own timeline. It plugs into the core through `WorldSpec` alone — no
//! file outside this test names it — and gets everything the traffic world gets:
//! loading with positioned errors, validation, live edits with fixed fields refused,
//! faults by kind (an unknown kind refused with the world's list), outputs, reset,
//! session export and replay.

use bevy::prelude::*;
use masim::runner::{self, LiveScenario, headless_app, run_ticks};
use masim::scenario::{self, Scenario, live_editable};
use masim::sim::timeline::Timeline;
use masim::sim::{
    Agent, AgentIds, AgentKind, Crashed, Decision, Dest, EventLog, Inbox, InjectSet, MeasureSet, MessageKind,
    MetricGroup, MetricSpec, Metrics, Outbox, Phase, Pose, ResetWorld, SimAppExt, SimClock, SimTick, SpawnWorld,
};
use masim::worlds::{Checker, CoreView, Fixed, Params, WorldSpec};
use serde::{Deserialize, Serialize};
use serde_json::json;

const WALKER: AgentKind = AgentKind::new("walker");
const MSG_PACE: &str = "pace";

/// A walker is stopped from `at` for `duration` ticks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopEvent {
    at: u64,
    #[serde(default)]
    duration: Option<u64>,
    walker: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended_at: Option<u64>,
}

masim::impl_timed!(StopEvent);

/// The world's section of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineWorld {
    walkers: u32,
    speed_mps: f64,
    #[serde(default)]
    stops: Vec<StopEvent>,
}

#[derive(Component, Clone, Copy)]
struct Walker {
    x: f64,
    speed: f64,
    heard: f64,
}

#[derive(Resource)]
struct Stops(Timeline<StopEvent>);

impl WorldSpec for LineWorld {
    fn name(&self) -> &'static str {
        "line"
    }
    fn message_kinds(&self) -> Vec<&'static str> {
        Vec::new()
    }
    fn quality_metric(&self) -> (&'static str, bool) {
        ("mean_x_m", true)
    }

    fn agent_kinds(&self) -> Vec<AgentKind> {
        vec![WALKER]
    }
    fn agent_count(&self) -> u64 {
        u64::from(self.walkers)
    }
    fn validate(&self, core: &CoreView, out: &mut Checker) {
        out.at_least("world.walkers", u64::from(self.walkers), 1);
        out.positive("world.speed_mps", self.speed_mps);
        for (i, s) in self.stops.iter().enumerate() {
            if s.at >= core.ticks {
                out.bad(format!("world.stops[{i}].at"), format!("is after the run's end ({})", core.ticks));
            }
            if s.walker >= self.walkers {
                out.bad(format!("world.stops[{i}].walker"), format!("no walker {}", s.walker));
            }
        }
    }
    fn fixed_at_start(&self) -> Vec<Fixed> {
        vec![Fixed::Value("world.walkers", "the number of walkers only applies at start")]
    }
    fn build(&self, app: &mut App) {
        app.register_agent_kinds(&[WALKER])
            .register_metrics(
                MetricGroup::World,
                &[MetricSpec::gauge("mean_x_m", "m"), MetricSpec::gauge("walkers_stopped", "walkers")],
            )
            .register_message_kinds(&[MessageKind { name: MSG_PACE, about: "walker → the one behind: its speed" }]);
        app.insert_resource(Params(self.clone()));
        reset(app.world_mut());
        app.add_systems(ResetWorld, reset);
        app.add_systems(SpawnWorld, spawn);
        app.add_systems(SimTick, apply_stops.in_set(InjectSet::World));
        app.add_systems(SimTick, walk.in_set(Phase::Decide));
        app.add_systems(SimTick, measure.in_set(MeasureSet::World));
    }
    fn truncate_events(&mut self, ticks: u64) -> Vec<String> {
        masim::sim::timeline::truncate(&mut self.stops, ticks)
            .into_iter()
            .map(|k| format!("world.stops[{k}] comes after the run's end"))
            .collect()
    }
    fn record_session(&mut self, world: &World) {
        if let Some(s) = world.get_resource::<Stops>() {
            self.stops = s.0.session();
        }
    }
}

fn reset(world: &mut World) {
    let cfg = world.resource::<Params<LineWorld>>().0.clone();
    world.insert_resource(Stops(Timeline::new(cfg.stops)));
}

fn spawn(mut commands: Commands, params: Res<Params<LineWorld>>, mut ids: ResMut<AgentIds>) {
    for k in 0..params.0.walkers {
        let id = ids.alloc();
        let x = f64::from(k) * 10.0;
        commands.spawn((
            Agent { id, kind: WALKER },
            Pose { x: x as f32, y: 0.0, heading: 0.0, speed: 0.0 },
            Decision::default(),
            Inbox::default(),
            Outbox::default(),
            Walker { x, speed: 0.0, heard: 0.0 },
        ));
    }
}

#[derive(Component)]
struct Stopped;

fn apply_stops(
    clock: Res<SimClock>,
    mut stops: ResMut<Stops>,
    mut log: ResMut<EventLog>,
    q: Query<(Entity, &Agent)>,
    mut commands: Commands,
) {
    let now = clock.tick;
    for a in stops.0.take_ended(now) {
        for (e, agent) in &q {
            if agent.id.0 == a.spec.walker {
                commands.entity(e).remove::<Stopped>();
            }
        }
        log.push(now, "stop_end", Some(a.spec.walker), [("stop", json!(a.ordinal))]);
    }
    while let Some(s) = stops.0.next_due(now) {
        for (e, agent) in &q {
            if agent.id.0 == s.spec.walker {
                commands.entity(e).insert(Stopped);
            }
        }
        log.push(now, "stop_start", Some(s.spec.walker), [("stop", json!(s.ordinal))]);
        stops.0.activate(now, s, Vec::new());
    }
}

type WalkerParts<'a> =
    (&'a Agent, &'a mut Walker, &'a mut Pose, &'a Inbox, &'a mut Outbox, &'a mut Decision, Has<Stopped>);

fn walk(clock: Res<SimClock>, params: Res<Params<LineWorld>>, mut q: Query<WalkerParts, Without<Crashed>>) {
    for (a, mut w, mut pose, inbox, mut out, mut d, stopped) in &mut q {
        if let Some(m) = inbox.0.iter().find(|m| m.kind == MSG_PACE) {
            w.heard = f64::from(m.payload[0]);
        }
        w.speed = if stopped { 0.0 } else { params.0.speed_mps.min(w.heard.max(params.0.speed_mps * 0.5)) };
        w.x += w.speed * clock.dt;
        *pose = Pose { x: w.x as f32, y: 0.0, heading: 0.0, speed: w.speed as f32 };
        *d = Decision {
            tick: clock.tick,
            action: if stopped { "stop" } else { "walk" },
            reason: "line",
            value: w.speed as f32,
        };
        if a.id.0 > 0 {
            out.send(a.id, Dest::To(masim::sim::AgentId(a.id.0 - 1)), MSG_PACE, 8, clock.tick, [w.speed as f32; 4]);
        }
    }
}

fn measure(q: Query<(&Walker, Has<Stopped>)>, mut m: ResMut<Metrics>) {
    let n = q.iter().len().max(1) as f64;
    m.set("mean_x_m", q.iter().map(|(w, _)| w.x).sum::<f64>() / n);
    m.set("walkers_stopped", q.iter().filter(|(_, s)| *s).count() as f64);
}

const SCENARIO: &str = r#"(
  name: "line",
  ticks: 200,
  dt: 0.5,
  channel: (topology: AllToAll),
  faults: [(at: 50, duration: 40, fault: Crash(kind: Walker, fraction: 0.5))],
  edits: [(at: 120, set: "world.speed_mps", value: "2.5")],
  output: (record_every: 10),
  world: (
    walkers: 6,
    speed_mps: 1.5,
    stops: [(at: 30, duration: 20, walker: 2), (at: 150, walker: 4)],
  ),
)"#;

fn load(text: &str) -> Scenario<LineWorld> {
    scenario::load_str_as::<LineWorld>(text, "line.ron").unwrap_or_else(|e| panic!("{e}"))
}

fn rows(app: &App) -> Vec<Vec<f64>> {
    app.world().resource::<Metrics>().rows().to_vec()
}

#[test]
fn a_world_defined_outside_the_crate_loads_validates_and_runs() {
    let s = load(SCENARIO);
    assert_eq!(s.agent_count(), 6);
    let mut app = headless_app(&s, Some(1));
    run_ticks(&mut app, s.ticks, |_| {});
    let m = app.world().resource::<Metrics>();
    let cols = m.columns();
    for c in ["tick", "agents", "mean_x_m", "walkers_stopped", "msgs_sent", "msgs_delivered"] {
        assert!(cols.contains(&c), "column {c} missing: {cols:?}");
    }
    assert!(cols.iter().position(|c| *c == "mean_x_m") < cols.iter().position(|c| *c == "msgs_sent"));
    assert_eq!(m.rows().len(), 20);
    assert!(m.last("msgs_delivered").unwrap_or(0.0) > 0.0, "the channel carried the walkers' messages");
    assert!(m.last("mean_x_m").unwrap_or(0.0) > 100.0);
    let log = format!("{:?}", app.world().resource::<EventLog>().events());
    for k in ["stop_start", "stop_end", "fault_start", "fault_end", "\"edit\""] {
        assert!(log.contains(k), "{k} not logged: {log}");
    }
    assert_eq!(app.world().resource::<Params<LineWorld>>().0.speed_mps, 2.5, "the scheduled edit reached the world");
}

#[test]
fn bad_world_sections_are_refused_with_positions() {
    let bad = SCENARIO.replace("speed_mps: 1.5", "speed_mps: -1.0");
    let e = scenario::load_str_as::<LineWorld>(&bad, "line.ron").expect_err("negative speed");
    let text = e.to_string();
    assert!(text.contains("line.ron:11:5: field `world.speed_mps`: must be greater than 0"), "{text}");
    let bad = SCENARIO.replace("walker: 4", "walker: 9");
    let e = scenario::load_str_as::<LineWorld>(&bad, "line.ron").expect_err("no walker 9");
    assert!(e.to_string().contains("field `world.stops[1].walker`: no walker 9"), "{e}");
    // A fault naming a kind this world does not have: refused with the kinds it has.
    let bad = SCENARIO.replace("kind: Walker", "kind: Vehicle");
    let e = scenario::load_str_as::<LineWorld>(&bad, "line.ron").expect_err("no vehicles on the line");
    let text = e.to_string();
    assert!(text.contains("field `faults[0].fault.kind`") && text.contains("`Walker`"), "{text}");
    assert!(text.contains("line.ron:6:"), "positioned: {text}");
}

#[test]
fn fixed_fields_are_refused_live_and_the_rest_applies() {
    let s = load(SCENARIO);
    assert!(live_editable(&s, &s.with_set("world.speed_mps", "3").expect("valid")).is_ok());
    let err = live_editable(&s, &s.with_set("world.walkers", "5").expect("valid")).expect_err("fixed");
    assert!(err.contains("only applies at start"), "{err}");
    let mut app = headless_app(&s, Some(1));
    run_ticks(&mut app, 10, |_| {});
    let mut live = app.world_mut().resource_mut::<LiveScenario<LineWorld>>();
    assert!(live.request("world.walkers", "5").is_err());
    live.request("world.speed_mps", "0.5").expect("live edit");
    run_ticks(&mut app, 1, |_| {});
    assert_eq!(app.world().resource::<Params<LineWorld>>().0.speed_mps, 0.5);
}

#[test]
fn reset_equals_a_fresh_app_and_the_session_replays() {
    let s = load(SCENARIO);
    let mut fresh = headless_app(&s, Some(1));
    run_ticks(&mut fresh, s.ticks, |_| {});

    let mut other = headless_app(&s.with_set("world.walkers", "5").expect("valid"), Some(1));
    run_ticks(&mut other, 77, |_| {});
    runner::reset(other.world_mut(), &s);
    run_ticks(&mut other, s.ticks, |_| {});
    assert_eq!(rows(&fresh), rows(&other));

    // A live session: a run-time stop and an edit, exported part way and replayed.
    let mut live = headless_app(&s, Some(1));
    run_ticks(&mut live, 60, |_| {});
    live.world_mut().resource_mut::<Stops>().0.inject(StopEvent {
        at: 60,
        duration: Some(5),
        walker: 1,
        ended_at: None,
    });
    live.world_mut().resource_mut::<LiveScenario<LineWorld>>().request("world.speed_mps", "1.0").expect("edit");
    run_ticks(&mut live, 80, |_| {});
    let session = {
        let w = live.world();
        w.resource::<LiveScenario<LineWorld>>().session_so_far(w)
    };
    assert_eq!(session.ticks, 140);
    assert_eq!(session.world.stops.len(), 2, "the stop at 150 is after the export: {:?}", session.world.stops);
    assert!(session.world.stops.iter().any(|st| st.walker == 1 && st.at == 60));
    let text = session.to_ron();
    let replay = scenario::load_str_as::<LineWorld>(&text, "session.ron").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut again = headless_app(&replay, Some(1));
    run_ticks(&mut again, replay.ticks, |_| {});
    assert_eq!(rows(&live), rows(&again));
}
