//! One timeline for scheduled and live events: a list from the scenario plus events
//! injected at run time, each starting at a tick and lasting a while or for good, ended
//! early by hand if need be. The timeline keeps what is in force and the history of what
//! happened, numbers events in the order they start (random streams and logs use that
//! number, so a replayed session draws the same), and gives the session back as a list
//! that replays it. Faults, a world's own events (a tripped line, a blocked cell) and
//! attacks each keep one; what an event does is up to the system that owns it.

/// An entry of a timeline: when it starts, how long it lasts, when it was ended by hand.
pub trait Timed: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// Tick at which it starts.
    fn at(&self) -> u64;
    /// Moves its start (the history records the tick it actually started).
    fn set_at(&mut self, at: u64);
    /// Ticks it lasts; `None` for the rest of the run.
    fn duration(&self) -> Option<u64>;
    /// Tick at which it was ended by hand, if it was.
    fn ended_at(&self) -> Option<u64>;
    /// Records an end by hand.
    fn set_ended_at(&mut self, tick: Option<u64>);
}

/// Implements [`Timed`] for a struct with the fields `at: u64`, `duration: Option<u64>`
/// and `ended_at: Option<u64>` (the shape of every timeline entry in a scenario file).
#[macro_export]
macro_rules! impl_timed {
    ($t:ty) => {
        impl $crate::sim::timeline::Timed for $t {
            fn at(&self) -> u64 {
                self.at
            }
            fn set_at(&mut self, at: u64) {
                self.at = at;
            }
            fn duration(&self) -> Option<u64> {
                self.duration
            }
            fn ended_at(&self) -> Option<u64> {
                self.ended_at
            }
            fn set_ended_at(&mut self, tick: Option<u64>) {
                self.ended_at = tick;
            }
        }
    };
}

/// An event in force.
#[derive(Clone, Debug)]
pub struct Active<S> {
    /// Its number (the scenario's order first, then run-time injections).
    pub id: u32,
    /// Its place in start order (0 = the first to start).
    pub ordinal: u32,
    /// Its specification.
    pub spec: S,
    /// Tick it ends at (exclusive), if it ends.
    pub ends: Option<u64>,
    /// Agents it holds (e.g. those a crash took down).
    pub affected: Vec<super::AgentId>,
}

/// An event that starts now: the owner applies it, then calls [`Timeline::activate`].
#[derive(Clone, Debug)]
pub struct Starting<S> {
    pub id: u32,
    pub ordinal: u32,
    pub spec: S,
}

/// Scheduled and active events, with their history.
#[derive(Debug, Clone)]
pub struct Timeline<S> {
    scheduled: Vec<(u32, S)>,
    active: Vec<Active<S>>,
    end_requests: Vec<u32>,
    next_id: u32,
    started: u32,
    /// Every event that has started (with the tick it started as its `at`), and the tick
    /// it ended, if it has.
    pub history: Vec<(u32, S, Option<u64>)>,
}

impl<S: Timed> Timeline<S> {
    /// A timeline from a scenario's list (ids follow the list's order).
    pub fn new(list: Vec<S>) -> Self {
        let mut scheduled: Vec<(u32, S)> = list.into_iter().enumerate().map(|(i, f)| (i as u32, f)).collect();
        scheduled.sort_by_key(|(i, f)| (f.at(), *i));
        let next_id = scheduled.len() as u32;
        Timeline { scheduled, active: Vec::new(), end_requests: Vec::new(), next_id, started: 0, history: Vec::new() }
    }

