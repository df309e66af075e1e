//! The security layer every world shares, beside the channel: adversaries on a timeline
//! ([`attacks`]) and the defences receivers apply to what the channel delivers —
//! authentication with per-sender sequence numbers and an anti-replay window
//! ([`window`]), the world's plausibility checks (which call [`Security::judge`]), beta
//! reputation ([`reputation`]) that makes receivers ignore distrusted senders, robust
//! aggregation ([`robust`]) and leader election and quorums ([`election`]) for the
//! worlds' coordinators. Names no world.
//!
//! Every message carries the ground truth of the attack layer (`Message::flags`): the
//! defences never read it; it only sorts detections into true and false ones and counts
//! what the adversaries got through.

pub mod attacks;
pub mod election;
pub mod failover;
pub mod reputation;
pub mod robust;
pub mod window;

use std::collections::{BTreeMap, HashMap};

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use attacks::{AttackKind, AttackSpec, Attackers, Attacks, Falsify, Hijacked, mark_lie};
pub use election::{Ballot, ElectionTiming, Replica, Role, Tally};
pub use failover::{Coordinator, FailoverConfig, LeaderView, ReplicaSets};
pub use reputation::Beta;
pub use robust::Aggregation;
pub use window::{ReplayWindow, Verdict};

use super::registry::MetricSpec;
use super::{Agent, AgentId, EventLog, Inbox, Message, Metrics, SimClock};

/// Bits of [`Message::flags`]: the attack layer's ground truth and its instructions to
/// the channel. Defences never read them.
pub mod flags {
    /// The message was sent or altered by an adversary.
    pub const ATTACK: u8 = 1;
    /// `from` is a claimed identity: the channel keeps it instead of the transmitter's.
    pub const SPOOFED: u8 = 2;
    /// The transmitter holds no key for `from` (an outsider): its MAC does not verify.
    pub const NO_KEY: u8 = 4;
    /// A recorded message sent again: it keeps its sequence number and MAC.
    pub const REPLAY: u8 = 8;
    /// Its sender tells different recipients different values (see [`super::Falsify`]).
    pub const EQUIVOCATE: u8 = 16;
}

/// An event waiting for the end of the tick: (agent or u32::MAX, kind, fields).
type Pending = (u32, &'static str, Vec<(&'static str, serde_json::Value)>);

/// Ids of the ghost identities of Sybil attacks start here (far above any agent's).
pub const GHOST_BASE: u32 = 0x4000_0000;

/// The `security:` section of a scenario: which defences are on. Every field can change
/// while the world runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Every genuine message carries a MAC and a per-sender sequence number; receivers
    /// drop messages whose MAC fails (outsiders hold no key) and numbers their
    /// anti-replay window has seen or left behind. Insiders are not stopped.
    pub authentication: bool,
    /// Size of the anti-replay window, in sequence numbers (RFC 4303 suggests 64).
    pub replay_window: u32,
    /// Bytes authentication adds to every message (a 16-byte truncated HMAC and a
    /// 4-byte sequence number), charged to the channel.
    pub tag_bytes: u32,
    /// Authenticated messages carry the tick they were made in under the MAC; receivers
    /// refuse those older than this on arrival, s (IEEE 1609.2's generation-time check).
    /// It stops replays to receivers that never heard the original, which the window
    /// cannot.
    pub max_age_s: f64,
    /// Receivers check what messages claim against physics and their own sensors (each
    /// world's misbehaviour detection); implausible messages are dropped.
    pub plausibility: bool,
    /// Beta reputation fed by the plausibility checks; messages from senders whose
    /// expected trustworthiness falls below `distrust_below` are ignored.
    pub reputation: bool,
    /// Forgetting factor λ per tick of the reputation's evidence (1 = never forget).
    pub forgetting: f64,
    /// Trust threshold on E = (r + 1) / (r + s + 2).
    pub distrust_below: f64,
    /// How agents combine values that several others report (the ring's consensus
    /// speed, the lights' queues, the grid's consensus dispatch).
    pub aggregation: Aggregation,
    /// Standby replicas of the worlds' coordinators and the election that fails over to
    /// them when the leader goes silent.
    pub failover: FailoverConfig,
    /// Byzantine replicas a coordinator's critical commands tolerate, f (0 = off): a
    /// command is carried out only when 2f + 1 of its replicas sent it, which needs
    /// `failover.replicas` ≥ 3f + 1 (PBFT's bound).
    pub quorum: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            authentication: false,
            replay_window: 64,
            tag_bytes: 20,
            max_age_s: 2.0,
            plausibility: false,
            reputation: false,
            forgetting: 0.99,
            distrust_below: 0.3,
            aggregation: Aggregation::Mean,
            failover: FailoverConfig::default(),
            quorum: 0,
        }
    }
}

