//! Tasks and the floor's shared resources: the ledger of orders (the ground truth the
//! conservation check counts — created = done + assigned + waiting), order arrivals
//! (Poisson per hour from a seeded stream, or listed), the chargers with their bays and
//! queues (the contended resource), and the parking spots.

use std::collections::{BTreeSet, VecDeque};

use bevy::prelude::*;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::config::{ChargerChoice, OrderSpec};
use super::floor::Floor;
use super::map::Cell;
use super::planning::NONE;

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Nobody holds it.
    Waiting,
    /// At least one robot holds it and heads for its pick.
    Assigned,
    /// A robot carries its load.
    Picked,
    /// Delivered.
    Done,
}

/// One task: pick at `pick`, deliver at `drop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    pub pick: Cell,
    pub drop: Cell,
    /// Tick it was created.
    pub created: u64,
    pub state: TaskState,
    /// Robots that hold it (more than one after conflicting claims, until resolved).
    pub holders: u16,
    /// The robot carrying it, once picked.
    pub carrier: u32,
    /// Tick it was delivered.
    pub done_at: u64,
}

/// Every task of the run and the counts the conservation check uses.
#[derive(Resource, Debug, Default, Clone)]
pub struct Ledger {
    /// Tasks by id (ids are dense in creation order).
    pub tasks: Vec<Task>,
    /// Waiting tasks, oldest first.
    pub waiting: BTreeSet<u32>,
    /// Tasks delivered.
    pub done: u64,
    /// Tasks held or carried.
    pub assigned: u64,
    /// Sum of delivered tasks' times from creation to delivery, ticks.
    pub time_sum: u64,
    /// Ticks at which the latest deliveries happened (for the hourly throughput).
    pub recent: VecDeque<u64>,
    /// Arrivals at a pick whose load another robot had already taken (a conflicting claim
    /// found out on the floor).
    pub duplicate_picks: u64,
}

impl Ledger {
    /// A new waiting task; returns its id.
    pub fn create(&mut self, pick: Cell, drop: Cell, tick: u64) -> u32 {
        let id = self.tasks.len() as u32;
        self.tasks.push(Task {
            pick,
            drop,
            created: tick,
            state: TaskState::Waiting,
            holders: 0,
            carrier: NONE,
            done_at: 0,
        });
        self.waiting.insert(id);
        id
    }

    /// The task, if it exists.
    pub fn get(&self, id: u32) -> Option<&Task> {
        self.tasks.get(id as usize)
    }

    /// A robot takes the task on; false when it is delivered or already carried (nothing
    /// changes then).
    pub fn hold(&mut self, id: u32) -> bool {
        let Some(t) = self.tasks.get_mut(id as usize) else { return false };
        match t.state {
            TaskState::Done | TaskState::Picked => false,
            TaskState::Waiting => {
                t.state = TaskState::Assigned;
                t.holders = 1;
                self.waiting.remove(&id);
                self.assigned += 1;
                true
            }
            TaskState::Assigned => {
                t.holders += 1;
                true
            }
        }
    }

    /// A robot takes the task on if nobody holds it (the order board still shows it open);
    /// false otherwise.
    pub fn take_open(&mut self, id: u32) -> bool {
        self.tasks.get(id as usize).is_some_and(|t| t.state == TaskState::Waiting) && self.hold(id)
    }

    /// A robot gives the task up before picking it; the last holder puts it back in waiting.
    pub fn release(&mut self, id: u32) {
        let Some(t) = self.tasks.get_mut(id as usize) else { return };
        if t.state == TaskState::Assigned {
            t.holders = t.holders.saturating_sub(1);
            if t.holders == 0 {
                t.state = TaskState::Waiting;
                self.waiting.insert(id);
                self.assigned -= 1;
            }
        }
    }

