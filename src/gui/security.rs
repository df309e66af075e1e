//! The panel's Security section: the defences, each switchable while the world runs (live
//! edits of `security.*`, recorded for session export like any other), and attack buttons
//! that put an attack on the timeline at the next tick, checked as a scenario's would be,
//! with the attacks in force and an End button each.

use bevy::prelude::*;
use bevy_egui::egui;

use super::Selection;
use super::commands;
use crate::runner::LiveScenario;
use crate::sim::security::{AttackKind, AttackSpec, Attackers, Attacks, Falsify};
use crate::sim::{AgentKind, Registry, Security, SimClock};
use crate::worlds::WorldSpec;

/// The attack buttons' settings.
#[derive(Clone, Debug)]
pub struct AttackDraft {
    /// Which attack (index into [`ATTACKS`]).
    pub attack: usize,
    /// The message kind it works on.
    pub msg: Option<&'static str>,
    /// Attackers: the selected agent, or this share of `kind`.
    pub selected: bool,
    pub kind: Option<AgentKind>,
    pub share: f64,
    /// Falsification: the payload field and the value claimed.
    pub field: usize,
    pub value: f64,
    /// False data: target bus, MW of load moved, a = Hc or not.
    pub target: u32,
    pub magnitude: f64,
    pub stealthy: bool,
    /// Flooding: junk messages per tick per attacker.
    pub per_tick: u32,
    /// Replay: how late recorded messages are sent again, ticks.
    pub delay_ticks: u64,
    /// Sybil: ghost identities per attacker.
    pub ghosts: u32,
}

impl Default for AttackDraft {
    fn default() -> Self {
        AttackDraft {
            attack: 0,
            msg: None,
            selected: false,
            kind: None,
            share: 0.1,
            field: 0,
            value: 0.0,
            target: 1,
            magnitude: -40.0,
            stealthy: true,
            per_tick: 20,
            delay_ticks: 50,
            ghosts: 5,
        }
    }
}

/// The attacks the buttons offer.
pub const ATTACKS: [&str; 7] = ["spoofing", "replay", "falsification", "sybil", "flooding", "hijack", "false_data"];

const AGGREGATIONS: [(&str, &str); 4] = [
    ("Mean", "\"Mean\""),
    ("Median", "\"Median\""),
    ("TrimmedMean(1)", "{\"TrimmedMean\":1}"),
    ("Wmsr(1)", "{\"Wmsr\":1}"),
];

/// Draws the section. `duration` is the faults' duration slider (0 = until ended);
/// `message` the status line.
pub fn section(
    ui: &mut egui::Ui,
    world: &mut World,
    d: &mut AttackDraft,
    duration: u64,
    message: &mut Option<(String, bool)>,
) {
    defences(ui, world, message);
    ui.separator();
    let kinds: Vec<AgentKind> = world.get_resource::<Registry>().map(|r| r.kinds().to_vec()).unwrap_or_default();
    let mut msgs: Vec<&'static str> = world
        .get_resource::<Registry>()
        .map(|r| r.messages().iter().map(|m| m.name).filter(|n| *n != "flood").collect())
        .unwrap_or_default();
    // The world's own messages first (V2V beacons on the ring), the core's (election
    // ballots) after them, so the default target is what the world is about.
    let own = {
        use crate::worlds::WorldSpec;
        world.resource::<crate::runner::LiveScenario>().current.world.message_kinds()
    };
    msgs.sort_by_key(|m| !own.contains(m));
    if d.kind.is_none() {
        d.kind = kinds.first().copied();
    }
    if d.msg.is_none() {
        d.msg = msgs.first().copied();
    }
    egui::ComboBox::from_id_salt("attack_kind").selected_text(ATTACKS[d.attack]).show_ui(ui, |ui| {
        for (k, n) in ATTACKS.iter().enumerate() {
            ui.selectable_value(&mut d.attack, k, *n);
        }
    });
    let name = ATTACKS[d.attack];
    if matches!(name, "spoofing" | "replay" | "falsification" | "sybil") {
        egui::ComboBox::from_id_salt("attack_msg").selected_text(d.msg.unwrap_or("—")).show_ui(ui, |ui| {
            for m in &msgs {
                ui.selectable_value(&mut d.msg, Some(*m), *m);
            }
        });
    }
    if matches!(name, "spoofing" | "falsification" | "sybil") {
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut d.field, 0..=3).text("field"));
            ui.add(egui::DragValue::new(&mut d.value).speed(0.5).prefix("claims "));
        });
    }
    if name == "replay" {
        ui.add(egui::Slider::new(&mut d.delay_ticks, 1..=10_000).logarithmic(true).text("delay (ticks)"));
    }
    if name == "sybil" {
        ui.add(egui::Slider::new(&mut d.ghosts, 1..=64).text("ghosts per attacker"));
    }
    if name == "flooding" {
        ui.add(egui::Slider::new(&mut d.per_tick, 1..=500).logarithmic(true).text("junk per tick"));
    }
    if name == "false_data" {
        ui.horizontal(|ui| {
            ui.add(egui::DragValue::new(&mut d.target).range(0..=100_000).prefix("bus "));
            ui.add(egui::DragValue::new(&mut d.magnitude).speed(1.0).suffix(" MW"));
            ui.checkbox(&mut d.stealthy, "stealthy a = Hc");
        });
    } else {
        let picked = world.resource::<Selection>().agent;
        ui.horizontal(|ui| {
            ui.checkbox(&mut d.selected, "the selected agent");
            if d.selected {
                ui.label(picked.map_or("(none selected)".to_string(), |a| format!("#{}", a.0)));
            } else {
                egui::ComboBox::from_id_salt("attack_who").selected_text(d.kind.map_or("—", AgentKind::name)).show_ui(
                    ui,
                    |ui| {
                        for k in &kinds {
                            ui.selectable_value(&mut d.kind, Some(*k), k.name());
                        }
                    },
                );
                ui.add(egui::Slider::new(&mut d.share, 0.0..=1.0).fixed_decimals(2));
            }
        });
    }
    if ui.button(format!("Start {name}")).clicked() {
        *message = Some(match start(world, d, duration) {
            Ok(id) => (format!("attack #{id} ({name}) starts at the next tick"), false),
            Err(e) => (e, true),
        });
    }
    active(ui, world, message);
}

