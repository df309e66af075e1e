//! Households (prosumers): demand that follows the daily shape with a slow random walk of its
//! own, rooftop PV (clear sky through the area's clouds and any cloud front), a home battery
//! and a flexible share of demand that can wait. Local rules always apply: the battery
//! covers the household's own net demand from stored PV (self-consumption), PV curtails by
//! frequency–watt droop above nominal (IEEE 1547-2018: 36 mHz dead band at 60 Hz, 5 %
//! droop), and under-frequency makes batteries discharge and flexible demand wait. With
//! prices from the operator (centralized, hierarchical) batteries arbitrage and flexible
//! demand waits out high prices; the area controller's demand-response request makes it wait
//! too. Meters report to the area controller. 10⁵ households update in parallel, each from
//! its own stream.

use bevy::prelude::*;

use super::{MSG_DR, MSG_METER, MSG_PRICE, Roster, due, ticks};
use crate::sim::{AgentRng, Coordination, CoordinationRes, Crashed, Decision, Dest, Inbox, Outbox, SimClock};
use crate::worlds::Params;
use crate::worlds::power::config::PowerConfig;
use crate::worlds::power::profile::normal;
use crate::worlds::power::state::PowerState;

/// Correlation time of a household's demand noise, s.
const NOISE_TIME_S: f64 = 900.0;
/// A battery's frequency response: no response within f0·(1 ± this) ...
const BAT_DEADBAND: f64 = 0.001;
/// ... then droop: its full power at this much more (1 % of f0). The response moves a third of
/// the way to its droop value each tick: households measure and act once a tick, and a
/// delayed response as stiff as the units' own would swing the frequency instead of holding it.
const BAT_DROOP: f64 = 0.01;
const BAT_LAG: f32 = 1.0 / 3.0;
/// Flexible demand that waited on low frequency comes back once the frequency is above
/// f0·(1 − this), after at least `UF_HOLD_S`.
const UF_RELEASE: f64 = 0.0005;
const UF_HOLD_S: f32 = 60.0;
/// Over-frequency dead band of the PV's frequency–watt droop, share of f0 (36 mHz at 60 Hz).
const PV_DEADBAND: f64 = 0.036 / 60.0;
/// The PV's over-frequency droop, share of f0 for full curtailment.
const PV_DROOP: f64 = 0.05;

/// One household.
#[derive(Component, Clone, Debug)]
pub struct Prosumer {
    /// Bus index and area index.
    pub bus: u32,
    pub area: u16,
    /// This household's size relative to the mean.
    pub size: f32,
    /// Its demand noise (relative).
    pub noise: f32,
    /// PV peak, kW (0: none).
    pub pv_kw: f32,
    /// Battery: energy, power, stored energy (kWh, kW, kWh); 0 energy: none.
    pub bat_kwh: f32,
    pub bat_kw: f32,
    pub soc_kwh: f32,
    /// Deferred demand waiting, kWh, and for how long, s.
    pub deferred_kwh: f32,
    pub deferred_s: f32,
    /// Last price heard and the running mean, $/MWh; tick heard.
    pub price: f32,
    pub price_mean: f32,
    pub price_tick: u64,
    /// Its price thresholds, as multiples of the mean price: it charges (and releases waiting
    /// demand) below `price_lo`, discharges and defers above `price_hi` (they differ between
    /// households, so a new price does not move every battery at once).
    pub price_lo: f32,
    pub price_hi: f32,
    /// The area controller asks for demand response.
    pub dr: bool,
    /// Its flexible demand waits below f0·(1 − this) (thresholds differ between households, so
    /// that they do not all switch at once); waiting on low frequency now.
    pub uf_drop: f32,
    pub uf_waiting: bool,
    /// This tick: demand, PV out, PV curtailed, battery (discharge > 0), net — kW.
    pub demand_kw: f32,
    pub pv_out_kw: f32,
    pub curtailed_kw: f32,
    pub battery_kw: f32,
    pub net_kw: f32,
    /// Frequency it measured, Hz.
    pub freq_hz: f32,
}