    /// A robot holding the task picks its load; false when another robot has it already (the
    /// robot then gives the task up and counts a duplicate).
    pub fn pick(&mut self, id: u32, robot: u32) -> bool {
        let Some(t) = self.tasks.get_mut(id as usize) else { return false };
        if t.state != TaskState::Assigned {
            return false;
        }
        t.state = TaskState::Picked;
        t.carrier = robot;
        true
    }

    /// The load is delivered.
    pub fn deliver(&mut self, id: u32, tick: u64) {
        let Some(t) = self.tasks.get_mut(id as usize) else { return };
        if t.state != TaskState::Picked {
            return;
        }
        t.state = TaskState::Done;
        t.done_at = tick;
        self.assigned -= 1;
        self.done += 1;
        self.time_sum += tick - t.created;
        self.recent.push_back(tick);
    }

    /// A carried load leaves with its robot (a robot taken out of the run): the task goes back
    /// to waiting, as a new pick of the same order.
    pub fn abandon(&mut self, id: u32) {
        let Some(t) = self.tasks.get_mut(id as usize) else { return };
        if t.state == TaskState::Picked {
            t.state = TaskState::Waiting;
            t.holders = 0;
            t.carrier = NONE;
            self.waiting.insert(id);
            self.assigned -= 1;
        }
    }

    /// Tasks created.
    pub fn created(&self) -> u64 {
        self.tasks.len() as u64
    }
}

/// A task in a robot's hands goes back: released if not picked (the counterpart of
/// [`Ledger::hold`]); a carried load stays with its robot.
pub fn give_up(ledger: &mut Ledger, task: u32) {
    if task != NONE {
        ledger.release(task);
    }
}

/// Order arrivals: the Poisson stream and the listed orders.
#[derive(Resource, Debug)]
pub struct OrderSource {
    rng: ChaCha8Rng,
    list: Vec<OrderSpec>,
    next: usize,
}

impl OrderSource {
    /// Arrivals for a run with this seed and list (sorted by tick, stable).
    pub fn new(seed: u64, mut list: Vec<OrderSpec>) -> Self {
        list.sort_by_key(|o| o.at);
        OrderSource { rng: crate::sim::rng::stream(seed, "orders", 0), list, next: 0 }
    }

    /// Creates this tick's orders: the listed ones due, then a Poisson number for a rate of
    /// `per_tick` orders per tick. Returns how many.
    pub fn arrivals(&mut self, floor: &Floor, ledger: &mut Ledger, tick: u64, per_tick: f64) -> u32 {
        let mut n = 0;
        while self.next < self.list.len() && self.list[self.next].at <= tick {
            let o = self.list[self.next].clone();
            self.next += 1;
            let at = |rc: Option<(u32, u32)>| rc.and_then(|(r, c)| floor.base.index(r, c));
            let (pick, drop) = self.draw(floor);
            let pick = at(o.pick).unwrap_or(pick);
            let mut drop = at(o.drop).unwrap_or(drop);
            if drop == pick && o.drop.is_none() {
                drop = self.other(&floor.drops, pick);
            }
            ledger.create(pick, drop, tick);
            n += 1;
        }
        for _ in 0..poisson(&mut self.rng, per_tick) {
            let (pick, drop) = self.draw(floor);
            ledger.create(pick, drop, tick);
            n += 1;
        }
        n
    }

    /// A pick among the floor's picks and a drop among its drops, never the same cell
    /// (unless the floor has only one).
    fn draw(&mut self, floor: &Floor) -> (Cell, Cell) {
        let pick = floor.picks[self.rng.random_range(0..floor.picks.len())];
        let drop = self.other(&floor.drops, pick);
        (pick, drop)
    }

    fn other(&mut self, set: &[Cell], not: Cell) -> Cell {
        match set.binary_search(&not) {
            Ok(j) if set.len() > 1 => {
                let k = self.rng.random_range(0..set.len() - 1);
                set[if k >= j { k + 1 } else { k }]
            }
            _ => set[self.rng.random_range(0..set.len())],
        }
    }
}

