//! The floor a scenario describes, built once at start: the map from the scenario's rows,
//! masim's layout generator or a MovingAI file (with errors positioned in the file they come
//! from), the chargers (the map's own or placed by the rule), the station lists orders are
//! drawn from, the zones, the robots' start cells, and the floor as the robots know it now —
//! the map with its blocked cells and the cells of robots that are down — with the distance
//! tables every planner shares.

use std::collections::BTreeSet;
use std::path::Path;

use bevy::prelude::*;

use super::config::{ChargerConfig, MapSource, WarehouseConfig};
use super::map::{self, Cell, CellKind, GridMap};
use super::planning::{DistanceCache, GridGraph};

/// Most cells a warehouse floor may have: cell numbers travel in messages as `f32`, exact
/// up to 2²⁴.
pub const MAX_FLOOR_CELLS: u64 = 1 << 24;

/// A problem with the floor, at a field path below `world.` and in the user's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloorError {
    /// Field path (`world.map.path`, `world.map[3]`).
    pub path: String,
    /// What is wrong; for a MovingAI file it starts with `FILE:LINE:COLUMN:`.
    pub message: String,
}

impl FloorError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FloorError { path: path.into(), message: message.into() }
    }
}

/// The map a source describes, with chargers placed on a map that has none.
pub fn load_map(source: &MapSource, chargers: &ChargerConfig) -> Result<GridMap, FloorError> {
    let mut m = match source {
        MapSource::Rows(rows) => map::parse_rows(rows).map_err(|e| {
            let path = if matches!(e.kind, map::RowsErrorKind::Empty) || rows.is_empty() {
                "world.map".to_string()
            } else {
                format!("world.map[{}]", e.row)
            };
            let message = match &e.kind {
                map::RowsErrorKind::UnknownChar { .. } => format!("character {}: {}", e.col + 1, e.kind),
                map::RowsErrorKind::RowLength { .. } => format!("map row {}: {}", e.row, e.kind),
                _ => e.kind.to_string(),
            };
            FloorError::new(path, message)
        })?,
        MapSource::Layout(l) => l.generate().map_err(|e| FloorError::new("world.map", e.to_string()))?,
        MapSource::MovingAi { path } => {
            let bytes = std::fs::read(path).map_err(|e| {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    std::io::ErrorKind::IsADirectory => "is a folder, not a MovingAI .map file".to_string(),
                    _ => format!("cannot read: {e}"),
                };
                FloorError::new("world.map.path", format!("{path}: {why}"))
            })?;
            map::parse_movingai(&bytes).map_err(|e| {
                FloorError::new(
                    "world.map.path",
                    format!("{path}:{}:{}: {} (a MovingAI map: `type octile`, `height H`, `width W`, `map`, then H rows of W characters)", e.line, e.column, e.kind),
                )
            })?
        }
    };
    if m.len() as u64 > MAX_FLOOR_CELLS {
        return Err(FloorError::new(
            "world.map",
            format!("the floor has {} cells; at most {MAX_FLOOR_CELLS} are supported", m.len()),
        ));
    }
    if m.free_cell_count() == 0 {
        return Err(FloorError::new("world.map", "the floor has no passable cell"));
    }
    if m.count(CellKind::Charger) == 0 && chargers.count > 0 {
        map::place_chargers(&mut m, chargers.count as usize)
            .map_err(|e| FloorError::new("world.chargers.count", e.to_string()))?;
    }
    Ok(m)
}

/// The chargers of a map: each maximal 4-connected group of charger cells is one charger
/// whose cells are its bays; chargers are numbered by their smallest cell, bays ascending.
pub fn charger_groups(m: &GridMap) -> Vec<Vec<Cell>> {
    let cells = m.cells_of(CellKind::Charger);
    let mut seen = vec![false; m.len()];
    let mut groups = Vec::new();
    for &c in &cells {
        if seen[c as usize] {
            continue;
        }
        let mut group = vec![c];
        seen[c as usize] = true;
        let mut k = 0;
        while k < group.len() {
            let u = group[k];
            k += 1;
            for v in m.adjacent(u) {
                if !seen[v as usize] && m.kind(v) == Some(CellKind::Charger) {
                    seen[v as usize] = true;
                    group.push(v);
                }
            }
        }
        group.sort_unstable();
        groups.push(group);
    }
    groups
}

