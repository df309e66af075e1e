//! The traffic world's inspector rows: a ring vehicle's arc position, mode and messages
//! heard; a city car's place, trip and hold; a light's stage, control and queues; a
//! controller's role and what it has heard; the perception of the vehicle ahead.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::gui::inspector::row;
use crate::sim::{Coordination, CoordinationRes, SimClock};
use crate::worlds::traffic::city::{Car, CityMap, CityState, NONE};
use crate::worlds::traffic::network::{LaneKind, Network};
use crate::worlds::traffic::ring::{ControllerState, Link};
use crate::worlds::traffic::signals::{Light, SignalController};
use crate::worlds::traffic::{Perception, Vehicle};

/// Rows in the inspector's grid.
pub(super) fn rows(ui: &mut egui::Ui, world: &World, entity: Entity) {
    let e = world.entity(entity);
    if let Some(v) = e.get::<Vehicle>() {
        row(ui, "arc position (m)", format!("{:.1}", v.pos));
        row(ui, "acceleration (m/s²)", format!("{:.2}", v.accel));
        row(ui, "ring slot", v.slot.to_string());
        row(ui, "automated", if v.automated { "yes".into() } else { "no".into() });
    }
    if let Some(l) = e.get::<Link>() {
        row(ui, "driving mode", format!("{:?}", l.mode));
        // What it heard, only where its coordination has it listen (V2V beacons when
        // decentralized, a controller's advice when centralized or hierarchical).
        let coord = world.get_resource::<CoordinationRes>().map_or(Coordination::None, |c| c.0);
        if coord == Coordination::Decentralized {
            row(ui, "leader's last beacon", format!("tick {} ({:.1} m/s)", l.leader_msg_tick, l.leader_speed));
        }
        if matches!(coord, Coordination::Centralized | Coordination::Hierarchical) {
            row(ui, "advice", format!("tick {} ({:.1} m/s)", l.advice_tick, l.advice));
        }
    }
    if let (Some(car), Some(map)) = (e.get::<Car>(), world.get_resource::<CityMap>()) {
        car_rows(ui, car, &map.0, world.get_resource::<SimClock>().map_or(0.5, |c| c.dt));
    }
    if let (Some(light), Some(map)) = (e.get::<Light>(), world.get_resource::<CityMap>()) {
        let dt = world.get_resource::<SimClock>().map_or(0.5, |c| c.dt);
        let now = world.get_resource::<SimClock>().map_or(0, |c| c.tick);
        light_rows(ui, light, &map.0, now, dt);
    }
    if let Some(c) = e.get::<SignalController>() {
        row(ui, "role", c.district.map_or("city controller".to_string(), |d| format!("district {d} controller")));
        row(ui, "lights reporting", c.reports.iter().filter(|r| r.is_some()).count().to_string());
        if c.district.is_none() {
            row(ui, "district summaries", c.summaries.iter().filter(|r| r.is_some()).count().to_string());
        } else {
            row(ui, "city plan (tick)", c.city_plan.map_or("none yet".to_string(), |(t, _)| t.to_string()));
        }
    }
    if let Some(c) = e.get::<ControllerState>() {
        row(ui, "role", c.sector.map_or("central".to_string(), |s| format!("sector {s}")));
        row(ui, "target speed (m/s)", format!("{:.2}", c.u));
        row(ui, "vehicles reporting", c.reports.len().to_string());
    }
    if let Some(p) = e.get::<Perception>() {
        row(ui, "perceived at tick", p.tick.to_string());
        row(ui, "constraining agent", p.target.map_or("none in range".to_string(), |t| format!("#{}", t.0)));
        row(ui, "gap (m)", format!("{:.1}", p.distance_m));
        row(ui, "its speed (m/s)", format!("{:.2}", p.target_speed_mps));
    }
}

/// Sections below the grid: a light's movements.
pub(super) fn sections(ui: &mut egui::Ui, world: &World, entity: Entity) {
    let e = world.entity(entity);
    if let (Some(light), Some(map), Some(st)) =
        (e.get::<Light>(), world.get_resource::<CityMap>(), world.get_resource::<CityState>())
    {
        ui.collapsing("Movements (what each shows)", |ui| {
            let net = &map.0;
            for &m in &net.nodes[light.node as usize].movements {
                let mv = &net.movements[m as usize];
                let shows = st.mov_light.get(m as usize).map_or("?".to_string(), |l| format!("{l:?}"));
                ui.monospace(format!(
                    "{:<8} {:<6} from {} to {}",
                    shows,
                    format!("{:?}", mv.turn),
                    net.nodes[net.links[mv.from as usize].from as usize].name,
                    net.nodes[net.links[mv.to as usize].to as usize].name
                ));
            }
        });
    }
}

