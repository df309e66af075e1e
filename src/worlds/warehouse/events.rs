//! The warehouse's own timeline (the core's `Timeline`): blocked cells and charger outages,
//! scheduled in the scenario or injected from the app, recorded so an exported session
//! replays them. A cell is blocked once no robot stands on it (the block waits, logged); a
//! charger in an outage charges nobody and robots choose another.

use std::collections::{BTreeMap, BTreeSet};

use bevy::prelude::*;
use serde_json::json;

use super::config::{EventKind, WarehouseEvent};
use super::floor::Floor;
use super::map::Cell;
use super::planning::NONE;
use super::robots::Occupancy;
use super::tasks::Chargers;
use crate::sim::timeline::Timeline;
use crate::sim::{EventLog, SimClock};

/// The timeline and what is in force.
#[derive(Resource, Debug, Clone)]
pub struct WorldEvents {
    /// Scheduled, active and past events.
    pub timeline: Timeline<WarehouseEvent>,
    /// Blocked cells: cell → the events holding it.
    blocked: BTreeMap<Cell, Vec<u32>>,
    /// Blocks that started on an occupied cell: (event, cell), applied once it is free.
    pending: Vec<(u32, Cell)>,
    /// Chargers out: charger → the events holding it.
    outages: BTreeMap<u32, Vec<u32>>,
}

impl WorldEvents {
    /// A timeline from the scenario's list.
    pub fn new(list: Vec<WarehouseEvent>) -> Self {
        WorldEvents {
            timeline: Timeline::new(list),
            blocked: BTreeMap::new(),
            pending: Vec::new(),
            outages: BTreeMap::new(),
        }
    }

    /// Cells blocked now.
    pub fn blocked_cells(&self) -> BTreeSet<Cell> {
        self.blocked.keys().copied().collect()
    }

    /// Cells whose block waits for a robot to leave.
    pub fn pending_cells(&self) -> impl Iterator<Item = Cell> + '_ {
        self.pending.iter().map(|p| p.1)
    }

    /// Injects an event at run time (it starts at the next tick); returns its id.
    pub fn inject(&mut self, e: WarehouseEvent) -> u32 {
        self.timeline.inject(e)
    }

    /// The active outage of charger `k`, if any (the app ends it).
    pub fn outage(&self, k: u32) -> Option<u32> {
        self.outages.get(&k).and_then(|v| v.first().copied())
    }

    /// The active event blocking `cell`, if any (the app ends it to unblock).
    pub fn blocking(&self, cell: Cell) -> Option<u32> {
        self.blocked
            .get(&cell)
            .and_then(|v| v.first().copied())
            .or_else(|| self.pending.iter().find(|p| p.1 == cell).map(|p| p.0))
    }
}

/// Inject (world): events end and start; pending blocks take effect once their cell is free.
pub(super) fn apply_events(
    clock: Res<SimClock>,
    floor: Res<Floor>,
    occ: Res<Occupancy>,
    mut ev: ResMut<WorldEvents>,
    mut chargers: ResMut<Chargers>,
    mut log: ResMut<EventLog>,
) {
    let now = clock.tick;
    let ev = &mut *ev;
    for a in ev.timeline.take_ended(now) {
        match a.spec.event {
            EventKind::BlockCell { row, col } => {
                let Some(cell) = floor.base.index(row, col) else { continue };
                ev.pending.retain(|p| p.0 != a.id);
                if let Some(holders) = ev.blocked.get_mut(&cell) {
                    holders.retain(|&h| h != a.id);
                    if holders.is_empty() {
                        ev.blocked.remove(&cell);
                        log.push(now, "cell_unblocked", None, [("row", json!(row)), ("col", json!(col))]);
                    }
                }
            }
            EventKind::ChargerOutage { charger } => {
                if let Some(holders) = ev.outages.get_mut(&charger) {
                    holders.retain(|&h| h != a.id);
                    if holders.is_empty() {
                        ev.outages.remove(&charger);
                        if let Some(c) = chargers.list.get_mut(charger as usize) {
                            c.online = true;
                        }
                        log.push(now, "charger_online", None, [("charger", json!(charger))]);
                    }
                }
            }
        }
    }
    while let Some(s) = ev.timeline.next_due(now) {
        let id = s.id;
        match s.spec.event.clone() {
            EventKind::BlockCell { row, col } => match floor.base.index(row, col) {
                Some(cell) if floor.base.is_passable(cell) => {
                    if occ.at(cell) == NONE {
                        ev.blocked.entry(cell).or_default().push(id);
                        log.push(now, "cell_blocked", None, [("row", json!(row)), ("col", json!(col))]);
                    } else {
                        ev.pending.push((id, cell));
                        log.push(
                            now,
                            "cell_block_waiting",
                            Some(occ.at(cell)),
                            [("row", json!(row)), ("col", json!(col)), ("reason", json!("a robot is on the cell"))],
                        );
                    }
                }
                _ => log.push(
                    now,
                    "event_ignored",
                    None,
                    [("row", json!(row)), ("col", json!(col)), ("reason", json!("not a passable cell of the map"))],
                ),
            },
            EventKind::ChargerOutage { charger } => {
                if let Some(c) = chargers.list.get_mut(charger as usize) {
                    c.online = false;
                    ev.outages.entry(charger).or_default().push(id);
                    log.push(now, "charger_outage", None, [("charger", json!(charger))]);
                } else {
                    log.push(
                        now,
                        "event_ignored",
                        None,
                        [("charger", json!(charger)), ("reason", json!("no such charger"))],
                    );
                }
            }
        }
        ev.timeline.activate(now, s, Vec::new());
    }
    let mut still = Vec::new();
    for (id, cell) in std::mem::take(&mut ev.pending) {
        if occ.at(cell) == NONE {
            ev.blocked.entry(cell).or_default().push(id);
            let (row, col) = floor.base.row_col(cell).unwrap_or((0, 0));
            log.push(now, "cell_blocked", None, [("row", json!(row)), ("col", json!(col))]);
        } else {
            still.push((id, cell));
        }
    }
    ev.pending = still;
}
