//! Validation of a parsed scenario: the core's fields (run length, channel, faults,
//! edits, outputs) here, the world's section by its own `WorldSpec::validate`. Every
//! problem is a field path and a message; the loader adds line:column.

use super::Scenario;
use crate::sim::security::{AttackKind, AttackSpec, Falsify};
use crate::sim::timeline::Timed;
use crate::sim::{AgentKind, FaultKind};
use crate::worlds::{Checker, CoreView, WorldSpec};

type Problems = Vec<(String, String)>;

/// All problems, in file order.
pub(crate) fn validate<W: WorldSpec>(s: &Scenario<W>) -> Problems {
    let mut v = Checker::new();
    if s.name.trim().is_empty() {
        v.bad("name", "must not be empty");
    }
    if let Some(c) = s.notes.chars().find(|c| c.is_control() && *c != '\n') {
        v.bad("notes", format!("must be plain text (lines separated by newlines), found the control character {c:?}"));
    }
    if s.notes.chars().count() > 4000 {
        v.bad("notes", format!("is {} characters long; keep it under 4000", s.notes.chars().count()));
    }
    v.at_least("ticks", s.ticks, 1);
    v.positive("dt", s.dt);
    if s.dt.is_finite() && s.dt > 60.0 {
        v.bad("dt", format!("must be at most 60 s per tick, got {}", s.dt));
    }

    let c = &s.channel;
    v.at_least("channel.latency_ticks", u64::from(c.latency_ticks), 1);
    v.probability("channel.loss", c.loss);
    v.positive("channel.range_m", c.range_m);
    v.positive("channel.cluster_size_m", c.cluster_size_m);
    if c.bandwidth_per_agent == Some(0) {
        v.bad(
            "channel.bandwidth_per_agent",
            "must be at least 1 byte per tick (to switch communication off use topology: None)",
        );
    }
    if c.bandwidth_total == Some(0) {
        v.bad(
            "channel.bandwidth_total",
            "must be at least 1 byte per tick (to switch communication off use topology: None)",
        );
    }

    let agents = s.agent_count();
    let kinds = s.world.agent_kinds();
    for (i, f) in s.faults.iter().enumerate() {
        let p = format!("faults[{i}]");
        timing(&mut v, &p, "fault", f, s.ticks);
        match &f.fault {
            FaultKind::Crash { fraction, agents: ids, kind } => {
                if let Some(k) = kind {
                    known_kind(&mut v, &format!("{p}.fault.kind"), *k, s.world.name(), &kinds);
                }
                v.probability(&format!("{p}.fault.fraction"), *fraction);
                if *fraction == 0.0 && ids.is_empty() {
                    v.bad(format!("{p}.fault"), "crashes nobody: give a fraction above 0 or a list of agents");
                }
                for (k, id) in ids.iter().enumerate() {
                    if u64::from(*id) >= agents {
                        v.bad(
                            format!("{p}.fault.agents[{k}]"),
                            format!("no agent {id}: this scenario has agents 0..{}", agents.saturating_sub(1)),
                        );
                    }
                }
            }
            FaultKind::Loss { loss } => v.probability(&format!("{p}.fault.loss"), *loss),
            FaultKind::Latency { extra_ticks } => {
                v.at_least(&format!("{p}.fault.extra_ticks"), u64::from(*extra_ticks), 1)
            }
            FaultKind::Partition { regions } => {
                if regions.is_empty() {
                    v.bad(format!("{p}.fault.regions"), "needs at least one region");
                }
                for (k, r) in regions.iter().enumerate() {
                    v.rect(&format!("{p}.fault.regions[{k}]"), r);
                }
            }
            FaultKind::Blackout { region } => v.rect(&format!("{p}.fault.region"), region),
        }
    }

    let messages = s.world.message_kinds();
    for (i, a) in s.attacks.iter().enumerate() {
        let p = format!("attacks[{i}]");
        timing(&mut v, &p, "attack", a, s.ticks);
        attack(&mut v, &p, a, s, &kinds, &messages, agents);
    }
    for (field, why) in s.security.problems() {
        v.bad(format!("security.{field}"), why);
    }
    if s.security.quorum > 0 && !s.world.quorum_commands() {
        v.bad(
            "security.quorum",
            format!(
                "the {} world has no critical command put to a vote (the power operator's switching orders are)",
                s.world.name()
            ),
        );
    }
    if s.security.failover.enabled() && !s.world.replicates_coordinator() {
        v.bad("security.failover.replicas", format!("the {} world has no coordinator to replicate", s.world.name()));
    }

    for (i, e) in s.edits.iter().enumerate() {
        if e.at >= s.ticks {
            v.bad(format!("edits[{i}].at"), format!("is at tick {} but the run ends at tick {}", e.at, s.ticks));
        }
    }

    let o = &s.output;
    v.at_least("output.record_every", o.record_every, 1);
    v.at_least("output.trace_every", o.trace_every, 1);
    v.at_least("output.max_events", o.max_events as u64, 1);

    s.world.validate(&CoreView { ticks: s.ticks, dt: s.dt, coordination: s.coordination }, &mut v);
    let mut out = v.into_problems();
    // Edits are checked last and only on an otherwise valid scenario, by applying them.
    if out.is_empty() {
        let mut cur = s.clone();
        cur.edits.clear();
        for (i, e) in s.edits.iter().enumerate() {
            match cur.with_set(&e.set, &e.value) {
                Ok(next) => {
                    if let Err(m) = super::live_editable(&cur, &next) {
                        out.push((format!("edits[{i}].set"), m));
                    }
                    cur = next;
                }
                Err(issue) => out.push((
                    // Blame the path when it names no field, else the value.
                    if cur.get(&e.set).is_none() { format!("edits[{i}].set") } else { format!("edits[{i}].value") },
                    format!("`{}` = `{}`: {}: {}", e.set, e.value, issue.field, issue.message),
                )),
            }
        }
    }
    out
}

