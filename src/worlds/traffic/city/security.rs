//! The city lights' misbehaviour detection on the queue reports max-pressure control reads
//! (`queue_report`, `[link, vehicles on it, halted, —]`): a count is implausible when it is
//! negative or above what the link can hold, when more vehicles are said to be halted than
//! on it, or when it changed faster than vehicles can enter or leave the link since the
//! sender's previous report (one vehicle a second per lane each way, about twice the
//! saturation flow). Physical bounds only, so a genuine run flags nobody.

use bevy::prelude::*;

use super::CityMap;
use super::signals::{Light, MSG_QUEUE};
use crate::sim::security::Security;
use crate::sim::{Agent, AgentId, Crashed, Inbox, Message, SimClock};

/// Vehicles a lane can take in or let out per second, at most.
const LANE_VEH_PER_S: f64 = 1.0;

fn check(m: &Message, prev: Option<&Message>, storage: f64, lanes: f64, dt: f64) -> Result<(), &'static str> {
    let (count, halted) = (f64::from(m.payload[1]), f64::from(m.payload[2]));
    if !(count.is_finite() && halted.is_finite()) || count < 0.0 || count > storage + 0.5 {
        return Err("queue_out_of_range");
    }
    if halted < 0.0 || halted > count + 0.5 {
        return Err("halted_above_count");
    }
    if let Some(q) = prev.filter(|q| q.payload[0] == m.payload[0] && q.sent < m.sent) {
        let t = (m.sent - q.sent) as f64 * dt;
        let most = 2.0 * lanes * LANE_VEH_PER_S * t + 1.0;
        if (count - f64::from(q.payload[1])).abs() > most {
            return Err("queue_jump");
        }
    }
    Ok(())
}

/// Lights that are not crashed.
type LiveLights = (With<Light>, Without<Crashed>);

/// Verify, plausibility: every light checks the queue reports it received; flagged ones
/// are dropped before its decision reads them.
pub(super) fn check_reports(
    clock: Res<SimClock>,
    map: Res<CityMap>,
    mut sec: ResMut<Security>,
    mut q: Query<(&Agent, &mut Inbox), LiveLights>,
) {
    if !sec.checking() {
        return;
    }
    let net = &map.0;
    let now = clock.tick;
    let mut work: Vec<(AgentId, Mut<Inbox>)> =
        q.iter_mut().filter(|(_, i)| i.0.iter().any(|m| m.kind == MSG_QUEUE)).map(|(a, i)| (a.id, i)).collect();
    work.sort_by_key(|w| w.0);
    for (me, inbox) in work.iter_mut() {
        sec.screen(now, *me, &mut inbox.0, &[MSG_QUEUE], |m, prev| {
            let link = m.payload[0];
            let Some(l) = (link >= 0.0).then(|| net.links.get(link as usize)).flatten() else {
                return (Err("unknown_link"), false);
            };
            let storage: u32 = (l.first_lane..l.first_lane + l.lanes).map(|k| net.lanes[k as usize].capacity).sum();
            let verdict = check(m, prev, f64::from(storage), f64::from(l.lanes), clock.dt);
            (verdict, matches!(verdict, Err("queue_jump")))
        });
    }
}
