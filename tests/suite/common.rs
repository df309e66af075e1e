//! What several test modules share.

use std::path::PathBuf;

/// Every scenario file in `scenarios/`, sorted by name.
pub fn scenario_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("scenarios")
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    v.sort();
    assert!(v.iter().any(|p| p.ends_with("traffic_ring.ron")), "expected the scenario files, found {v:?}");
    v
}
