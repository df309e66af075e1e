//! EV charging stations, the contended resource: a few ports and one feeder (transformer)
//! cap for a queue of EVs that arrive (Poisson, following a daily shape), each needing an
//! energy and leaving at a departure time whether full or not. The policy decides who gets a
//! port and who gets power: first come first served, a fair share of the feeder
//! (water-filling), or earliest departure first. The operator may cap a station on a
//! congested bus; every station pauses charging when the frequency sags (a local rule).
//! What each household got of what it needed feeds Jain's fairness index.

use std::collections::BTreeMap;

use bevy::prelude::*;

use super::units::fill;
use super::{MSG_EV, MSG_EV_CAP, MSG_PRICE, Meter, due, ticks};
use crate::sim::{
    AgentRng, Coordination, CoordinationRes, Crashed, Decision, Dest, Inbox, LeaderView, Outbox, SimClock,
};
use crate::worlds::Params;
use crate::worlds::power::config::{ChargePolicy, PowerConfig, Station};
use crate::worlds::power::profile::poisson;
use crate::worlds::power::state::PowerState;
use rand::RngExt;

/// Charging pauses below f0·(1 − this).
const PAUSE_DROP: f64 = 0.003;

/// Households a station's EVs come from when no household agents live at its bus.
const HOUSEHOLDS_PER_STATION: u32 = 200;

/// One EV at a station.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ev {
    /// Number (per station, in arrival order).
    pub id: u32,
    /// The household it belongs to.
    pub owner: u32,
    /// Tick it arrived and tick it leaves.
    pub arrival: u64,
    pub departure: u64,
    /// Energy it needs and has got, kWh.
    pub need_kwh: f64,
    pub got_kwh: f64,
    /// Tick it got a port.
    pub plugged: Option<u64>,
    /// Power it draws this tick, kW.
    pub kw: f64,
}

/// A station's controller and its EVs.
#[derive(Component, Clone, Debug)]
pub struct StationAgent {
    /// Station index.
    pub index: usize,
    /// Bus index.
    pub bus: usize,
    /// Ports, kW per port and the feeder cap, kW.
    pub ports: u32,
    pub port_kw: f64,
    pub spec_feeder_kw: f64,
    /// The operator's cap, kW (none: no cap).
    pub cap_kw: Option<f64>,
    /// EVs waiting for a port, in arrival order.
    pub queue: Vec<Ev>,
    /// EVs on a port.
    pub plugged: Vec<Ev>,
    /// Power drawn this tick, kW.
    pub kw: f64,
    /// Household agents at its bus: (first id, stride, count) of the round-robin assignment.
    pub households: (u32, u32, u32),
    /// EVs arrived, left, turned away.
    pub arrived: u64,
    pub departed: u64,
    pub balked: u64,
    /// Energy delivered and not delivered to EVs that left (or went elsewhere), kWh.
    pub delivered_kwh: f64,
    pub unmet_kwh: f64,
    /// Σ and count of the waits for a port, s.
    pub wait_s: f64,
    pub waits: u64,
    /// Per household: (energy got, energy needed) over the EVs that left, kWh.
    pub owners: BTreeMap<u32, (f64, f64)>,
    /// Why power is limited now.
    pub limit: &'static str,
    /// Arrivals this tick.
    pub arrivals_now: u64,
}

impl StationAgent {
    /// A station from its spec.
    pub fn new(index: usize, bus: usize, spec: &Station, households: (u32, u32, u32)) -> Self {
        StationAgent {
            index,
            bus,
            ports: spec.ports,
            port_kw: spec.port_kw,
            spec_feeder_kw: spec.feeder_kw,
            cap_kw: None,
            queue: Vec::new(),
            plugged: Vec::new(),
            kw: 0.0,
            households,
            arrived: 0,
            departed: 0,
            balked: 0,
            delivered_kwh: 0.0,
            unmet_kwh: 0.0,
            wait_s: 0.0,
            waits: 0,
            owners: BTreeMap::new(),
            limit: "none",
            arrivals_now: 0,
        }
    }

    fn leave(&mut self, ev: Ev) {
        self.departed += 1;
        let got = ev.got_kwh.min(ev.need_kwh);
        self.delivered_kwh += got;
        self.unmet_kwh += (ev.need_kwh - got).max(0.0);
        let e = self.owners.entry(ev.owner).or_insert((0.0, 0.0));
        e.0 += got;
        e.1 += ev.need_kwh;
    }
}

