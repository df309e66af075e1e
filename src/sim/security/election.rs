//! Leader failover by Raft's election (Ongaro & Ousterhout, "In Search of an
//! Understandable Consensus Algorithm", USENIX ATC 2014, §5.2): replicas of a coordinator
//! follow the leader's heartbeats; one that hears none for a randomized election timeout
//! becomes a candidate for the next term and asks for votes; a vote is given at most once
//! per term, and a majority of all replicas makes a leader. So at most one leader is
//! elected per term, and a minority partition never elects one. Timing:
//! heartbeat ≪ election timeout ≪ time between failures.
//! And quorum acceptance of critical commands (Castro & Liskov, PBFT, OSDI 1999): of
//! n ≥ 3f + 1 replicas, a command is carried out when 2f + 1 of them send the same one.

use rand::RngExt;

/// A replica's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

impl Role {
    /// Short name for outputs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// Election messages (each carries its sender's term).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ballot {
    /// A candidate asks for a vote.
    RequestVote { term: u64 },
    /// The answer.
    Vote { term: u64, granted: bool },
    /// The leader is alive.
    Heartbeat { term: u64 },
}

impl Ballot {
    /// The term a message carries.
    pub fn term(self) -> u64 {
        match self {
            Ballot::RequestVote { term } | Ballot::Vote { term, .. } | Ballot::Heartbeat { term } => term,
        }
    }
}

/// Timing of an election, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElectionTiming {
    /// The leader's heartbeat period.
    pub heartbeat_ticks: u64,
    /// Election timeouts are drawn uniformly from this range, inclusive.
    pub timeout_min_ticks: u64,
    pub timeout_max_ticks: u64,
}

impl Default for ElectionTiming {
    fn default() -> Self {
        ElectionTiming { heartbeat_ticks: 2, timeout_min_ticks: 10, timeout_max_ticks: 20 }
    }
}

/// Where a message goes: one replica, or every other one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    One(u32),
    All,
}

/// One replica's election state.
#[derive(Clone, Debug)]
pub struct Replica {
    /// Its index among the replicas, 0..n.
    pub id: u32,
    /// How many replicas there are.
    pub n: u32,
    /// The latest term it knows.
    pub term: u64,
    /// Whom it voted for in `term`.
    pub voted_for: Option<u32>,
    /// Its role.
    pub role: Role,
    /// The leader it follows in `term`, if it has heard from one.
    pub leader: Option<u32>,
    votes: u64,
    deadline: u64,
    next_heartbeat: u64,
    timing: ElectionTiming,
}

impl Replica {
    /// A follower of term 0 whose first timeout is drawn from `rng`.
    pub fn new(id: u32, n: u32, timing: ElectionTiming, now: u64, rng: &mut impl rand::Rng) -> Self {
        assert!(n <= 64 && id < n, "at most 64 replicas");
        let mut r = Replica {
            id,
            n,
            term: 0,
            voted_for: None,
            role: Role::Follower,
            leader: None,
            votes: 0,
            deadline: 0,
            next_heartbeat: 0,
            timing,
        };
        r.reset_timer(now, rng);
        r
    }

    /// The configured start of a group: replica `leader` leads term 1 and every other
    /// replica follows it (as if it had voted for it), so a run does not open with an
    /// election. Only one replica leads term 1, so the one-leader-per-term rule holds.
    pub fn bootstrap(&mut self, leader: u32, now: u64, rng: &mut impl rand::Rng) {
        self.term = 1;
        self.voted_for = Some(leader);
        self.leader = Some(leader);
        if leader == self.id {
            self.role = Role::Leader;
            self.next_heartbeat = now;
        } else {
            self.role = Role::Follower;
            self.reset_timer(now, rng);
        }
    }

    /// A crashed replica starting again: it keeps its term and vote (Raft's persistent
    /// state) and comes back as a follower with a fresh timeout.
    pub fn restart(&mut self, now: u64, rng: &mut impl rand::Rng) {
        self.role = Role::Follower;
        self.leader = None;
        self.votes = 0;
        self.reset_timer(now, rng);
    }

    fn reset_timer(&mut self, now: u64, rng: &mut impl rand::Rng) {
        let (lo, hi) = (self.timing.timeout_min_ticks.max(1), self.timing.timeout_max_ticks);
        self.deadline = now + if hi > lo { rng.random_range(lo..=hi) } else { lo };
    }