/// Where a city car is, in words: a link and lane, or a box and the movement through it.
pub fn car_place(car: &Car, net: &Network) -> String {
    if !car.driving() {
        return format!("parked at {}", net.nodes.get(car.origin as usize).map_or("?", |n| n.name.as_str()));
    }
    match net.lanes.get(car.lane as usize).map(|l| (l.kind, l.length)) {
        Some((LaneKind::Road { link, k }, len)) => {
            format!("{} lane {k}, {:.0}/{:.0} m", net.link_name(link), car.s, len)
        }
        Some((LaneKind::Connector { movement }, _)) => {
            let mv = &net.movements[movement as usize];
            format!("box of {} ({:?} turn)", net.nodes[mv.node as usize].name, mv.turn)
        }
        None => "?".to_string(),
    }
}

fn car_rows(ui: &mut egui::Ui, car: &Car, net: &Network, dt: f64) {
    row(ui, "on", car_place(car, net));
    row(ui, "acceleration (m/s²)", format!("{:.2}", car.accel));
    let origin = net.nodes.get(car.origin as usize).map_or("?", |n| n.name.as_str());
    let dest = if car.dest == NONE {
        "random turns".to_string()
    } else {
        net.nodes.get(car.dest as usize).map_or("?".to_string(), |n| n.name.clone())
    };
    row(ui, "trip", format!("{origin} to {dest}"));
    if car.driving() {
        let route: Vec<String> = car
            .route
            .iter()
            .enumerate()
            .skip(car.leg as usize)
            .map(|(i, &l)| {
                let to = net.links.get(l as usize).map_or("?", |g| net.nodes[g.to as usize].name.as_str());
                if i == car.leg as usize { format!("[{to}]") } else { to.to_string() }
            })
            .collect();
        row(ui, "route ahead", route.join(", "));
        let waited = car.enter_tick.saturating_sub(car.demand_tick) as f64 * dt;
        row(ui, "entered at tick", format!("{} (waited {waited:.0} s to enter)", car.enter_tick));
        row(ui, "stops / reroutes", format!("{} / {}", car.stops, car.reroutes));
        row(ui, "at the stop line", car.hold.reason().to_string());
        let avoid: Vec<String> =
            car.avoid.iter().filter(|a| a.0 != NONE).map(|a| format!("{} +{:.0} s", net.link_name(a.0), a.1)).collect();
        if !avoid.is_empty() {
            row(ui, "heard congested", avoid.join(", "));
        }
    }
}

fn light_rows(ui: &mut egui::Ui, l: &Light, net: &Network, now: u64, dt: f64) {
    let node = &net.nodes[l.node as usize];
    row(ui, "intersection", node.name.clone());
    row(ui, "control", format!("{:?}", l.control));
    row(ui, "showing", format!("{:?}, stage {} of {}", l.state, l.stage + 1, node.stages.len()));
    row(ui, "for (s)", format!("{:.1} (since tick {})", now.saturating_sub(l.since) as f64 * dt, l.since));
    row(ui, "next stage", (l.next + 1).to_string());
    row(ui, "halted on approaches", l.halted.to_string());
    row(
        ui,
        "approaching E/W/N/S",
        format!("{:.0} / {:.0} / {:.0} / {:.0}", l.approach[0], l.approach[1], l.approach[2], l.approach[3]),
    );
    if !l.pressure.is_empty() {
        // A stage that can move nobody (every exit it serves is full) ranks at minus infinity.
        let p: Vec<String> =
            l.pressure.iter().map(|p| if p.is_finite() { format!("{p:.1}") } else { "blocked".into() }).collect();
        row(ui, "stage pressures", p.join(", "));
    }
    if let Some(p) = &l.plan {
        row(ui, "plan (cycle, offset)", format!("{:.0} s, {:.1} s (tick {})", p.cycle, p.offset, p.tick));
    }
    row(ui, "last contact (tick)", l.contact.to_string());
    row(ui, "stage switches", l.switches.to_string());
}
