//! Agent inspector: the selected agent's identity, pose, its world's rows (perception, state),
//! decisions with reasons, inbox and outbox.

use bevy::prelude::*;
use bevy_egui::egui;

use super::Selection;
use super::agents::AgentIndex;
use super::worlds::WorldGui;
use crate::sim::{
    Agent, AgentId, Coordinator, Crashed, Decision, Hijacked, Inbox, LeaderView, Message, Outbox, Pose, Security,
    SimClock,
};

/// Draws the inspector for the selected agent, with the world's own rows and sections.
pub fn show(ui: &mut egui::Ui, world: &mut World, gui: &WorldGui) {
    ui.heading("Inspector");
    let Some(id) = world.resource::<Selection>().agent else {
        ui.label("Click an agent in the world view to inspect it.");
        return;
    };
    let Some(entity) = world.resource::<AgentIndex>().entity(id) else {
        ui.label(format!("Agent {} no longer exists.", id.0));
        if ui.button("Clear selection").clicked() {
            world.resource_mut::<Selection>().agent = None;
        }
        return;
    };
    let Ok(e) = world.get_entity(entity) else {
        return;
    };
    let Some(agent) = e.get::<Agent>().copied() else {
        return;
    };
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(format!("{} #{}", agent.kind.name(), agent.id.0)).strong());
        if let Some(c) = e.get::<Crashed>() {
            ui.colored_label(egui::Color32::from_rgb(200, 120, 255), format!("CRASHED since tick {}", c.since));
        }
        if let Some(h) = e.get::<Hijacked>() {
            ui.colored_label(egui::Color32::from_rgb(255, 90, 60), format!("HIJACKED since tick {}", h.since));
        }
    });
    let mut follow = world.resource::<Selection>().follow;
    let mut clear = false;
    ui.horizontal(|ui| {
        ui.checkbox(&mut follow, "Follow");
        clear = ui.button("Deselect").clicked();
    });
    let e = world.entity(entity);
    egui::Grid::new("inspector_state").num_columns(2).striped(true).show(ui, |ui| {
        if let Some(p) = e.get::<Pose>() {
            row(ui, "position (m)", format!("{:.1}, {:.1}", p.x, p.y));
            row(ui, "heading (°)", format!("{:.0}", p.heading.to_degrees().rem_euclid(360.0)));
            row(ui, "speed (m/s)", format!("{:.2}", p.speed));
        }
        (gui.inspector_rows)(ui, world, entity);
        if let Some(c) = e.get::<Coordinator>() {
            let r = &c.replica;
            row(ui, "replica", format!("{} of {} (group {})", r.id, r.n, c.group));
            row(ui, "role, term", format!("{}, term {}", r.role.name(), r.term));
            let leader = r.leader.map_or("none heard".to_string(), |l| format!("#{}", c.peers[l as usize].0));
            row(ui, "leader", leader);
            if let Some(t) = c.leader_since.filter(|_| c.leads()) {
                row(ui, "leading since tick", t.to_string());
            }
            if let Some((t, why)) = c.last_election {
                row(ui, "last election", format!("tick {t} ({why})"));
            }
        } else if let Some(v) = e.get::<LeaderView>()
            && world.get_resource::<Security>().is_some_and(|s| s.config.failover.enabled())
        {
            row(ui, "follows", format!("#{} (term {}, heard at tick {})", v.leader.0, v.term, v.heard));
        }
        if let Some(d) = e.get::<Decision>() {
            row(ui, "decision", format!("{} ({:.2})", d.action, d.value));
            row(ui, "reason", d.reason.to_string());
            row(ui, "decided at tick", d.tick.to_string());
        }
    });
    (gui.inspector_sections)(ui, world, entity);
    trust_rows(ui, world, agent.id);
    ui.collapsing("Decision history (changes)", |ui| {
        let sel = world.resource::<Selection>();
        if sel.history.is_empty() {
            ui.small("recorded from the moment of selection");
        }
        for (tick, action, reason, value) in sel.history.iter().rev() {
            ui.monospace(format!("{tick:>7}  {action:<14} {reason}  ({value:.2})"));
        }
    });
    let e = world.entity(entity);
    let inbox = e.get::<Inbox>().map(|i| i.0.clone()).unwrap_or_default();
    let outbox = e.get::<Outbox>().map(|o| o.0.clone()).unwrap_or_default();
    ui.collapsing(format!("Inbox, last tick ({})", inbox.len()), |ui| messages(ui, &inbox, true));
    ui.collapsing(format!("Outbox, last tick ({})", outbox.len()), |ui| messages(ui, &outbox, false));
    let mut sel = world.resource_mut::<Selection>();
    sel.follow = follow;
    if clear {
        sel.agent = None;
        sel.follow = false;
        sel.history.clear();
    }
}

/// What receivers make of the agent as a sender: its beta reputation, whether it is
/// distrusted, how many of its messages each defence dropped and why the last one was.
fn trust_rows(ui: &mut egui::Ui, world: &World, id: AgentId) {
    let Some(sec) = world.get_resource::<Security>() else { return };
    let now = world.resource::<SimClock>().tick;
    ui.collapsing("Trust (as a sender)", |ui| {
        let Some(r) = sec.sender(id) else {
            ui.small("no defence has judged its messages");
            return;
        };
        egui::Grid::new("inspector_trust").num_columns(2).striped(true).show(ui, |ui| {
            let e = r.reputation.expectation_at(now, sec.config.forgetting);
            row(ui, "reputation E", format!("{e:.3}{}", if r.distrusted { "  (distrusted)" } else { "" }));
            row(ui, "rejected: MAC", r.rejected_auth.to_string());
            row(ui, "rejected: replay", r.rejected_replay.to_string());
            row(ui, "flagged implausible", r.flagged.to_string());
            row(ui, "ignored (distrusted)", r.rejected_distrusted.to_string());
            if let Some((t, why)) = r.last_reason {
                row(ui, "last rejection", format!("{why} at tick {t}"));
            }
        });
    });
}

/// One name/value row; a value too long for the panel wraps onto more lines, never cut.
pub fn row(ui: &mut egui::Ui, name: &str, value: String) {
    ui.label(name);
    ui.add(egui::Label::new(egui::RichText::new(value).monospace()).wrap());
    ui.end_row();
}

fn messages(ui: &mut egui::Ui, list: &[Message], incoming: bool) {
    const SHOWN: usize = 30;
    for m in list.iter().take(SHOWN) {
        let who = if incoming { format!("from #{}", m.from.0) } else { format!("to {:?}", m.dest) };
        ui.add(
            egui::Label::new(
                egui::RichText::new(format!(
                    "{:<14} {who}  sent {}  {}B  [{:.1} {:.1} {:.1} {:.1}]",
                    m.kind, m.sent, m.bytes, m.payload[0], m.payload[1], m.payload[2], m.payload[3]
                ))
                .monospace(),
            )
            .wrap(),
        );
    }
    if list.len() > SHOWN {
        ui.small(format!("… and {} more", list.len() - SHOWN));
    }
}