    /// Adds an event at run time: it starts at the next step at or after its `at`.
    /// Returns its id.
    pub fn inject(&mut self, spec: S) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let pos = self.scheduled.partition_point(|(_, f)| f.at() <= spec.at());
        self.scheduled.insert(pos, (id, spec));
        id
    }

    /// Ends an active event at the next step.
    pub fn end(&mut self, id: u32) {
        if !self.end_requests.contains(&id) {
            self.end_requests.push(id);
        }
    }

    /// Events in force.
    pub fn active(&self) -> &[Active<S>] {
        &self.active
    }

    /// Events still to start.
    pub fn scheduled(&self) -> impl Iterator<Item = &S> {
        self.scheduled.iter().map(|(_, f)| f)
    }

    /// Ends what expires at `now` or was asked to end; returns them in the order they
    /// were in force, their history marked with the end.
    pub fn take_ended(&mut self, now: u64) -> Vec<Active<S>> {
        let requests = std::mem::take(&mut self.end_requests);
        let mut ended = Vec::new();
        self.active.retain(|a| {
            let done = a.ends.is_some_and(|e| e <= now) || requests.contains(&a.id);
            if done {
                ended.push(a.clone());
            }
            !done
        });
        for a in &ended {
            if let Some(h) = self.history.iter_mut().find(|h| h.0 == a.id) {
                h.2 = Some(now);
            }
        }
        ended
    }

    /// The next event due at `now`, numbered in start order; `None` when none is due.
    pub fn next_due(&mut self, now: u64) -> Option<Starting<S>> {
        if self.scheduled.first().is_none_or(|(_, s)| s.at() > now) {
            return None;
        }
        let (id, spec) = self.scheduled.remove(0);
        let ordinal = self.started;
        self.started += 1;
        Some(Starting { id, ordinal, spec })
    }

    /// Puts a started event in force, holding `affected`; records it in the history.
    pub fn activate(&mut self, now: u64, start: Starting<S>, affected: Vec<super::AgentId>) {
        let Starting { id, ordinal, spec } = start;
        let ends = match (spec.duration().map(|d| now + d), spec.ended_at()) {
            (Some(d), Some(e)) => Some(d.min(e)),
            (d, e) => d.or(e),
        };
        let mut recorded = spec.clone();
        recorded.set_at(now);
        self.history.push((id, recorded, None));
        self.active.push(Active { id, ordinal, spec, ends, affected });
    }

    /// The events as they happened and those still to come, as a list that replays the
    /// session: an event ended by hand keeps its planned duration and records the end.
    pub fn session(&self) -> Vec<S> {
        let mut out: Vec<S> = self
            .history
            .iter()
            .map(|(_, spec, ended)| {
                let mut f = spec.clone();
                if let Some(e) = *ended
                    && f.duration().is_none_or(|d| e < f.at() + d)
                {
                    f.set_ended_at(Some(e));
                }
                f
            })
            .collect();
        out.extend(self.scheduled().cloned());
        out
    }
}

/// Removes the entries of `list` that start at or after `ticks` (a shortened run or a
/// session exported part way), and ends by hand at `ticks` none of the others: they keep
/// their planned durations, which may reach past the end. Returns the indices removed.
pub fn truncate<S: Timed>(list: &mut Vec<S>, ticks: u64) -> Vec<usize> {
    let mut removed = Vec::new();
    let mut k = 0;
    list.retain(|s| {
        let keep = s.at() < ticks;
        if !keep {
            removed.push(k);
        }
        k += 1;
        keep
    });
    for s in list.iter_mut() {
        if s.ended_at().is_some_and(|e| e > ticks) {
            s.set_ended_at(None);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Ev {
        at: u64,
        duration: Option<u64>,
        ended_at: Option<u64>,
    }

    crate::impl_timed!(Ev);

    fn ev(at: u64, duration: Option<u64>) -> Ev {
        Ev { at, duration, ended_at: None }
    }

    fn step(t: &mut Timeline<Ev>, now: u64) -> (Vec<u32>, Vec<u32>) {
        let ended = t.take_ended(now).into_iter().map(|a| a.id).collect();
        let mut started = Vec::new();
        while let Some(s) = t.next_due(now) {
            started.push(s.id);
            t.activate(now, s, Vec::new());
        }
        (ended, started)
    }

    #[test]
    fn events_start_end_and_replay_in_order() {
        let mut t = Timeline::new(vec![ev(5, Some(3)), ev(2, None)]);
        let mut log = Vec::new();
        for now in 0..12 {
            if now == 3 {
                t.inject(ev(3, Some(10)));
            }
            if now == 6 {
                t.end(2);
            }
            log.push(step(&mut t, now));
        }
        assert_eq!(log[2], (vec![], vec![1]));
        assert_eq!(log[3], (vec![], vec![2]));
        assert_eq!(log[5], (vec![], vec![0]));
        assert_eq!(log[6], (vec![2], vec![]));
        assert_eq!(log[8], (vec![0], vec![]));
        // Start order: the event listed second started first.
        let ordinals: Vec<(u32, u32)> = t.active().iter().map(|a| (a.id, a.ordinal)).collect();
        assert_eq!(ordinals, vec![(1, 0)]);
        let session = t.session();
        assert_eq!(session, vec![ev(2, None), Ev { at: 3, duration: Some(10), ended_at: Some(6) }, ev(5, Some(3))]);
        // The session list replays the same starts and ends.
        let mut again = Timeline::new(session);
        let replay: Vec<_> = (0..12).map(|now| step(&mut again, now)).collect();
        assert_eq!(replay[2].1.len(), 1);
        assert_eq!(replay[6].0.len(), 1, "the hand end at 6 replays: {replay:?}");
    }

    #[test]
    fn truncation_drops_what_starts_after_the_end() {
        let mut list = vec![ev(1, Some(5)), ev(10, None), Ev { at: 2, duration: None, ended_at: Some(9) }];
        assert_eq!(truncate(&mut list, 8), vec![1]);
        assert_eq!(list, vec![ev(1, Some(5)), ev(2, None)]);
    }
}