    fn step_down(&mut self, term: u64) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.leader = None;
        }
        self.role = Role::Follower;
    }

    /// The tick's own work: a leader's heartbeat, or a follower's timeout turning it
    /// into a candidate. Messages to send go to `out`.
    pub fn tick(&mut self, now: u64, rng: &mut impl rand::Rng, out: &mut Vec<(To, Ballot)>) -> Option<&'static str> {
        if self.role == Role::Leader {
            if now >= self.next_heartbeat {
                out.push((To::All, Ballot::Heartbeat { term: self.term }));
                self.next_heartbeat = now + self.timing.heartbeat_ticks.max(1);
            }
            return None;
        }
        if now < self.deadline {
            return None;
        }
        let why = if self.role == Role::Candidate { "split_vote_retry" } else { "leader_silent" };
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.id);
        self.leader = None;
        self.votes = 1 << self.id;
        self.reset_timer(now, rng);
        out.push((To::All, Ballot::RequestVote { term: self.term }));
        self.check_won(now, out);
        Some(why)
    }

    fn check_won(&mut self, now: u64, out: &mut Vec<(To, Ballot)>) -> bool {
        if self.role == Role::Candidate && self.votes.count_ones() > self.n / 2 {
            self.role = Role::Leader;
            self.leader = Some(self.id);
            out.push((To::All, Ballot::Heartbeat { term: self.term }));
            self.next_heartbeat = now + self.timing.heartbeat_ticks.max(1);
            return true;
        }
        false
    }

    /// Handles a message from replica `from`. Returns true when this made it leader.
    pub fn receive(
        &mut self,
        from: u32,
        msg: Ballot,
        now: u64,
        rng: &mut impl rand::Rng,
        out: &mut Vec<(To, Ballot)>,
    ) -> bool {
        if from >= self.n || from == self.id {
            return false;
        }
        if msg.term() > self.term {
            self.step_down(msg.term());
        }
        match msg {
            Ballot::RequestVote { term } => {
                let granted = term == self.term && self.voted_for.is_none_or(|v| v == from);
                if granted {
                    self.voted_for = Some(from);
                    self.reset_timer(now, rng);
                }
                out.push((To::One(from), Ballot::Vote { term: self.term, granted }));
                false
            }
            Ballot::Vote { term, granted } => {
                if granted && term == self.term && self.role == Role::Candidate {
                    self.votes |= 1 << from;
                    return self.check_won(now, out);
                }
                false
            }
            Ballot::Heartbeat { term } => {
                if term == self.term {
                    if self.role != Role::Leader {
                        self.role = Role::Follower;
                    }
                    self.leader = Some(from);
                    self.reset_timer(now, rng);
                }
                false
            }
        }
    }
}

/// The fewest matching replies that carry out a critical command from `n` replicas of
/// which up to `f` may be Byzantine: 2f + 1 (needs n ≥ 3f + 1 so that honest replicas
/// alone can reach it).
pub fn quorum(n: u32, f: u32) -> Option<u32> {
    (n > 3 * f).then_some(2 * f + 1)
}

/// The command carried out from replicas' `(replica, command)` votes, if some command
/// has a quorum of distinct replicas; ties cannot happen since 2 · (2f + 1) > n.
pub fn quorum_decision<T: PartialEq + Copy>(votes: &[(u32, T)], n: u32, f: u32) -> Option<T> {
    let q = quorum(n, f)?;
    let mut seen: Vec<(u32, T)> = Vec::new();
    for &(r, v) in votes {
        if r < n && !seen.iter().any(|s| s.0 == r) {
            seen.push((r, v));
        }
    }
    seen.iter().map(|s| s.1).find(|v| seen.iter().filter(|s| s.1 == *v).count() as u32 >= q)
}

/// A receiver's tally of critical commands from the replicas of a coordinator: a command
/// is carried out once a quorum of distinct replicas has sent it within a window of ticks;
/// one whose votes all age out short of that is refused. A replica voting again for a
/// command it has a vote pending on neither counts twice nor keeps the vote alive.
#[derive(Clone, Debug)]
pub struct Tally<K: Ord + Copy> {
    votes: std::collections::BTreeMap<K, Vec<(u32, u64)>>,
}

impl<K: Ord + Copy> Default for Tally<K> {
    fn default() -> Self {
        Tally { votes: std::collections::BTreeMap::new() }
    }
}