/// The floor: the map as built, the map as the robots know it now, and the shared distance
/// tables over the latter.
#[derive(Resource)]
pub struct Floor {
    /// The map as built (with its stations and chargers).
    pub base: GridMap,
    /// The map as known now: `base` with blocked cells and the cells of robots that are down.
    pub map: GridMap,
    /// Side of a cell, m.
    pub cell_m: f64,
    /// Distance tables over `map`.
    pub cache: DistanceCache,
    /// Where orders are picked: the pick stations, or every free cell on a map without any.
    pub picks: Vec<Cell>,
    /// Where orders are delivered: the drop stations, or every free cell.
    pub drops: Vec<Cell>,
    /// Parking spots.
    pub parking: Vec<Cell>,
    /// Chargers, each its bays.
    pub chargers: Vec<Vec<Cell>>,
    /// Zone grid (columns, rows).
    pub zones: (u32, u32),
    /// Cells blocked by events now.
    pub blocked: BTreeSet<Cell>,
    /// Cells of robots that are down (crashed, broken, stranded) now.
    pub down: BTreeSet<Cell>,
    /// Bumped whenever `map` changes (the app redraws the floor).
    pub version: u64,
    /// Free cells (no station) in the order robots are placed on them.
    free: Vec<Cell>,
    /// Whether `picks` and `drops` are stations (false: errands between free cells).
    pub stations: bool,
    capacity: usize,
}

impl Floor {
    /// Builds the floor for `cfg`.
    pub fn new(cfg: &WarehouseConfig) -> Result<Floor, FloorError> {
        Ok(Floor::with_map(cfg, load_map(&cfg.map, &cfg.chargers)?))
    }

    /// Builds the floor for `cfg` on a map already loaded (see [`load_map`]).
    pub fn with_map(cfg: &WarehouseConfig, base: GridMap) -> Floor {
        let st = base.stations();
        let free = base.cells_of(CellKind::Free);
        let stations = !st.pick.is_empty();
        let picks = if st.pick.is_empty() { free.clone() } else { st.pick.clone() };
        let drops = if st.drop.is_empty() { free.clone() } else { st.drop.clone() };
        let chargers = charger_groups(&base);
        let bays: usize = chargers.iter().map(Vec::len).sum();
        let goals =
            if stations && !st.drop.is_empty() { st.pick.len() + st.drop.len() } else { 2 * cfg.robots as usize + 64 };
        let capacity = goals + bays + st.parking.len() + cfg.robots as usize / 4 + 64;
        let cache = DistanceCache::new(GridGraph::new(&base), capacity);
        Floor {
            map: base.clone(),
            base,
            cell_m: cfg.cell_m,
            cache,
            picks,
            drops,
            parking: st.parking,
            chargers,
            zones: (cfg.zones.cols.max(1), cfg.zones.rows.max(1)),
            blocked: BTreeSet::new(),
            down: BTreeSet::new(),
            version: 0,
            free,
            stations,
            capacity,
        }
    }

    /// Rows of the map.
    pub fn rows(&self) -> u32 {
        self.base.rows()
    }

    /// Columns of the map.
    pub fn cols(&self) -> u32 {
        self.base.cols()
    }

    /// Centre of a cell in metres: x = (col + 0.5)·cell_m, y = (rows − row − 0.5)·cell_m.
    pub fn xy(&self, cell: Cell) -> (f32, f32) {
        let (x, y) = self.base.centre_m(cell, self.cell_m).unwrap_or((0.0, 0.0));
        (x as f32, y as f32)
    }

    /// The zone a cell lies in (zones numbered row by row from the north-west).
    pub fn zone_of(&self, cell: Cell) -> u32 {
        let (r, c) = self.base.row_col(cell).unwrap_or((0, 0));
        let (zc, zr) = self.zones;
        let col = (u64::from(c) * u64::from(zc) / u64::from(self.cols().max(1))) as u32;
        let row = (u64::from(r) * u64::from(zr) / u64::from(self.rows().max(1))) as u32;
        row.min(zr - 1) * zc + col.min(zc - 1)
    }

    /// Centre of zone `z` in metres.
    pub fn zone_centre(&self, z: u32) -> (f32, f32) {
        let (zc, zr) = self.zones;
        let (col, row) = (z % zc, z / zc);
        let w = self.cols() as f64 * self.cell_m;
        let h = self.rows() as f64 * self.cell_m;
        let x = (f64::from(col) + 0.5) / f64::from(zc) * w;
        let y = h - (f64::from(row) + 0.5) / f64::from(zr) * h;
        (x as f32, y as f32)
    }

    /// Centre of the floor in metres (where the fleet manager sits).
    pub fn centre(&self) -> (f32, f32) {
        ((self.cols() as f64 * self.cell_m * 0.5) as f32, (self.rows() as f64 * self.cell_m * 0.5) as f32)
    }