impl SecurityConfig {
    /// Problems with the settings, as (field below `security.`, what was expected).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.replay_window == 0 || self.replay_window > ReplayWindow::MAX {
            out.push(("replay_window", format!("must be 1..={} sequence numbers", ReplayWindow::MAX)));
        }
        if !(self.max_age_s > 0.0 && self.max_age_s.is_finite()) {
            out.push(("max_age_s", "must be a positive number of seconds".to_string()));
        }
        if self.tag_bytes > 1024 {
            out.push(("tag_bytes", "must be at most 1024 bytes".to_string()));
        }
        if !(self.forgetting > 0.0 && self.forgetting <= 1.0) {
            out.push(("forgetting", "must be in (0, 1]".to_string()));
        }
        if !(self.distrust_below > 0.0 && self.distrust_below < 1.0) {
            out.push(("distrust_below", "must be in (0, 1)".to_string()));
        }
        out.extend(self.failover.problems());
        if self.quorum > 0 && self.failover.replicas <= 3 * self.quorum {
            out.push((
                "quorum",
                format!(
                    "tolerating {} Byzantine replica(s) needs failover.replicas of at least {} (3f + 1), not {}",
                    self.quorum,
                    3 * self.quorum + 1,
                    self.failover.replicas
                ),
            ));
        }
        out
    }
}

/// Counters of one tick (copies, as delivered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SecStats {
    /// Messages adversaries handed to the channel (forged, replayed, falsified, junk).
    pub attack_sent: u64,
    /// Adversarial copies that passed every defence and reached an agent's decision.
    pub attack_accepted: u64,
    /// Copies dropped because their MAC did not verify.
    pub rejected_auth: u64,
    /// Copies dropped by the anti-replay window.
    pub rejected_replay: u64,
    /// Copies a plausibility check flagged (and dropped).
    pub flagged: u64,
    /// Detections (flags and the worlds' own alarms) of adversarial messages or attacks.
    pub detections_true: u64,
    /// Detections of genuine messages, or alarms with no attack in force.
    pub detections_false: u64,
    /// Copies dropped because their sender is distrusted.
    pub rejected_distrusted: u64,
    /// Senders distrusted at the end of the tick.
    pub distrusted: u64,
    /// Replicas of coordinators that won an election and took over.
    pub failovers: u64,
    /// Coordinators with no live leader at the end of the tick.
    pub leaderless: u64,
    /// Critical commands refused for want of a quorum of replicas.
    pub commands_refused: u64,
}

impl SecStats {
    /// The metric columns, with units and how rows summarise them.
    pub const SPECS: [MetricSpec; 12] = [
        MetricSpec::count("attack_msgs_sent", "messages"),
        MetricSpec::count("attack_msgs_accepted", "messages"),
        MetricSpec::count("msgs_rejected_auth", "messages"),
        MetricSpec::count("msgs_rejected_replay", "messages"),
        MetricSpec::count("msgs_flagged_implausible", "messages"),
        MetricSpec::count("detections_true", "detections"),
        MetricSpec::count("detections_false", "detections"),
        MetricSpec::count("msgs_rejected_distrusted", "messages"),
        MetricSpec::gauge("agents_distrusted", "agents"),
        MetricSpec::count("failovers", "elections"),
        MetricSpec::gauge("coordinators_leaderless", "coordinators"),
        MetricSpec::count("commands_refused", "commands"),
    ];