/// A Poisson draw with mean `lambda` (Knuth's method, in chunks of at most 16 so that
/// e^-λ never underflows; a sum of Poisson draws is Poisson).
pub fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    // Also refuses NaN.
    if lambda.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return 0;
    }
    let mut left = lambda;
    let mut n = 0;
    while left > 0.0 {
        let l = left.min(16.0);
        left -= l;
        let limit = (-l).exp();
        let mut p = 1.0;
        loop {
            p *= rng.random::<f64>();
            if p <= limit {
                break;
            }
            n += 1;
        }
    }
    n
}

/// One charger: its bays, who charges in each, the queue, and whether it works.
#[derive(Clone, Debug, PartialEq)]
pub struct ChargerState {
    /// Bay cells, ascending.
    pub bays: Vec<Cell>,
    /// The robot given each bay (`NONE`: free).
    pub holder: Vec<u32>,
    /// Robots waiting for a bay, in arrival order, with the tick they joined.
    pub queue: Vec<(u32, u64)>,
    /// False during an outage.
    pub online: bool,
}

impl ChargerState {
    fn free_bays(&self) -> usize {
        self.holder.iter().filter(|&&h| h == NONE).count()
    }

    /// Robots charging or queued per bay.
    pub fn load(&self) -> f64 {
        (self.bays.len() - self.free_bays() + self.queue.len()) as f64 / self.bays.len().max(1) as f64
    }
}

/// Every charger and the wait statistics.
#[derive(Resource, Debug, Clone, Default)]
pub struct Chargers {
    pub list: Vec<ChargerState>,
    /// Sum of completed waits (joining a queue to reaching a bay), ticks.
    pub wait_sum: u64,
    /// Completed waits.
    pub waits: u64,
}

impl Chargers {
    /// The chargers of a floor, all working and empty.
    pub fn new(floor: &Floor) -> Self {
        let list = floor
            .chargers
            .iter()
            .map(|b| ChargerState { bays: b.clone(), holder: vec![NONE; b.len()], queue: Vec::new(), online: true })
            .collect();
        Chargers { list, wait_sum: 0, waits: 0 }
    }

    /// The working charger a robot at `from` should head for, by `choice`; `None` when no
    /// charger works or none can be reached.
    pub fn choose(&self, floor: &mut Floor, from: Cell, choice: ChargerChoice) -> Option<u32> {
        let mut best: Option<((u64, u32), u32)> = None;
        for (k, c) in self.list.iter().enumerate() {
            if !c.online {
                continue;
            }
            let d = c.bays.iter().filter_map(|&b| floor.distance(from, b)).min();
            let Some(d) = d else { continue };
            // Robots per bay in thousandths, so the key is an integer.
            let load = match choice {
                ChargerChoice::Nearest => 0,
                ChargerChoice::ShortestQueue => (c.load() * 1000.0).round() as u64,
            };
            let key = (load, d);
            if best.is_none_or(|(b, _)| key < b) {
                best = Some((key, k as u32));
            }
        }
        best.map(|(_, k)| k)
    }

    /// `robot` joins charger `k`'s queue at `tick`.
    pub fn join(&mut self, k: u32, robot: u32, tick: u64) {
        if let Some(c) = self.list.get_mut(k as usize)
            && !c.queue.iter().any(|q| q.0 == robot)
        {
            c.queue.push((robot, tick));
        }
    }

    /// A bay for `robot` if it is among the first in charger `k`'s queue for the free bays
    /// (first come, first served); it then leaves the queue and the wait is recorded.
    pub fn try_bay(&mut self, k: u32, robot: u32, tick: u64) -> Option<Cell> {
        let c = self.list.get_mut(k as usize)?;
        if !c.online {
            return None;
        }
        let pos = c.queue.iter().position(|q| q.0 == robot)?;
        if pos >= c.free_bays() {
            return None;
        }
        let b = c.holder.iter().position(|&h| h == NONE)?;
        c.holder[b] = robot;
        let (_, since) = c.queue.remove(pos);
        self.wait_sum += tick - since;
        self.waits += 1;
        Some(self.list[k as usize].bays[b])
    }