/// A timeline entry's start, duration and hand end against the run's length.
fn timing(v: &mut Checker, p: &str, what: &str, t: &impl Timed, ticks: u64) {
    let at = t.at();
    if at >= ticks {
        v.bad(format!("{p}.at"), format!("starts at tick {at} but the run ends at tick {ticks} (ticks: {ticks})"));
    }
    if t.duration() == Some(0) {
        v.bad(format!("{p}.duration"), format!("must be at least 1 tick (leave it out for {what} that lasts)"));
    }
    if let Some(e) = t.ended_at() {
        let planned_end = t.duration().map(|d| at.saturating_add(d));
        if e <= at || e > ticks || planned_end.is_some_and(|end| e >= end) {
            v.bad(
                format!("{p}.ended_at"),
                format!(
                    "is tick {e}; it must be after the start ({at}), no later than the run's end ({ticks}){}",
                    planned_end.map_or(String::new(), |end| format!(" and before the planned end ({end})"))
                ),
            );
        }
    }
}

/// An agent kind the world has.
fn known_kind(v: &mut Checker, path: &str, k: AgentKind, world: &str, kinds: &[AgentKind]) {
    if !kinds.contains(&k) {
        let names: Vec<String> = kinds.iter().map(|k| format!("`{}`", k.file_name())).collect();
        v.bad(
            path,
            format!("this {world} world has no agents of kind `{}`; its kinds are {}", k.file_name(), names.join(", ")),
        );
    }
}

/// One attack's attackers and parameters.
fn attack<W: WorldSpec>(
    v: &mut Checker,
    p: &str,
    a: &AttackSpec,
    s: &Scenario<W>,
    kinds: &[AgentKind],
    messages: &[&'static str],
    agents: u64,
) {
    let who = &a.attackers;
    if let Some(k) = who.kind {
        known_kind(v, &format!("{p}.attackers.kind"), k, s.world.name(), kinds);
    }
    v.probability(&format!("{p}.attackers.share"), who.share);
    let needs_attackers = !matches!(a.attack, AttackKind::FalseData { .. });
    if needs_attackers && who.share == 0.0 && who.agents.is_empty() {
        v.bad(format!("{p}.attackers"), "names nobody: give a share above 0 (with a kind) or a list of agents");
    }
    for (k, id) in who.agents.iter().enumerate() {
        if u64::from(*id) >= agents {
            v.bad(
                format!("{p}.attackers.agents[{k}]"),
                format!("no agent {id}: this scenario has agents 0..{}", agents.saturating_sub(1)),
            );
        }
    }
    let q = format!("{p}.attack");
    if let Some(m) = a.attack.msg()
        && !messages.is_empty()
        && !messages.contains(&m)
    {
        v.bad(
            format!("{q}.msg"),
            format!(
                "this {} world sends no `{m}` messages; its message kinds are {}",
                s.world.name(),
                messages.join(", ")
            ),
        );
    }
    if let Some(f) = a.attack.falsify() {
        let fp = format!("{q}.falsify");
        if let Some(field) = f.field()
            && field > 3
        {
            v.bad(format!("{fp}.field"), format!("is {field}; a payload has fields 0..=3"));
        }
        match *f {
            Falsify::Offset { by, .. } | Falsify::Equivocate { by, .. } => {
                v.finite(&format!("{fp}.by"), by);
            }
            Falsify::Extreme { value, .. } => {
                v.finite(&format!("{fp}.value"), value);
            }
            Falsify::Random { lo, hi, .. } => {
                if v.finite(&format!("{fp}.lo"), lo) && v.finite(&format!("{fp}.hi"), hi) && hi < lo {
                    v.bad(format!("{fp}.hi"), format!("is {hi}, below lo ({lo})"));
                }
            }
            Falsify::Keep => {}
        }
    }
    match &a.attack {
        AttackKind::Sybil { ghosts, .. } if !(1..=64).contains(ghosts) => {
            v.bad(format!("{q}.ghosts"), format!("is {ghosts}; give 1..=64 ghost identities per attacker"));
        }
        AttackKind::Replay { delay_ticks, .. } => v.at_least(&format!("{q}.delay_ticks"), *delay_ticks, 1),
        AttackKind::Flooding { to, per_tick, bytes, .. } => {
            v.at_least(&format!("{q}.per_tick"), u64::from(*per_tick), 1);
            if *per_tick > 10_000 {
                v.bad(format!("{q}.per_tick"), format!("is {per_tick}; at most 10000 messages per attacker per tick"));
            }
            v.at_least(&format!("{q}.bytes"), u64::from(*bytes), 1);
            if let Some(t) = to
                && u64::from(*t) >= agents
            {
                v.bad(
                    format!("{q}.to"),
                    format!("no agent {t}: this scenario has agents 0..{}", agents.saturating_sub(1)),
                );
            }
        }
        AttackKind::FalseData { magnitude, .. } => {
            v.finite(&format!("{q}.magnitude"), *magnitude);
        }
        _ => {}
    }
    if let Err(why) = s.world.honours(a) {
        v.bad(q, why);
    }
}