/// Households decide, in parallel: demand, PV, battery, flexible demand; meters report.
pub fn decide_prosumers(
    clock: Res<SimClock>,
    params: Res<Params<PowerConfig>>,
    coord: Res<CoordinationRes>,
    roster: Res<Roster>,
    state: Res<PowerState>,
    mut q: Query<
        (&crate::sim::Agent, &mut Prosumer, &mut AgentRng, &Inbox, &mut Outbox, &mut Decision),
        Without<Crashed>,
    >,
) {
    let cfg = &params.0;
    let pc = &cfg.prosumers;
    let now = clock.tick;
    let dt = clock.dt;
    let f0 = cfg.frequency.f0_hz;
    let hour = cfg.profile.hour(now as f64 * dt);
    let demand_factor = cfg.profile.household_factor(hour);
    let sun = cfg.profile.clear_sky(hour) * cfg.profile.pv_scale;
    let a = (-dt / NOISE_TIME_S).exp();
    let noise_k = (pc.noise * (1.0 - a * a).sqrt()) as f32;
    let a = a as f32;
    let report = ticks(pc.report_every_s, dt);
    let price_stale = ticks(cfg.operator.price_every_s * 3.0, dt);
    let priced_mode = matches!(coord.0, Coordination::Centralized | Coordination::Hierarchical);
    let coordinated = coord.0 != Coordination::None;
    let h = (dt / 3600.0) as f32;
    let eff = pc.battery_efficiency as f32;
    let flex_share = pc.flex_share as f32;
    let max_defer = pc.flex_max_defer_s as f32;
    let clouds: Vec<f64> = state.clouds.iter().map(|c| c.transmission()).collect();
    let state = &*state;
    q.par_iter_mut().for_each(|(agent, mut p, mut rng, inbox, mut out, mut d)| {
        let p = &mut *p;
        for m in &inbox.0 {
            match m.kind {
                MSG_PRICE if m.payload[0] < 0.0 || m.payload[0] as u16 == p.area => {
                    p.price = m.payload[1];
                    p.price_mean = if p.price_tick == 0 { p.price } else { 0.95 * p.price_mean + 0.05 * p.price };
                    p.price_tick = now.max(1);
                }
                MSG_DR if m.payload[0] as u16 == p.area => p.dr = m.payload[1] > 0.5,
                _ => {}
            }
        }
        if !coordinated {
            p.dr = false;
        }
        let bus = p.bus as usize;
        let freq = state.bus_freq(bus, f0) as f32;
        p.freq_hz = freq;
        let f0f = f0 as f32;
        let energized = freq > 0.0;
        // Demand.
        p.noise = a * p.noise + noise_k * normal(&mut rng.0) as f32;
        let demand = (pc.load_kw as f32 * demand_factor as f32 * p.size * (1.0 + p.noise)).max(0.0);
        let flexible = demand * flex_share;
        // PV, curtailed by frequency–watt droop above nominal.
        let pv_avail = if p.pv_kw > 0.0 {
            let cloud = clouds.get(p.area as usize).copied().unwrap_or(1.0);
            let factor = state.buses.get(bus).map_or(1.0, |b| b.pv_factor);
            (f64::from(p.pv_kw) * sun * cloud * factor) as f32
        } else {
            0.0
        };
        let over = (freq / f0f - 1.0 - PV_DEADBAND as f32).max(0.0);
        let pv_out = if energized { pv_avail * (1.0 - over / PV_DROOP as f32).clamp(0.0, 1.0) } else { 0.0 };
        p.curtailed_kw = pv_avail - pv_out;
        p.pv_out_kw = pv_out;
        if energized && freq < f0f * (1.0 - p.uf_drop) {
            p.uf_waiting = true;
        } else if p.uf_waiting && (!energized || (freq > f0f * (1.0 - UF_RELEASE as f32) && p.deferred_s >= UF_HOLD_S))
        {
            p.uf_waiting = false;
        }
        let underfreq = p.uf_waiting;
        let priced = priced_mode && p.price_tick > 0 && now.saturating_sub(p.price_tick) <= price_stale;
        let high_price = priced && p.price > p.price_hi * p.price_mean;
        let low_price = priced && p.price < p.price_lo * p.price_mean;
        // Flexible demand waits out an emergency or a high price, up to its limit.
        let mut reason = "self_consume";
        let mut served = demand;
        let wait = underfreq || p.dr || high_price;
        if wait && p.deferred_s < max_defer {
            served -= flexible;
            p.deferred_kwh += flexible * h;
            p.deferred_s += dt as f32;
            reason = if underfreq {
                "underfrequency"
            } else if p.dr {
                "dr_request"
            } else {
                "price_high"
            };
        } else if p.deferred_kwh > 0.0 {
            // Catch up at half the flexible share on top of the demand (a slow payback, so the
            // rebound does not bring the emergency back), or everything when forced.
            let forced = p.deferred_s >= max_defer;
            let rate = if forced {
                p.deferred_kwh / h
            } else {
                (0.5 * flexible.max(0.05 * pc.load_kw as f32)).min(p.deferred_kwh / h)
            };
            served += rate;
            p.deferred_kwh = (p.deferred_kwh - rate * h).max(0.0);
            reason = if forced { "deferral_limit" } else { "catch_up" };
            if p.deferred_kwh <= 1e-6 {
                p.deferred_kwh = 0.0;
                p.deferred_s = 0.0;
            }
        }
        // Battery.
        let mut bat = 0.0f32;
        if p.bat_kwh > 0.0 && energized {
            let net = served - pv_out;
            let room = (p.bat_kwh - p.soc_kwh).max(0.0);
            let avail = (p.soc_kwh - 0.1 * p.bat_kwh).max(0.0);
            let max_charge = p.bat_kw.min(room / (h * eff).max(1e-9));
            let max_dis = p.bat_kw.min(avail * eff / h.max(1e-9));
            // Fast frequency response by droop outside a dead band, on top of any schedule.
            let dev = freq / f0f - 1.0;
            let over = (dev.abs() - BAT_DEADBAND as f32).max(0.0) / BAT_DROOP as f32;
            let droop = -dev.signum() * over.min(1.0) * p.bat_kw;
            let response = if droop == 0.0 { 0.0 } else { p.battery_kw + BAT_LAG * (droop - p.battery_kw) };
            if droop != 0.0 {
                bat = response.clamp(-max_charge, max_dis);
                reason = if droop > 0.0 { "underfrequency" } else { "overfrequency" };
            } else if high_price {
                bat = max_dis;
                reason = "price_high";
            } else if low_price {
                bat = -max_charge;
                reason = "price_low";
            } else if net < 0.0 {
                bat = -(-net).min(max_charge);
                if bat < 0.0 {
                    reason = "pv_surplus";
                }
            } else {
                bat = net.min(max_dis);
            }
            p.soc_kwh = if bat > 0.0 { p.soc_kwh - bat * h / eff } else { p.soc_kwh - bat * h * eff };
            p.soc_kwh = p.soc_kwh.clamp(0.0, p.bat_kwh);
        }
        p.battery_kw = bat;
        p.demand_kw = served;
        p.net_kw = if energized { served - pv_out - bat } else { 0.0 };
        if p.curtailed_kw > 1e-3 && reason == "self_consume" {
            reason = "overfrequency_curtail";
        }
        let action = if bat > 0.0 {
            "discharge"
        } else if bat < 0.0 {
            "charge"
        } else if wait {
            "defer"
        } else {
            "consume"
        };
        *d = Decision { tick: now, action, reason, value: p.net_kw };
        if coordinated && due(now, report, agent.id.0) {
            let soc = if p.bat_kwh > 0.0 { p.soc_kwh / p.bat_kwh } else { 0.0 };
            out.send(
                agent.id,
                Dest::To(roster.area(p.area as usize)),
                MSG_METER,
                16,
                now,
                [p.net_kw, soc, flexible, pv_out],
            );
        }
    });
}

/// Households' net demand onto their buses (the Act phase), summed in one pass in query order.
pub fn act_prosumers(mut state: ResMut<PowerState>, q: Query<&Prosumer>) {
    let s = &mut *state;
    for b in &mut s.buses {
        b.prosumer_mw = 0.0;
    }
    let (mut pv, mut cut, mut soc, mut cap) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for p in &q {
        if let Some(b) = s.buses.get_mut(p.bus as usize) {
            b.prosumer_mw += f64::from(p.net_kw) / 1000.0;
        }
        pv += f64::from(p.pv_out_kw);
        cut += f64::from(p.curtailed_kw);
        soc += f64::from(p.soc_kwh);
        cap += f64::from(p.bat_kwh);
    }
    s.pv_mw = pv / 1000.0;
    s.curtailed_mw = cut / 1000.0;
    s.home_soc_mwh = soc / 1000.0;
    s.home_cap_mwh = cap / 1000.0;
}
