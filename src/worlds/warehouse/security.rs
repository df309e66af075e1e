//! The warehouse's misbehaviour detection (`security.plausibility`): a robot's cell, as it
//! reports it, against the reservation it moved under.
//! - Negotiation: a robot's intent gives its cell after its move and the cell it claims
//!   for the next tick, and an honest robot only ever moves into the cell it claimed (when
//!   the claim is granted) or backs off a deadlock (its next intent says so). A robot that
//!   hears two intents of a neighbour on consecutive ticks flags the second when the
//!   neighbour is neither where it was nor in the cell it claimed: it moved off its claim.
//! - Central planning: the fleet manager flags a status report on a consecutive tick whose
//!   cell is neither the robot's last reported cell nor the cell reserved for it that tick.
//!
//! - Auctions: a bid gives the bidder's path length to the order's pick and its cell; no
//!   path is shorter than the grid (Manhattan) distance between the two, so a bid below it
//!   is flagged (a zero-cost bid, forged or an insider's).
//!
//! Either way a reported cell that is not a passable cell of the floor is flagged. Flagged
//! messages are dropped, so the others plan around the robot as an obstacle they sense.
//! A lost claim, a late or lost reservation or the interlock only ever leave an honest
//! robot where it was, so a genuine run flags nobody (tested); what the checks cannot see
//! is a liar that reports a false cell consistent with its claims (no robot here senses
//! another's identity, only occupancy).

use bevy::prelude::*;

use super::fleet::{FleetState, status_plausible};
use super::floor::Floor;
use super::map::Cell;
use super::msg;
use super::robots::{Link, Robot, claim_key, decode_prio};
use super::tasks::Ledger;
use crate::sim::security::Security;
use crate::sim::{Agent, AgentId, Crashed, Inbox, Message, SimClock};

/// Whether `x` names a passable cell of the floor.
fn passable(floor: &Floor, x: f32) -> bool {
    x >= 0.0 && (x as usize) < floor.base.len() && floor.base.is_passable(x as Cell)
}

/// The grid distance between two cells, a lower bound of any path between them.
fn manhattan(floor: &Floor, a: Cell, b: Cell) -> u32 {
    let cols = floor.cols();
    (a / cols).abs_diff(b / cols) + (a % cols).abs_diff(b % cols)
}

/// A bid against the grid distance from the cell it gives to the order's pick.
fn check_bid(floor: &Floor, ledger: &Ledger, m: &Message) -> Result<(), &'static str> {
    if !passable(floor, m.payload[2]) {
        return Err("cell_impassable");
    }
    let Some(task) = (m.payload[0] >= 0.0).then(|| ledger.get(m.payload[0] as u32)).flatten() else {
        return Err("unknown_order");
    };
    let least = manhattan(floor, m.payload[2] as Cell, task.pick);
    if m.payload[1].is_finite() && m.payload[1] + 0.5 >= least as f32 { Ok(()) } else { Err("bid_below_distance") }
}

/// A neighbour's intent against its intent of the tick before (if this robot heard it)
/// and this robot's own claim for the tick the intent was sent, `mine` = (tick, cell, key).
fn check_intent(
    floor: &Floor,
    m: &Message,
    prev: Option<&Message>,
    mine: Option<(u64, Cell, u64)>,
    seed: u64,
) -> Result<(), &'static str> {
    if !passable(floor, m.payload[0]) {
        return Err("cell_impassable");
    }
    let Some(p) = prev.filter(|p| p.kind == msg::INTENT && p.sent + 1 == m.sent) else { return Ok(()) };
    let (cell, was, claimed) = (m.payload[0], p.payload[0], p.payload[3]);
    if cell == was || decode_prio(m.payload[2]).1 {
        return Ok(());
    }
    if claimed < 0.0 || cell != claimed {
        return Err("moved_off_claim");
    }
    // It moved into the cell it claimed: not if this robot claimed that cell first (the
    // rule every neighbour applies refuses the lower claim).
    let theirs = claim_key(seed, decode_prio(p.payload[2]).0, m.from.0);
    match mine {
        Some((t, c, k)) if t == m.sent && c as f32 == cell && k > theirs => Err("took_a_cell_not_granted"),
        _ => Ok(()),
    }
}

/// Verify, plausibility: robots check their neighbours' intents, the fleet manager the
/// robots' status reports; flagged ones are dropped before anybody decides on them.
#[allow(clippy::type_complexity)]
pub(super) fn check_reports(
    clock: Res<SimClock>,
    floor: Res<Floor>,
    ledger: Res<Ledger>,
    mut sec: ResMut<Security>,
    mut robots: Query<(&Agent, &mut Inbox, &Link), (With<Robot>, Without<Crashed>)>,
    mut managers: Query<(&Agent, &mut Inbox, &FleetState), (Without<Robot>, Without<Crashed>)>,
) {
    if !sec.checking() {
        return;
    }
    let now = clock.tick;
    let seed = clock.seed;
    let mut work: Vec<(AgentId, Mut<Inbox>, Option<(u64, Cell, u64)>)> = robots
        .iter_mut()
        .filter(|(_, i, _)| i.0.iter().any(|m| m.kind == msg::INTENT || m.kind == msg::BID))
        .map(|(a, i, l)| {
            let mine = l.claimed.map(|c| (c.0, c.1, claim_key(seed, c.2, a.id.0)));
            (a.id, i, mine)
        })
        .collect();
    work.sort_by_key(|w| w.0);
    for (me, inbox, mine) in work.iter_mut() {
        sec.screen(now, *me, &mut inbox.0, &[msg::BID, msg::INTENT], |m, prev| {
            if m.kind == msg::BID {
                return (check_bid(&floor, &ledger, m), false);
            }
            let verdict = check_intent(&floor, m, prev, *mine, seed);
            (verdict, matches!(verdict, Err("moved_off_claim" | "took_a_cell_not_granted")))
        });
    }
    let mut work: Vec<(AgentId, Mut<Inbox>, &FleetState)> = managers
        .iter_mut()
        .filter(|(_, i, _)| i.0.iter().any(|m| m.kind == msg::STATUS))
        .map(|(a, i, f)| (a.id, i, f))
        .collect();
    work.sort_by_key(|w| w.0);
    for (me, inbox, fs) in work.iter_mut() {
        sec.screen(now, *me, &mut inbox.0, &[msg::STATUS], |m, _| {
            (if passable(&floor, m.payload[0]) { status_plausible(fs, m) } else { Err("cell_impassable") }, false)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::robots::encode_prio;

    #[test]
    fn the_back_off_mark_round_trips_and_keeps_the_priority() {
        for p in [0u32, 1, 7, 1 << 20] {
            for b in [false, true] {
                assert_eq!(super::decode_prio(encode_prio(p, b)), (p, b));
            }
        }
    }
}
