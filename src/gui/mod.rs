//! The desktop app (feature "gui"): draws a running world and steers it.