fn defences(ui: &mut egui::Ui, world: &mut World, message: &mut Option<(String, bool)>) {
    let Some(cfg) = world.get_resource::<Security>().map(|s| s.config.clone()) else { return };
    ui.label(egui::RichText::new("Defences").strong());
    let mut edit = None;
    ui.horizontal_wrapped(|ui| {
        for (label, path, on) in [
            ("authentication", "security.authentication", cfg.authentication),
            ("plausibility", "security.plausibility", cfg.plausibility),
            ("reputation", "security.reputation", cfg.reputation),
        ] {
            let mut v = on;
            if ui.checkbox(&mut v, label).changed() {
                edit = Some((path, v.to_string()));
            }
        }
    });
    let current = format!("{:?}", cfg.aggregation);
    egui::ComboBox::from_id_salt("aggregation").selected_text(format!("aggregation: {current}")).show_ui(ui, |ui| {
        for (n, v) in AGGREGATIONS {
            if ui.selectable_label(n == current, n).clicked() && n != current {
                edit = Some(("security.aggregation", v.to_string()));
            }
        }
    });
    if let Some((path, value)) = edit {
        // Confirmed in the status line like every other edit (an older line would stay).
        *message = Some(match commands::request_edit(world, path, &value) {
            Ok(()) => (format!("{path} = {value} (from the next tick)"), false),
            Err(e) => (e, true),
        });
    }
}

fn start(world: &mut World, d: &AttackDraft, duration: u64) -> Result<u32, String> {
    let msg = || d.msg.map(str::to_string).ok_or("this world has no message kinds".to_string());
    let falsify = Falsify::Extreme { field: d.field, value: d.value };
    let attack = match ATTACKS[d.attack] {
        "spoofing" => AttackKind::Spoofing { msg: msg()?, falsify, victims: Vec::new() },
        "replay" => AttackKind::Replay { msg: msg()?, delay_ticks: d.delay_ticks },
        "falsification" => AttackKind::Falsification { msg: msg()?, falsify },
        "sybil" => AttackKind::Sybil { msg: msg()?, ghosts: d.ghosts, falsify },
        "flooding" => AttackKind::Flooding { to: None, per_tick: d.per_tick, bytes: 200, insider: false },
        "hijack" => AttackKind::Hijack,
        _ => AttackKind::FalseData { target: d.target, magnitude: d.magnitude, stealthy: d.stealthy },
    };
    let attackers = if matches!(attack, AttackKind::FalseData { .. }) {
        Attackers::default()
    } else if d.selected {
        let a = world.resource::<Selection>().agent.ok_or("select an agent first")?;
        Attackers { kind: None, share: 0.0, agents: vec![a.0] }
    } else {
        if d.share <= 0.0 {
            return Err("give a share above 0".to_string());
        }
        Attackers { kind: d.kind, share: d.share, agents: Vec::new() }
    };
    let at = world.resource::<SimClock>().tick;
    let spec = AttackSpec { at, duration: (duration > 0).then_some(duration), attackers, attack, ended_at: None };
    world.resource::<LiveScenario>().current.world.honours(&spec)?;
    Ok(world.resource_mut::<Attacks>().inject(spec))
}

fn active(ui: &mut egui::Ui, world: &mut World, message: &mut Option<(String, bool)>) {
    let now = world.resource::<SimClock>().tick;
    let list: Vec<(u32, &'static str, usize, Option<u64>)> = world
        .resource::<Attacks>()
        .active()
        .iter()
        .map(|a| (a.id, a.spec.attack.name(), a.affected.len(), a.ends.map(|e| e.saturating_sub(now))))
        .collect();
    ui.label(egui::RichText::new(format!("Active attacks ({})", list.len())).strong());
    let mut end = None;
    for (id, name, n, left) in list {
        ui.horizontal(|ui| {
            let left = left.map_or("until ended".to_string(), |r| format!("{r} ticks left"));
            let who = if n > 0 { format!(", {n} agents") } else { String::new() };
            ui.label(format!("#{id} {name}{who} — {left}"));
            if ui.small_button("End").clicked() {
                end = Some(id);
            }
        });
    }
    if let Some(id) = end {
        world.resource_mut::<Attacks>().end(id);
        *message = Some((format!("attack #{id} ends at the next tick"), false));
    }
}