/// Jain's index (Σx)²/(n·Σx²) of the households' delivered/needed energy over every station.
pub fn jain<'a>(stations: impl Iterator<Item = &'a StationAgent>) -> f64 {
    let mut per: BTreeMap<(usize, u32), (f64, f64)> = BTreeMap::new();
    for s in stations {
        // Households at a bus are shared by its stations; synthetic ones are per station.
        let key = |o: u32| if s.households.2 > 0 { (usize::MAX, o) } else { (s.index, o) };
        for (&o, &(g, n)) in &s.owners {
            let e = per.entry(key(o)).or_insert((0.0, 0.0));
            e.0 += g;
            e.1 += n;
        }
    }
    let xs: Vec<f64> = per.values().filter(|v| v.1 > 0.0).map(|v| (v.0 / v.1).min(1.0)).collect();
    if xs.is_empty() {
        return 1.0;
    }
    let s: f64 = xs.iter().sum();
    let s2: f64 = xs.iter().map(|x| x * x).sum();
    if s2 <= 0.0 { 0.0 } else { s * s / (xs.len() as f64 * s2) }
}

/// Stations decide: arrivals, departures, ports and power.
#[allow(clippy::too_many_arguments)]
pub fn decide_stations(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    coord: Res<CoordinationRes>,
    state: Res<PowerState>,
    mut sec: ResMut<crate::sim::Security>,
    mut q: Query<
        (
            &crate::sim::Agent,
            &mut StationAgent,
            &mut AgentRng,
            &mut Meter,
            &Inbox,
            &mut Outbox,
            &mut Decision,
            Has<crate::sim::Hijacked>,
            &LeaderView,
        ),
        Without<Crashed>,
    >,
) {
    let cfg = &params.0;
    let ev = &cfg.ev;
    let now = clock.tick;
    let dt = clock.dt;
    let f0 = cfg.frequency.f0_hz;
    let hour = cfg.profile.hour(now as f64 * dt);
    let peak = ev.arrivals.peak();
    let rate = if peak > 0.0 { ev.arrivals_per_hour * ev.arrivals.at(hour) / peak } else { 0.0 };
    let telemetry = ticks(cfg.operator.telemetry_every_s, dt);
    for (agent, mut s, mut rng, mut meter, inbox, mut out, mut d, hijacked, view) in &mut q {
        let s = &mut *s;
        fill(&mut meter, &state, s.bus, f0, now);
        for m in &inbox.0 {
            match m.kind {
                MSG_EV_CAP => s.cap_kw = (m.payload[0] >= 0.0).then_some(f64::from(m.payload[0])),
                MSG_PRICE => {
                    meter.price = f64::from(m.payload[1]);
                    meter.price_tick = Some(now);
                }
                _ => {}
            }
        }
        if coord.0 == Coordination::None {
            s.cap_kw = None;
        }
        // Arrivals.
        let n = poisson(&mut rng.0, rate * dt / 3600.0);
        s.arrivals_now = u64::from(n);
        for _ in 0..n {
            let need = rng.0.random_range(ev.energy_min_kwh..=ev.energy_max_kwh.max(ev.energy_min_kwh));
            let dwell = rng.0.random_range(ev.dwell_min_h..=ev.dwell_max_h.max(ev.dwell_min_h));
            let owner = if s.households.2 > 0 {
                let j = rng.0.random_range(0..s.households.2);
                s.households.0 + j * s.households.1
            } else {
                rng.0.random_range(0..HOUSEHOLDS_PER_STATION)
            };
            let e = Ev {
                id: s.arrived as u32,
                owner,
                arrival: now,
                departure: now + ticks(dwell * 3600.0, dt),
                need_kwh: need,
                got_kwh: 0.0,
                plugged: None,
                kw: 0.0,
            };
            s.arrived += 1;
            if s.queue.len() >= ev.max_queue as usize && s.plugged.len() >= s.ports as usize {
                s.balked += 1;
                s.unmet_kwh += need;
                let o = s.owners.entry(owner).or_insert((0.0, 0.0));
                o.1 += need;
            } else {
                s.queue.push(e);
            }
        }
        // Departures: whoever's time is up leaves, full or not; full EVs free their port.
        let (gone, stay): (Vec<Ev>, Vec<Ev>) = std::mem::take(&mut s.plugged)
            .into_iter()
            .partition(|e| e.departure <= now || e.got_kwh >= e.need_kwh - 1e-9);
        s.plugged = stay;
        for e in gone {
            s.leave(e);
        }
        let (gone, stay): (Vec<Ev>, Vec<Ev>) =
            std::mem::take(&mut s.queue).into_iter().partition(|e| e.departure <= now);
        s.queue = stay;
        for e in gone {
            s.leave(e);
        }
        // Ports.
        while s.plugged.len() < s.ports as usize && !s.queue.is_empty() {
            let k = match ev.policy {
                ChargePolicy::EarliestDeparture => {
                    (0..s.queue.len()).min_by_key(|&k| (s.queue[k].departure, s.queue[k].id)).unwrap_or(0)
                }
                _ => 0,
            };
            let mut e = s.queue.remove(k);
            e.plugged = Some(now);
            s.wait_s += (now - e.arrival) as f64 * dt;
            s.waits += 1;
            s.plugged.push(e);
        }
        // Power under the cap in force.
        let mut cap = s.spec_feeder_kw;
        s.limit = "feeder";
        if let Some(c) = s.cap_kw {
            cap = cap.min(c);
            s.limit = "operator_cap";
        }
        if meter.freq_hz <= 0.0 {
            cap = 0.0;
            s.limit = "no_supply";
        } else if coord.0 != Coordination::None && meter.freq_hz < f0 * (1.0 - PAUSE_DROP) {
            cap = 0.0;
            s.limit = "underfrequency_pause";
        }
        // Hijacked (a load-altering attack): it ignores the operator's cap and the
        // under-frequency pause, draws all its feeder allows, and reports what it should.
        let honest_cap = cap;
        if hijacked {
            cap = s.spec_feeder_kw;
            s.limit = "hijacked";
        }
        allocate(s, cap, ev.policy, dt);
        s.kw = s.plugged.iter().map(|e| e.kw).sum();
        meter.power_mw = s.kw / 1000.0;
        if coord.0 != Coordination::None && due(now, telemetry * 5, agent.id.0) {
            let told = if hijacked { s.kw.min(honest_cap) } else { s.kw };
            let payload = [s.index as f32, told as f32, s.queue.len() as f32, honest_cap as f32];
            out.send(agent.id, Dest::To(view.leader), MSG_EV, 16, now, payload);
            if hijacked {
                sec.stats.attack_sent += crate::sim::security::mark_lie(&mut out);
            }
        }
        *d = Decision { tick: now, action: "charge", reason: s.limit, value: s.kw as f32 };
    }
}