    /// `robot` leaves every queue and bay.
    pub fn leave(&mut self, robot: u32) {
        for c in &mut self.list {
            c.queue.retain(|q| q.0 != robot);
            for h in &mut c.holder {
                if *h == robot {
                    *h = NONE;
                }
            }
        }
    }

    /// Whether some working charger has a free bay and nobody queued.
    pub fn any_free(&self) -> bool {
        self.list.iter().any(|c| c.online && c.queue.is_empty() && c.free_bays() > 0)
    }

    /// Robots queued, all chargers together.
    pub fn queued(&self) -> usize {
        self.list.iter().map(|c| c.queue.len()).sum()
    }
}

/// Parking spots and who has claimed each.
#[derive(Resource, Debug, Clone, Default)]
pub struct Parking {
    /// Spot cells (the floor's), ascending.
    pub spots: Vec<Cell>,
    /// The robot that claimed each (`NONE`: free).
    pub holder: Vec<u32>,
}

impl Parking {
    /// The floor's spots, all free.
    pub fn new(floor: &Floor) -> Self {
        Parking { spots: floor.parking.clone(), holder: vec![NONE; floor.parking.len()] }
    }

    /// Claims the nearest free reachable spot for a robot at `from`.
    pub fn claim(&mut self, floor: &mut Floor, robot: u32, from: Cell) -> Option<Cell> {
        let mut best: Option<(u32, usize)> = None;
        for (i, &s) in self.spots.iter().enumerate() {
            if self.holder[i] != NONE {
                continue;
            }
            if let Some(d) = floor.distance(from, s)
                && best.is_none_or(|(bd, _)| d < bd)
            {
                best = Some((d, i));
            }
        }
        let (_, i) = best?;
        self.holder[i] = robot;
        Some(self.spots[i])
    }

    /// Frees whatever `robot` holds.
    pub fn leave(&mut self, robot: u32) {
        for h in &mut self.holder {
            if *h == robot {
                *h = NONE;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ledger_conserves_tasks_through_claims_picks_and_releases() {
        let mut l = Ledger::default();
        let a = l.create(1, 2, 0);
        let b = l.create(3, 4, 0);
        let check = |l: &Ledger| assert_eq!(l.created(), l.done + l.assigned + l.waiting.len() as u64);
        check(&l);
        assert!(l.hold(a));
        assert!(l.hold(a)); // a conflicting claim
        check(&l);
        assert!(l.pick(a, 7));
        assert!(!l.pick(a, 8), "the second claimant finds the load gone");
        l.release(a); // ... and gives up: the task stays with its carrier
        assert_eq!(l.tasks[a as usize].state, TaskState::Picked);
        check(&l);
        assert!(!l.hold(a));
        l.deliver(a, 10);
        check(&l);
        assert!(l.hold(b));
        l.release(b);
        assert!(l.waiting.contains(&b));
        check(&l);
        assert_eq!((l.done, l.assigned, l.time_sum), (1, 0, 10));
    }

    #[test]
    fn poisson_mean_matches_the_rate() {
        let mut r = ChaCha8Rng::seed_from_u64(5);
        for lambda in [0.05, 1.0, 40.0] {
            let n = 20_000;
            let sum: u64 = (0..n).map(|_| u64::from(poisson(&mut r, lambda))).sum();
            let mean = sum as f64 / f64::from(n);
            assert!((mean - lambda).abs() < 4.0 * (lambda / f64::from(n)).sqrt() + 1e-3, "λ {lambda}: {mean}");
        }
        assert_eq!(poisson(&mut r, 0.0), 0);
    }
}