impl<K: Ord + Copy> Tally<K> {
    /// Replica `replica`'s vote for `cmd` at tick `now`.
    pub fn vote(&mut self, cmd: K, replica: u32, now: u64) {
        let v = self.votes.entry(cmd).or_default();
        if !v.iter().any(|x| x.0 == replica) {
            v.push((replica, now));
        }
    }

    /// Drops votes older than `window` ticks, then takes out the commands that `quorum`
    /// distinct replicas back: (carried out, refused with the most votes they had).
    pub fn settle(&mut self, now: u64, window: u64, quorum: u32) -> (Vec<K>, Vec<(K, u32)>) {
        let (mut done, mut refused) = (Vec::new(), Vec::new());
        self.votes.retain(|&k, v| {
            let most = v.len() as u32;
            v.retain(|x| x.1 + window > now);
            if v.len() as u32 >= quorum {
                done.push(k);
                false
            } else if v.is_empty() {
                refused.push((k, most));
                false
            } else {
                true
            }
        });
        (done, refused)
    }

    /// Commands waiting for votes.
    pub fn pending(&self) -> usize {
        self.votes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_tally_carries_out_only_what_a_quorum_of_distinct_replicas_sent() {
        // n = 4, f = 1: a quorum is 3.
        let q = quorum(4, 1).unwrap();
        let mut t: Tally<(u32, bool)> = Tally::default();
        // One Byzantine replica (3) sends an order three times: one vote, from tick 0.
        for now in 0..3 {
            t.vote((7, false), 3, now);
        }
        // The three honest ones agree on another.
        for r in 0..3 {
            t.vote((2, true), r, 2);
        }
        let (done, refused) = t.settle(3, 5, q);
        assert_eq!((done, refused), (vec![(2, true)], vec![]));
        assert_eq!(t.pending(), 1);
        // The lone order ages out (its repeats do not keep it) and is refused, with the
        // one vote it had.
        let (done, refused) = t.settle(5, 5, q);
        assert_eq!((done, refused), (vec![], vec![((7, false), 1)]));
        // Two honest votes and a late third within the window still make it.
        t.vote((4, true), 0, 10);
        t.vote((4, true), 1, 11);
        assert_eq!(t.settle(12, 5, q).0, vec![]);
        t.vote((4, true), 2, 14);
        assert_eq!(t.settle(14, 5, q).0, vec![(4, true)]);
    }
    use rand::rngs::ChaCha8Rng;

    /// A message network among replicas: delay 1..=max_delay, loss, a partition given
    /// as a side per replica (messages cross only within a side), crashed replicas.
    struct Net {
        replicas: Vec<Replica>,
        rngs: Vec<ChaCha8Rng>,
        net: ChaCha8Rng,
        queue: Vec<(u64, u32, u32, Ballot)>,
        leaders: std::collections::BTreeMap<u64, std::collections::BTreeSet<u32>>,
    }

    impl Net {
        fn new(n: u32, seed: u64) -> Net {
            let timing = ElectionTiming::default();
            let mut rngs: Vec<ChaCha8Rng> =
                (0..n).map(|i| ChaCha8Rng::seed_from_u64(seed * 100 + u64::from(i))).collect();
            let replicas = (0..n).map(|i| Replica::new(i, n, timing, 0, &mut rngs[i as usize])).collect();
            Net { replicas, rngs, net: ChaCha8Rng::seed_from_u64(seed), queue: Vec::new(), leaders: Default::default() }
        }

        fn step(&mut self, now: u64, side: &[u8], crashed: &[u32], loss: f64, max_delay: u64) {
            let n = self.replicas.len() as u32;
            let mut sends: Vec<(u32, To, Ballot)> = Vec::new();
            let due: Vec<_> = self.queue.iter().filter(|m| m.0 <= now).copied().collect();
            self.queue.retain(|m| m.0 > now);
            for (_, from, to, msg) in due {
                if crashed.contains(&to) {
                    continue;
                }
                let mut out = Vec::new();
                self.replicas[to as usize].receive(from, msg, now, &mut self.rngs[to as usize], &mut out);
                sends.extend(out.into_iter().map(|(t, b)| (to, t, b)));
            }
            for i in 0..n {
                if crashed.contains(&i) {
                    continue;
                }
                let mut out = Vec::new();
                self.replicas[i as usize].tick(now, &mut self.rngs[i as usize], &mut out);
                sends.extend(out.into_iter().map(|(t, b)| (i, t, b)));
            }
            for (from, to, msg) in sends {
                let targets: Vec<u32> = match to {
                    To::One(j) => vec![j],
                    To::All => (0..n).filter(|&j| j != from).collect(),
                };
                for j in targets {
                    if side[from as usize] != side[j as usize] || self.net.random_bool(loss) {
                        continue;
                    }
                    let d = self.net.random_range(1..=max_delay);
                    self.queue.push((now + d, from, j, msg));
                }
            }
            for r in &self.replicas {
                if r.role == Role::Leader && !crashed.contains(&r.id) {
                    self.leaders.entry(r.term).or_default().insert(r.id);
                }
            }
        }

        fn leader(&self, crashed: &[u32]) -> Option<u32> {
            self.replicas
                .iter()
                .filter(|r| r.role == Role::Leader && !crashed.contains(&r.id))
                .max_by_key(|r| r.term)
                .map(|r| r.id)
        }
    }

    #[test]
    fn never_two_leaders_in_a_term_under_loss_delay_crashes_and_partitions() {
        for seed in 0..40u64 {
            for n in [3u32, 4, 5, 7] {
                let mut net = Net::new(n, seed);
                let mut crashed: Vec<u32> = Vec::new();
                let all = vec![0u8; n as usize];
                for now in 0..1500u64 {
                    // Crash the leader at 300, bring it back at 600; partition at 900.
                    if now == 300
                        && let Some(l) = net.leader(&[])
                    {
                        crashed.push(l);
                    }
                    if now == 600 {
                        crashed.clear();
                    }
                    let side: Vec<u8> = if (900..1200).contains(&now) {
                        (0..n).map(|i| u8::from(i < n / 2)).collect()
                    } else {
                        all.clone()
                    };
                    net.step(now, &side, &crashed, 0.1 + 0.2 * (seed % 3) as f64, 1 + seed % 4);
                }
                for (term, ls) in &net.leaders {
                    assert!(ls.len() <= 1, "seed {seed} n {n}: term {term} had leaders {ls:?}");
                }
                assert!(!net.leaders.is_empty(), "seed {seed} n {n}: nobody was ever elected");
            }
        }
    }

    #[test]
    fn a_minority_partition_never_elects_and_the_majority_fails_over() {
        for seed in 0..30u64 {
            let n = 5u32;
            let mut net = Net::new(n, seed);
            let mut side = vec![0u8; 5];
            let mut minority: Vec<u32> = Vec::new();
            let mut cut_term = 0;
            for now in 0..800u64 {
                if now == 200 {
                    // Put the leader and one other replica on the minority side.
                    let l = net.leader(&[]).expect("a leader by tick 200");
                    minority = vec![l, (l + 1) % n];
                    for &m in &minority {
                        side[m as usize] = 1;
                    }
                    cut_term = net.replicas.iter().map(|r| r.term).max().unwrap();
                }
                net.step(now, &side, &[], 0.0, 2);
            }
            // The minority may keep a stale leader of the old term but never wins a new one.
            for (&term, ls) in &net.leaders {
                if term > cut_term {
                    assert!(ls.iter().all(|l| !minority.contains(l)), "seed {seed}: minority elected {ls:?} in {term}");
                }
            }
            let l = net.leader(&minority).unwrap();
            assert!(!minority.contains(&l));
            assert!(net.replicas[l as usize].term > cut_term, "seed {seed}: the majority must fail over");
        }
    }

    #[test]
    fn quorum_needs_3f_plus_1_and_2f_plus_1_matching() {
        assert_eq!(quorum(4, 1), Some(3));
        assert_eq!(quorum(3, 1), None);
        assert_eq!(quorum(7, 2), Some(5));
        // f Byzantine replicas cannot carry out their command; the honest ones can.
        let honest = [(0, 7), (1, 7), (2, 7)];
        let byz = [(3, 9), (3, 9), (3, 9)];
        let votes: Vec<(u32, i32)> = byz.iter().chain(&honest).copied().collect();
        assert_eq!(quorum_decision(&votes, 4, 1), Some(7));
        assert_eq!(quorum_decision(&byz, 4, 1), None, "repeated votes of one replica count once");
        assert_eq!(quorum_decision(&[(0, 7), (1, 7), (3, 9)], 4, 1), None);
    }
}
