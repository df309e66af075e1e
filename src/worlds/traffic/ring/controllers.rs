//! The ring's roadside controllers: reading reports, computing target speeds, advising
//! vehicles (centralized) or sectors under a central controller (hierarchical).

use super::*;

/// Decide for controllers: read reports, compute targets and advice, send them.
#[allow(clippy::type_complexity)]
pub(super) fn decide_controllers(
    clock: Res<SimClock>,
    params: Res<TrafficParams>,
    coord: Res<CoordinationRes>,
    ring: Res<RingRoad>,
    ctl: Res<Controllers>,
    mut q: Query<
        (&Agent, &Inbox, &mut ControllerState, &mut Outbox, &mut Decision, Option<&LeaderView>, Option<&Coordinator>),
        Without<Crashed>,
    >,
) {
    let coord = coord.0;
    if !matches!(coord, Coordination::Centralized | Coordination::Hierarchical) {
        return;
    }
    let cfg = &params.0;
    let now = clock.tick;
    let timeout = cfg.driving.message_timeout_ticks;
    let memory = timeout.saturating_mul(10).max(50);
    let len = vehicle_length(cfg);
    let sectors = ctl.sectors.len().max(1) as f64;
    let nasch = match &cfg.model {
        CarFollowing::Nasch(p) => Some(*p),
        CarFollowing::Idm(_) => None,
    };
    let idm = idm_of(cfg).copied();
    for (agent, inbox, mut st, mut out, mut dec, view, replica) in q.iter_mut() {
        if let Some(r) = replica.filter(|r| !r.leads()) {
            // A standby replica of the central controller: only its election runs.
            *dec = Decision { tick: now, action: "standby", reason: "follower", value: r.replica.term as f32 };
            continue;
        }
        let st = &mut *st;
        for m in &inbox.0 {
            match m.kind {
                MSG_REPORT => {
                    st.reports.insert(m.from.0, (m.sent, m.payload));
                }
                MSG_SECTOR => {
                    let k = m.payload[0] as usize;
                    if k < st.summaries.len() {
                        st.summaries[k] = Some((m.sent, m.payload[1], m.payload[2]));
                    }
                }
                MSG_TARGET => st.target = Some((m.sent, f64::from(m.payload[0]))),
                _ => {}
            }
        }
        let is_central = st.sector.is_none();
        let serves_vehicles =
            (coord == Coordination::Centralized && is_central) || (coord == Coordination::Hierarchical && !is_central);
        // Known vehicles: reported within memory and, for a sector, last seen inside it.
        let sector_len = ring.length / sectors;
        let my_sector = st.sector;
        let inside = |pos: f32| match my_sector {
            Some(k) => ((f64::from(pos) / sector_len) as u32).min(sectors as u32 - 1) == k,
            None => true,
        };
        // Vehicles move between sectors, so a sector only counts recent reports, and
        // only where each reporting vehicle is now by dead reckoning (reported position
        // + speed × age): a vehicle that has crossed into the next sector is counted
        // there, not in both (that over-count lowered the hierarchical target speed).
        let window = if my_sector.is_some() { timeout } else { memory };
        let dt = clock.dt;
        let now_at = |r: &(u64, [f32; 4])| {
            let age = now.saturating_sub(r.0) as f64 * dt;
            (f64::from(r.1[0]) + f64::from(r.1[1]) * age).rem_euclid(ring.length) as f32
        };
        // Reports past the memory can never count again (window ≤ memory).
        st.reports.retain(|_, r| now.saturating_sub(r.0) <= memory);
        let known = st.reports.values().filter(|r| now.saturating_sub(r.0) <= window && inside(now_at(r))).count();
        let target_from_count = |count: f64, road: f64| -> f64 {
            if count <= 0.0 {
                return 0.0;
            }
            let spacing = road / count;
            match (idm, nasch) {
                (Some(p), _) => p.equilibrium_speed(spacing - len),
                (_, Some(np)) => {
                    let rho = count / (road / np.cell_m);
                    ((1.0 / rho - 1.0).floor()).clamp(1.0, f64::from(np.vmax))
                }
                _ => 0.0,
            }
        };
        if coord == Coordination::Hierarchical && is_central {
            // Central: combine sector summaries into one target and send it down.
            let fresh: Vec<(f32, f32)> = st
                .summaries
                .iter()
                .filter_map(|s| s.filter(|s| now.saturating_sub(s.0) <= memory).map(|s| (s.1, s.2)))
                .collect();
            let count: f64 = fresh.iter().map(|s| f64::from(s.0)).sum();
            let road: f64 = fresh.iter().map(|s| f64::from(s.1)).sum();
            if count > 0.0 {
                st.u = target_from_count(count, road);
                for &s in &ctl.sectors {
                    out.send(agent.id, Dest::To(s), MSG_TARGET, 48, now, [st.u as f32, 0.0, 0.0, 0.0]);
                }
                *dec =
                    Decision { tick: now, action: "set_target_speed", reason: "sector_summaries", value: st.u as f32 };
            }
            continue;
        }
        if !serves_vehicles {
            continue;
        }
        if let Some(k) = st.sector {
            if let Some(c) = view.map(|v| v.leader).or(ctl.central) {
                out.send(agent.id, Dest::To(c), MSG_SECTOR, 48, now, [k as f32, known as f32, sector_len as f32, 0.0]);
            }
            let local = target_from_count(known as f64, sector_len);
            st.u = match st.target {
                Some((t, u)) if now.saturating_sub(t) <= timeout => u,
                _ => local,
            };
        } else {
            st.u = target_from_count(known as f64, ring.length);
        }
        // Speed advice: one broadcast of the target speed to the vehicles this controller
        // reaches; each vehicle damps waves with its own sensors around that target.
        let u = st.u;
        // The central controller reaches every vehicle; a sector controller is a roadside
        // unit whose advice covers its own stretch of road (to the sector's ends, as the
        // crow flies from where it stands), not the whole ring.
        let dest = match st.sector {
            Some(_) => {
                let half = std::f64::consts::PI / sectors;
                let (r0, r1) = (ring.radius, ring.radius + super::spawn::ROADSIDE_OFFSET_M);
                Dest::Near(((r0 * r0 + r1 * r1 - 2.0 * r0 * r1 * half.cos()).sqrt() + 1.0) as f32)
            }
            None => Dest::Kind(VEHICLE),
        };
        if known > 0 {
            out.send(agent.id, dest, MSG_ADVICE, 48, now, [u as f32, known as f32, now as f32, 0.0]);
        }
        *dec = Decision {
            tick: now,
            action: "advise_vehicles",
            reason: if known > 0 { "fresh_reports" } else { "no_reports" },
            value: u as f32,
        };
    }
}