    fn values(&self) -> [f64; 12] {
        [
            self.attack_sent as f64,
            self.attack_accepted as f64,
            self.rejected_auth as f64,
            self.rejected_replay as f64,
            self.flagged as f64,
            self.detections_true as f64,
            self.detections_false as f64,
            self.rejected_distrusted as f64,
            self.distrusted as f64,
            self.failovers as f64,
            self.leaderless as f64,
            self.commands_refused as f64,
        ]
    }

    fn add(&mut self, o: &SecStats) {
        self.attack_sent += o.attack_sent;
        self.attack_accepted += o.attack_accepted;
        self.rejected_auth += o.rejected_auth;
        self.rejected_replay += o.rejected_replay;
        self.flagged += o.flagged;
        self.detections_true += o.detections_true;
        self.detections_false += o.detections_false;
        self.rejected_distrusted += o.rejected_distrusted;
        self.distrusted = o.distrusted;
        self.failovers += o.failovers;
        self.leaderless = o.leaderless;
        self.commands_refused += o.commands_refused;
    }
}

/// What receivers have seen of one claimed sender (the inspector shows it).
#[derive(Clone, Debug, Default)]
pub struct SenderRecord {
    /// Reputation from plausibility verdicts on its messages.
    pub reputation: Beta,
    /// Copies claiming to be from it dropped for a failed MAC.
    pub rejected_auth: u64,
    /// Copies dropped as replays.
    pub rejected_replay: u64,
    /// Copies flagged implausible.
    pub flagged: u64,
    /// Copies ignored while it was distrusted.
    pub rejected_distrusted: u64,
    /// Why its last rejected copy was rejected, and when.
    pub last_reason: Option<(u64, &'static str)>,
    /// Whether receivers ignore it now.
    pub distrusted: bool,
}

#[derive(Clone, Debug)]
struct Link {
    window: ReplayWindow,
    last: Option<Message>,
}

/// The security layer's state: settings, per-link windows and histories, per-sender
/// records, counters.
#[derive(Resource, Debug)]
pub struct Security {
    /// Settings in force.
    pub config: SecurityConfig,
    /// This tick's counters.
    pub stats: SecStats,
    /// Counters over the run.
    pub totals: SecStats,
    /// Equivocating senders this tick: (transmitter, payload field, offset): recipients
    /// with even ids get +offset, odd ones −offset.
    pub equivocators: Vec<(AgentId, usize, f32)>,
    /// An attack has started this run (until then, with every defence off, verifying
    /// costs nothing).
    pub attacked: bool,
    links: HashMap<(u32, u32), Link>,
    senders: BTreeMap<u32, SenderRecord>,
    pending_events: Vec<Pending>,
}

impl Security {
    /// The layer with `config`.
    pub fn new(config: SecurityConfig) -> Self {
        Security {
            config,
            stats: SecStats::default(),
            totals: SecStats::default(),
            equivocators: Vec::new(),
            attacked: false,
            links: HashMap::new(),
            senders: BTreeMap::new(),
            pending_events: Vec::new(),
        }
    }

    fn armed(&self) -> bool {
        self.attacked || self.config.authentication || self.config.plausibility || self.config.reputation
    }

    /// Whether plausibility checks are on (worlds' checkers return at once when not).
    pub fn checking(&self) -> bool {
        self.config.plausibility
    }

    /// The last copy `to` accepted from `from` (for checks against a sender's history).
    pub fn last(&self, to: AgentId, from: AgentId) -> Option<&Message> {
        self.links.get(&(to.0, from.0)).and_then(|l| l.last.as_ref())
    }

