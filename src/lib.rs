//! masim: simulator of multi-agent systems at scale.

#[cfg(feature = "gui")]
pub mod gui;