/// Shares `cap` kW among the plugged EVs by `policy`, each at most its port's power and what
/// it still needs this tick.
fn allocate(s: &mut StationAgent, cap: f64, policy: ChargePolicy, dt: f64) {
    let h = dt / 3600.0;
    let want: Vec<f64> = s.plugged.iter().map(|e| ((e.need_kwh - e.got_kwh).max(0.0) / h).min(s.port_kw)).collect();
    let mut left = cap.max(0.0);
    let mut kw = vec![0.0; s.plugged.len()];
    match policy {
        ChargePolicy::Fcfs | ChargePolicy::EarliestDeparture => {
            let mut order: Vec<usize> = (0..s.plugged.len()).collect();
            if policy == ChargePolicy::EarliestDeparture {
                order.sort_by_key(|&k| (s.plugged[k].departure, s.plugged[k].id));
            } else {
                order.sort_by_key(|&k| (s.plugged[k].arrival, s.plugged[k].id));
            }
            for k in order {
                kw[k] = want[k].min(left);
                left -= kw[k];
            }
        }
        ChargePolicy::FairShare => {
            // Water-filling: equal shares, what a capped EV does not take goes to the others.
            let mut open: Vec<usize> = (0..s.plugged.len()).filter(|&k| want[k] > 0.0).collect();
            while !open.is_empty() && left > 1e-12 {
                let share = left / open.len() as f64;
                let mut next = Vec::new();
                for &k in &open {
                    let take = (want[k] - kw[k]).min(share);
                    kw[k] += take;
                    left -= take;
                    if want[k] - kw[k] > 1e-12 {
                        next.push(k);
                    }
                }
                if next.len() == open.len() {
                    break;
                }
                open = next;
            }
        }
    }
    for (e, p) in s.plugged.iter_mut().zip(kw) {
        e.kw = p;
    }
}

/// EVs charge (the Act phase): energy in, the stations' power onto their buses.
pub fn act_stations(clock: Res<SimClock>, mut state: ResMut<PowerState>, mut q: Query<&mut StationAgent>) {
    let h = clock.dt / 3600.0;
    for b in &mut state.buses {
        b.ev_mw = 0.0;
    }
    let mut arrivals = 0;
    for mut s in &mut q {
        let bus = s.bus;
        let mut kw = 0.0;
        for e in &mut s.plugged {
            e.got_kwh += e.kw * h;
            kw += e.kw;
        }
        arrivals += s.arrivals_now;
        if let Some(b) = state.buses.get_mut(bus) {
            b.ev_mw += kw / 1000.0;
        }
    }
    state.counts.ev_arrivals = arrivals;
}