    /// What receivers have seen of `id`, if anything.
    pub fn sender(&self, id: AgentId) -> Option<&SenderRecord> {
        self.senders.get(&id.0)
    }

    /// Every sender's record, by id.
    pub fn senders(&self) -> impl Iterator<Item = (AgentId, &SenderRecord)> {
        self.senders.iter().map(|(&k, v)| (AgentId(k), v))
    }

    fn link(&mut self, to: AgentId, from: AgentId) -> &mut Link {
        let w = self.config.replay_window;
        self.links.entry((to.0, from.0)).or_insert_with(|| Link { window: ReplayWindow::new(w), last: None })
    }

    /// A world's plausibility checker over one agent's inbox: each message whose kind is
    /// in `kinds` goes to `check` with the sender's last copy accepted at `me`, which returns
    /// the verdict and whether it is about the pair (the message against that copy); flagged
    /// messages are dropped, the rest (and every other kind) kept in order.
    pub fn screen(
        &mut self,
        now: u64,
        me: AgentId,
        inbox: &mut Vec<Message>,
        kinds: &[&str],
        mut check: impl FnMut(&Message, Option<&Message>) -> (Result<(), &'static str>, bool),
    ) {
        for m in std::mem::take(inbox) {
            if kinds.contains(&m.kind) {
                let prev = self.last(me, m.from).copied();
                let (verdict, pair) = check(&m, prev.as_ref());
                if !self.judge_against(now, me, &m, prev.as_ref().filter(|_| pair), verdict) {
                    continue;
                }
            }
            inbox.push(m);
        }
    }

    /// A world's plausibility verdict on a copy `to` received: `Ok` keeps it (and makes it
    /// the sender's latest at `to`), `Err(reason)` flags it. Feeds the sender's reputation,
    /// counts the detection as true or false from the ground truth, and logs it. Returns
    /// whether to keep the copy.
    pub fn judge(&mut self, now: u64, to: AgentId, msg: &Message, verdict: Result<(), &'static str>) -> bool {
        self.judge_against(now, to, msg, None, verdict)
    }

    /// [`Self::judge`] for a check of `msg` against an earlier copy `reference` from the
    /// same sender (its position, speed or timing): the two disagree, and the flag is a
    /// true detection when either was adversarial (a genuine message after an accepted
    /// lie contradicts the lie, not physics).
    pub fn judge_against(
        &mut self,
        now: u64,
        to: AgentId,
        msg: &Message,
        reference: Option<&Message>,
        verdict: Result<(), &'static str>,
    ) -> bool {
        let lambda = self.config.forgetting;
        let rep = self.config.reputation;
        let rec = self.senders.entry(msg.from.0).or_default();
        match verdict {
            Ok(()) => {
                if rep {
                    rec.reputation.observe(now, lambda, true);
                }
                // Keep the newest: a copy the channel's jitter delayed does not replace it.
                let link = self.link(to, msg.from);
                if link.last.is_none_or(|l| l.sent <= msg.sent) {
                    link.last = Some(*msg);
                }
                true
            }
            Err(reason) => {
                if rep {
                    rec.reputation.observe(now, lambda, false);
                }
                rec.flagged += 1;
                rec.last_reason = Some((now, reason));
                self.stats.flagged += 1;
                let truth = (msg.flags | reference.map_or(0, |r| r.flags)) & flags::ATTACK != 0;
                if truth {
                    self.stats.detections_true += 1;
                } else {
                    self.stats.detections_false += 1;
                }
                self.pending_events.push((
                    to.0,
                    "detection",
                    vec![
                        ("sender", json!(msg.from.0)),
                        ("msg", json!(msg.kind)),
                        ("reason", json!(reason)),
                        ("true_positive", json!(truth)),
                    ],
                ));
                false
            }
        }
    }

    /// A world's detection that is not about one message (a bad-data alarm of a state
    /// estimate, say): `truth` is whether an attack it targets was in force.
    pub fn alarm(&mut self, now: u64, agent: Option<AgentId>, reason: &'static str, truth: bool) {
        if truth {
            self.stats.detections_true += 1;
        } else {
            self.stats.detections_false += 1;
        }
        let _ = now;
        self.pending_events.push((
            agent.map_or(u32::MAX, |a| a.0),
            "detection",
            vec![("reason", json!(reason)), ("true_positive", json!(truth))],
        ));
    }

    fn reject(&mut self, now: u64, msg: &Message, reason: &'static str) {
        let rec = self.senders.entry(msg.from.0).or_default();
        rec.last_reason = Some((now, reason));
        match reason {
            "mac_invalid" => {
                rec.rejected_auth += 1;
                self.stats.rejected_auth += 1;
            }
            "distrusted" => {
                rec.rejected_distrusted += 1;
                self.stats.rejected_distrusted += 1;
            }
            _ => {
                rec.rejected_replay += 1;
                self.stats.rejected_replay += 1;
            }
        }
    }

    fn flush_events(&mut self, now: u64, log: &mut EventLog) {
        let mut ev = std::mem::take(&mut self.pending_events);
        ev.sort_by_key(|e| e.0);
        for (agent, kind, detail) in ev {
            log.push(now, kind, (agent != u32::MAX).then_some(agent), detail);
        }
    }
}

/// Verify, first step: equivocation reaches each recipient, then MACs and anti-replay
/// windows are checked.
pub(crate) fn authenticate(clock: Res<SimClock>, mut sec: ResMut<Security>, mut inboxes: Query<(&Agent, &mut Inbox)>) {
    if !sec.armed() {
        return;
    }
    let now = clock.tick;
    let sec = &mut *sec;
    let auth = sec.config.authentication;
    let max_age = (sec.config.max_age_s / clock.dt).round() as u64;
    let mut work: Vec<(AgentId, Mut<Inbox>)> =
        inboxes.iter_mut().filter(|(_, i)| !i.0.is_empty()).map(|(a, i)| (a.id, i)).collect();
    work.sort_by_key(|w| w.0);
    for (to, inbox) in work.iter_mut() {
        let to = *to;
        let needs = auth || inbox.0.iter().any(|m| m.flags & flags::EQUIVOCATE != 0);
        if !needs {
            continue;
        }
        let msgs = std::mem::take(&mut inbox.0);
        for mut m in msgs {
            if m.flags & flags::EQUIVOCATE != 0
                && let Some(&(_, field, by)) = sec.equivocators.iter().find(|e| e.0 == m.origin)
            {
                m.payload[field.min(3)] += if to.0.is_multiple_of(2) { by } else { -by };
            }
            if auth {
                if m.flags & flags::NO_KEY != 0 {
                    sec.reject(now, &m, "mac_invalid");
                    continue;
                }
                if now.saturating_sub(m.sent) > max_age {
                    sec.reject(now, &m, "replay_stale");
                    continue;
                }
                match sec.link(to, m.from).window.check(u64::from(m.seq)) {
                    Verdict::Accept => {}
                    Verdict::Duplicate => {
                        sec.reject(now, &m, "replay_duplicate");
                        continue;
                    }
                    Verdict::TooOld => {
                        sec.reject(now, &m, "replay_too_old");
                        continue;
                    }
                }
            }
            inbox.0.push(m);
        }
    }
}

/// Verify, last step: copies from distrusted senders are dropped; the adversarial copies
/// left reach the agents' decisions and are counted.
pub(crate) fn trust(
    clock: Res<SimClock>,
    mut sec: ResMut<Security>,
    mut inboxes: Query<(&Agent, &mut Inbox)>,
    mut log: ResMut<EventLog>,
) {
    if !sec.armed() {
        return;
    }
    let now = clock.tick;
    let sec = &mut *sec;
    if sec.config.reputation {
        let (lambda, thr) = (sec.config.forgetting, sec.config.distrust_below);
        let mut changes = Vec::new();
        let mut count = 0;
        for (&id, rec) in sec.senders.iter_mut() {
            let e = rec.reputation.expectation_at(now, lambda);
            let d = e < thr;
            if d != rec.distrusted {
                rec.distrusted = d;
                changes.push((id, d, e));
            }
            count += u64::from(d);
        }
        sec.stats.distrusted = count;
        for (id, d, e) in changes {
            sec.pending_events.push((
                id,
                if d { "distrusted" } else { "trusted_again" },
                vec![("reputation", json!((e * 1000.0).round() / 1000.0))],
            ));
        }
    } else {
        for rec in sec.senders.values_mut() {
            rec.distrusted = false;
        }
        sec.stats.distrusted = 0;
    }
    let any_distrusted = sec.stats.distrusted > 0;
    let mut work: Vec<(AgentId, Mut<Inbox>)> =
        inboxes.iter_mut().filter(|(_, i)| !i.0.is_empty()).map(|(a, i)| (a.id, i)).collect();
    work.sort_by_key(|w| w.0);
    for (_, inbox) in work.iter_mut() {
        if any_distrusted && inbox.0.iter().any(|m| sec.senders.get(&m.from.0).is_some_and(|r| r.distrusted)) {
            let msgs = std::mem::take(&mut inbox.0);
            for m in msgs {
                if sec.senders.get(&m.from.0).is_some_and(|r| r.distrusted) {
                    sec.reject(now, &m, "distrusted");
                } else {
                    inbox.0.push(m);
                }
            }
        }
        sec.stats.attack_accepted += inbox.0.iter().filter(|m| m.flags & flags::ATTACK != 0).count() as u64;
    }
    sec.flush_events(now, &mut log);
}

/// Measure: the layer's columns for this tick; the counters start afresh.
pub(crate) fn record(
    clock: Res<SimClock>,
    mut sec: ResMut<Security>,
    mut metrics: ResMut<Metrics>,
    mut log: ResMut<EventLog>,
) {
    sec.flush_events(clock.tick, &mut log);
    let s = sec.stats;
    for (spec, v) in SecStats::SPECS.iter().zip(s.values()) {
        metrics.set(spec.name, v);
    }
    sec.totals.add(&s);
    let (distrusted, leaderless) = (s.distrusted, s.leaderless);
    sec.stats = SecStats { distrusted, leaderless, ..SecStats::default() };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Dest;

    fn msg(from: u32, seq: u32, flags: u8) -> Message {
        Message {
            from: AgentId(from),
            origin: AgentId(from),
            dest: Dest::All,
            kind: "x",
            bytes: 1,
            sent: 0,
            payload: [0.0; 4],
            seq,
            flags,
        }
    }

    #[test]
    fn judging_feeds_reputation_and_sorts_detections() {
        let mut s = Security::new(SecurityConfig { plausibility: true, reputation: true, ..Default::default() });
        let to = AgentId(9);
        assert!(s.judge(1, to, &msg(1, 1, 0), Ok(())));
        assert!(!s.judge(1, to, &msg(1, 2, 0), Err("speed")));
        assert!(!s.judge(1, to, &msg(2, 1, flags::ATTACK), Err("speed")));
        assert_eq!((s.stats.detections_true, s.stats.detections_false, s.stats.flagged), (1, 1, 2));
        assert_eq!(s.last(to, AgentId(1)).map(|m| m.seq), Some(1));
        let r = s.sender(AgentId(1)).unwrap();
        assert_eq!((r.reputation.r, r.reputation.s, r.flagged), (1.0, 1.0, 1));
    }

    #[test]
    fn config_problems() {
        let bad = SecurityConfig { replay_window: 0, forgetting: 0.0, distrust_below: 1.0, ..Default::default() };
        let p: Vec<&str> = bad.problems().iter().map(|p| p.0).collect();
        assert_eq!(p, vec!["replay_window", "forgetting", "distrust_below"]);
        assert!(SecurityConfig::default().problems().is_empty());
    }
}
