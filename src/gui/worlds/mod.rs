//! Each world's part of the app, chosen when the app is built: its drawing plugin, its
//! panel controls as data, its default plots, its inspector rows and its overlay toggles.
//! [`gui_for`] is the registry (the app's only match over worlds); adding a world adds
//! its folder here and one line there.

pub mod power;
pub mod traffic;
pub mod warehouse;

use bevy::prelude::*;
use bevy_egui::egui;

use super::controls::Control;
use super::legend::LegendItem;
use crate::scenario::{Scenario, WorldConfig};

/// What the app needs of a world.
pub struct WorldGui {
    /// Adds the world's drawing systems (its map and agents, in `DrawSet::World`).
    pub plugin: fn(&mut App),
    /// The world's live parameters for the scenario in force, as data the panel draws.
    pub controls: fn(&Scenario) -> Vec<Control>,
    /// Metric columns plotted when the app opens.
    pub default_plots: fn(&Scenario) -> Vec<&'static str>,
    /// Rows the inspector adds (in its grid of name and value) for an agent of this world.
    pub inspector_rows: fn(&mut egui::Ui, &World, Entity),
    /// Sections the inspector adds below the grid.
    pub inspector_sections: fn(&mut egui::Ui, &World, Entity),
    /// The world's own overlay toggles and legends, in the Overlays section.
    pub overlay_controls: fn(&mut egui::Ui, &mut World),
    /// Colours of the world's message kinds (rgb).
    pub message_colors: &'static [(&'static str, [u8; 3])],
    /// The world's entries of the on-screen legend, for the state in force (the app adds
    /// message colours and fault shading).
    pub legend: fn(&World) -> Vec<LegendItem>,
}

/// The GUI part of the scenario's world.
pub fn gui_for(world: &WorldConfig) -> &'static WorldGui {
    match world {
        WorldConfig::Traffic(_) => &traffic::GUI,
        WorldConfig::Power(_) => &power::GUI,
        WorldConfig::Warehouse(_) => &warehouse::GUI,
    }
}