    /// Cells a robot may start on: parking spots, then free cells spread evenly over the
    /// floor; `n` of them, skipping those `taken`. Fewer when the floor is full.
    pub fn start_cells(&self, n: usize, taken: &dyn Fn(Cell) -> bool) -> Vec<Cell> {
        let mut out = Vec::with_capacity(n);
        for &c in &self.parking {
            if out.len() == n {
                return out;
            }
            if self.map.is_passable(c) && !taken(c) {
                out.push(c);
            }
        }
        let want = n - out.len();
        for i in map::evenly_spaced(self.free.len(), want.min(self.free.len())) {
            let c = self.free[i];
            if self.map.is_passable(c) && !taken(c) && !out.contains(&c) {
                out.push(c);
            }
        }
        // Some were taken: fill up from any free cell.
        if out.len() < n {
            let have: BTreeSet<Cell> = out.iter().copied().collect();
            for &c in &self.free {
                if out.len() == n {
                    break;
                }
                if self.map.is_passable(c) && !taken(c) && !have.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }

    /// How many robots the floor can hold at start (parking spots and free cells).
    pub fn capacity_for_robots(&self) -> usize {
        self.parking.len() + self.free.len()
    }

    /// Puts the known obstacles in force: the map is `base` with `blocked` and `down` cells
    /// blocked, and the distance tables start afresh when it changed. Returns whether it did.
    pub fn set_obstacles(&mut self, blocked: &BTreeSet<Cell>, down: &BTreeSet<Cell>) -> bool {
        if *blocked == self.blocked && *down == self.down {
            return false;
        }
        self.blocked = blocked.clone();
        self.down = down.clone();
        let mut m = self.base.clone();
        for &c in blocked.iter().chain(down) {
            m.set(c, CellKind::Blocked);
        }
        self.map = m;
        self.cache = DistanceCache::new(GridGraph::new(&self.map), self.capacity);
        self.version += 1;
        true
    }

    /// Path length between two cells on the floor as known now; `None` when either is not
    /// passable or they are not connected.
    pub fn distance(&mut self, from: Cell, to: Cell) -> Option<u32> {
        self.cache.distance(from, to)
    }
}

/// Reads a relative map path against `base` (the scenario file's folder) and makes it
/// absolute, so the same file is found wherever the resolved scenario is read.
pub fn resolve(path: &str, base: &Path) -> String {
    let p = Path::new(path);
    if p.is_absolute() || path.is_empty() {
        return path.to_string();
    }
    let joined = base.join(p);
    std::path::absolute(&joined).unwrap_or(joined).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&str]) -> MapSource {
        MapSource::Rows(r.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn rows_errors_name_the_row_and_column() {
        let e = load_map(&rows(&["....", "..x."]), &ChargerConfig::default()).unwrap_err();
        assert_eq!(e.path, "world.map[1]");
        assert!(e.message.starts_with("character 3: unknown map character 'x'"), "{}", e.message);
        let e = load_map(&rows(&["....", "..."]), &ChargerConfig::default()).unwrap_err();
        assert_eq!(e.path, "world.map[1]");
        assert!(e.message.contains("3 characters"), "{}", e.message);
        let e = load_map(&rows(&["####"]), &ChargerConfig::default()).unwrap_err();
        assert!(e.message.contains("no passable cell"));
    }

    #[test]
    fn chargers_group_into_bays_and_are_placed_on_maps_without_any() {
        let m = load_map(&rows(&["CC..", "....", "...C"]), &ChargerConfig::default()).unwrap();
        assert_eq!(charger_groups(&m), vec![vec![0, 1], vec![11]]);
        let cfg = ChargerConfig { count: 3, ..Default::default() };
        let m = load_map(&rows(&[".....", ".....", "....."]), &cfg).unwrap();
        assert_eq!(charger_groups(&m).len(), 3);
    }

    #[test]
    fn movingai_errors_carry_the_file_position() {
        let dir = std::env::temp_dir().join(format!("masim-floor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.map");
        std::fs::write(&f, "type octile\nheight 2\nwidth 3\nmap\n...\n.x.\n").unwrap();
        let src = MapSource::MovingAi { path: f.display().to_string() };
        let e = load_map(&src, &ChargerConfig::default()).unwrap_err();
        assert_eq!(e.path, "world.map.path");
        assert!(e.message.starts_with(&format!("{}:6:2: unknown map character", f.display())), "{}", e.message);
        let src = MapSource::MovingAi { path: dir.join("none.map").display().to_string() };
        assert!(load_map(&src, &ChargerConfig::default()).unwrap_err().message.ends_with("no such file"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
