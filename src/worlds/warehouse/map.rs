//! Warehouse floor as a 4-connected grid: cell kinds, index and coordinate helpers, parsers for
//! MovingAI `.map` files and scenario rows (errors carry positions), a generator of the MovingAI
//! `warehouse-C-R-L-D-W` layout family with stations, a deterministic charger-placement rule and
//! uniform errand drawing. Pure data, no ECS.
//!
//! # Conventions
//!
//! * A cell is addressed by `(row, col)` with row 0 at the top of the file, or by its linear index
//!   `row · cols + col` (as in the League of Robot Runners, LRR). [`Cell`] is that index.
//! * A cell's centre in metres is `x = (col + 0.5) · cell_m`, `y = (rows − row − 0.5) · cell_m`:
//!   x points east, y points north, the map's bottom-left corner is the origin.
//! * Movement is 4-connected (north, east, south, west, in that order wherever an order matters).
//!   Every kind except [`CellKind::Blocked`] is passable; stations are passable cells where robots
//!   stop to work.

use std::fmt;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// Linear cell index `row · cols + col`.
pub type Cell = u32;

/// Largest number of cells a map may have (rows · cols). Keeps every index, and the planners'
/// `u32::MAX` sentinel, in range and bounds what a malicious header can make us allocate.
pub const MAX_CELLS: u64 = 1 << 26;

/// What occupies a grid cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CellKind {
    /// Open floor.
    Free,
    /// Shelf, wall or anything else robots cannot enter.
    Blocked,
    /// Pick station (LRR `S`, "service"): passable, where a robot collects an item.
    Pick,
    /// Drop station (LRR `E`, "emitter"/delivery): passable, where a robot delivers.
    Drop,
    /// Charger: passable, where a robot recharges.
    Charger,
    /// Parking spot: passable, where an idle robot waits out of the way.
    Parking,
}

impl CellKind {
    /// Whether robots may occupy the cell (everything but [`CellKind::Blocked`]).
    pub fn is_passable(self) -> bool {
        self != CellKind::Blocked
    }

    /// Whether the cell is a station (pick, drop, charger or parking).
    pub fn is_station(self) -> bool {
        matches!(self, CellKind::Pick | CellKind::Drop | CellKind::Charger | CellKind::Parking)
    }

    /// The scenario-rows legend character (see [`parse_rows`]).
    pub fn legend_char(self) -> char {
        match self {
            CellKind::Free => '.',
            CellKind::Blocked => '#',
            CellKind::Pick => 'P',
            CellKind::Drop => 'D',
            CellKind::Charger => 'C',
            CellKind::Parking => 'Z',
        }
    }

    /// The kind a scenario-rows legend character stands for.
    pub fn from_legend_char(c: char) -> Option<CellKind> {
        Some(match c {
            '.' => CellKind::Free,
            '#' => CellKind::Blocked,
            'P' => CellKind::Pick,
            'D' => CellKind::Drop,
            'C' => CellKind::Charger,
            'Z' => CellKind::Parking,
            _ => return None,
        })
    }

    /// The MovingAI/LRR character written by [`GridMap::to_movingai`]: `.` free, `T` blocked (as in
    /// the benchmark warehouse maps), `S` pick, `E` drop. The format has no charger or parking
    /// character: both are written as `.` (lossy).
    pub fn movingai_char(self) -> u8 {
        match self {
            CellKind::Free | CellKind::Charger | CellKind::Parking => b'.',
            CellKind::Blocked => b'T',
            CellKind::Pick => b'S',
            CellKind::Drop => b'E',
        }
    }

    /// The kind a MovingAI map character stands for.
    ///
    /// `.` and `G` are free; `@`, `O` and `T` blocked. In game maps `S` is swamp and `W` water; here
    /// LRR's reading wins for `S` (a pick station, passable) and `W` is blocked (water is only
    /// passable from water, which a ground robot never is). LRR's `E` is a drop station.
    pub fn from_movingai_char(c: u8) -> Option<CellKind> {
        Some(match c {
            b'.' | b'G' => CellKind::Free,
            b'@' | b'O' | b'T' | b'W' => CellKind::Blocked,
            b'S' => CellKind::Pick,
            b'E' => CellKind::Drop,
            _ => return None,
        })
    }
}

/// Lists of station cells, each ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stations {
    /// Pick stations.
    pub pick: Vec<Cell>,
    /// Drop stations.
    pub drop: Vec<Cell>,
    /// Chargers.
    pub charger: Vec<Cell>,
    /// Parking spots.
    pub parking: Vec<Cell>,
}

/// A map whose dimensions are zero or exceed [`MAX_CELLS`], or whose cell list has the wrong length.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Zero rows or columns.
    #[error("a map needs at least one row and one column (got {rows}×{cols})")]
    Empty {
        /// Rows asked for.
        rows: u64,
        /// Columns asked for.
        cols: u64,
    },
    /// More cells than [`MAX_CELLS`].
    #[error("a {rows}×{cols} map exceeds the limit of {max} cells", max = MAX_CELLS)]
    TooLarge {
        /// Rows asked for.
        rows: u64,
        /// Columns asked for.
        cols: u64,
    },
    /// `cells.len() != rows · cols`.
    #[error("a {rows}×{cols} map needs {} cells, got {len}", rows * cols)]
    CellCount {
        /// Rows.
        rows: u64,
        /// Columns.
        cols: u64,
        /// Cells given.
        len: usize,
    },
}

fn check_size(rows: u64, cols: u64) -> Result<(), SizeError> {
    if rows == 0 || cols == 0 {
        return Err(SizeError::Empty { rows, cols });
    }
    if rows.saturating_mul(cols) > MAX_CELLS {
        return Err(SizeError::TooLarge { rows, cols });
    }
    Ok(())
}

/// A rectangular 4-connected grid, row-major: `cells[row · cols + col]`.
///
/// Invariant: `1 ≤ rows · cols ≤ MAX_CELLS` and `cells.len() == rows · cols`; the fields are
/// private so that it holds. Serialises as its scenario rows (see [`parse_rows`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "GridRows", into = "GridRows")]
pub struct GridMap {
    rows: u32,
    cols: u32,
    cells: Vec<CellKind>,
}

/// Serde form of a [`GridMap`]: its scenario rows.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct GridRows(Vec<String>);

impl TryFrom<GridRows> for GridMap {
    type Error = RowsError;
    fn try_from(r: GridRows) -> Result<Self, RowsError> {
        parse_rows(&r.0)
    }
}

impl From<GridMap> for GridRows {
    fn from(m: GridMap) -> Self {
        GridRows(m.to_rows())
    }
}

impl GridMap {
    /// A map with every cell of one kind.
    pub fn filled(rows: u32, cols: u32, kind: CellKind) -> Result<GridMap, SizeError> {
        check_size(rows.into(), cols.into())?;
        Ok(GridMap { rows, cols, cells: vec![kind; rows as usize * cols as usize] })
    }

    /// A map from its row-major cells.
    pub fn from_cells(rows: u32, cols: u32, cells: Vec<CellKind>) -> Result<GridMap, SizeError> {
        check_size(rows.into(), cols.into())?;
        if cells.len() as u64 != u64::from(rows) * u64::from(cols) {
            return Err(SizeError::CellCount { rows: rows.into(), cols: cols.into(), len: cells.len() });
        }
        Ok(GridMap { rows, cols, cells })
    }

    /// Number of rows (the map's height).
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Number of columns (the map's width).
    pub fn cols(&self) -> u32 {
        self.cols
    }

    /// All cells, row-major.
    pub fn cells(&self) -> &[CellKind] {
        &self.cells
    }

    /// Number of cells, `rows · cols`.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Always false: a map has at least one cell.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Linear index of `(row, col)`, or `None` outside the map.
    pub fn index(&self, row: u32, col: u32) -> Option<Cell> {
        (row < self.rows && col < self.cols).then(|| row * self.cols + col)
    }

    /// `(row, col)` of a linear index, or `None` outside the map.
    pub fn row_col(&self, cell: Cell) -> Option<(u32, u32)> {
        ((cell as usize) < self.cells.len()).then(|| (cell / self.cols, cell % self.cols))
    }

    /// Kind of a cell, or `None` outside the map.
    pub fn kind(&self, cell: Cell) -> Option<CellKind> {
        self.cells.get(cell as usize).copied()
    }

    /// Kind at `(row, col)`, or `None` outside the map.
    pub fn kind_at(&self, row: u32, col: u32) -> Option<CellKind> {
        self.index(row, col).and_then(|c| self.kind(c))
    }

    /// Sets a cell's kind; returns false (and changes nothing) outside the map.
    pub fn set(&mut self, cell: Cell, kind: CellKind) -> bool {
        match self.cells.get_mut(cell as usize) {
            Some(k) => {
                *k = kind;
                true
            }
            None => false,
        }
    }

    /// Whether a cell is inside the map and passable.
    pub fn is_passable(&self, cell: Cell) -> bool {
        self.kind(cell).is_some_and(CellKind::is_passable)
    }

    /// The in-map 4-neighbours of a cell, north, east, south, west (passable or not).
    pub fn adjacent(&self, cell: Cell) -> impl Iterator<Item = Cell> + use<> {
        let (rows, cols) = (self.rows, self.cols);
        let rc = self.row_col(cell);
        [(-1i64, 0i64), (0, 1), (1, 0), (0, -1)].into_iter().filter_map(move |(dr, dc)| {
            let (r, c) = rc?;
            let (r, c) = (i64::from(r) + dr, i64::from(c) + dc);
            (r >= 0 && c >= 0 && r < i64::from(rows) && c < i64::from(cols)).then(|| (r as u32) * cols + c as u32)
        })
    }

    /// The passable 4-neighbours of a cell, north, east, south, west.
    pub fn neighbours(&self, cell: Cell) -> impl Iterator<Item = Cell> + '_ {
        self.adjacent(cell).filter(|&c| self.is_passable(c))
    }

    /// Number of passable cells (free floor plus stations).
    pub fn free_cell_count(&self) -> usize {
        self.cells.iter().filter(|k| k.is_passable()).count()
    }

    /// Number of cells of one kind.
    pub fn count(&self, kind: CellKind) -> usize {
        self.cells.iter().filter(|&&k| k == kind).count()
    }

    /// Cells of one kind, ascending.
    pub fn cells_of(&self, kind: CellKind) -> Vec<Cell> {
        (0..self.cells.len() as u32).filter(|&c| self.cells[c as usize] == kind).collect()
    }

    /// Passable cells, ascending.
    pub fn passable_cells(&self) -> Vec<Cell> {
        (0..self.cells.len() as u32).filter(|&c| self.cells[c as usize].is_passable()).collect()
    }

    /// The station lists.
    pub fn stations(&self) -> Stations {
        let mut s = Stations::default();
        for (i, k) in self.cells.iter().enumerate() {
            let list = match k {
                CellKind::Pick => &mut s.pick,
                CellKind::Drop => &mut s.drop,
                CellKind::Charger => &mut s.charger,
                CellKind::Parking => &mut s.parking,
                CellKind::Free | CellKind::Blocked => continue,
            };
            list.push(i as Cell);
        }
        s
    }

    /// Centre of a cell in metres, `(x east, y north)`, for square cells of side `cell_m`.
    pub fn centre_m(&self, cell: Cell, cell_m: f64) -> Option<(f64, f64)> {
        let (r, c) = self.row_col(cell)?;
        Some(((f64::from(c) + 0.5) * cell_m, (f64::from(self.rows) - f64::from(r) - 0.5) * cell_m))
    }

    /// The cell containing the point `(x, y)` in metres, or `None` outside the map (or for a
    /// non-positive or non-finite `cell_m`).
    pub fn cell_at_m(&self, x: f64, y: f64, cell_m: f64) -> Option<Cell> {
        if !(cell_m > 0.0 && x.is_finite() && y.is_finite()) {
            return None;
        }
        let c = (x / cell_m).floor();
        let r_from_bottom = (y / cell_m).floor();
        if c < 0.0 || r_from_bottom < 0.0 || c >= f64::from(self.cols) || r_from_bottom >= f64::from(self.rows) {
            return None;
        }
        self.index(self.rows - 1 - r_from_bottom as u32, c as u32)
    }

    /// The map as a MovingAI `.map` file (`type octile` header, LRR characters; see
    /// [`CellKind::movingai_char`] — chargers and parking are written as free floor).
    pub fn to_movingai(&self) -> String {
        let mut s = format!("type octile\nheight {}\nwidth {}\nmap\n", self.rows, self.cols);
        s.reserve(self.cells.len() + self.rows as usize);
        for row in self.cells.chunks(self.cols as usize) {
            s.extend(row.iter().map(|k| char::from(k.movingai_char())));
            s.push('\n');
        }
        s
    }

    /// The map as scenario rows (see [`parse_rows`]), lossless.
    pub fn to_rows(&self) -> Vec<String> {
        self.cells.chunks(self.cols as usize).map(|row| row.iter().map(|k| k.legend_char()).collect()).collect()
    }
}

impl fmt::Display for GridMap {
    /// The scenario rows, one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for row in self.to_rows() {
            writeln!(f, "{row}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// MovingAI parser
// ---------------------------------------------------------------------------------------------

/// A MovingAI parse error at a 1-based line and column (columns count bytes: the format is ASCII).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct MapError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (byte).
    pub column: usize,
    /// What went wrong.
    pub kind: MapErrorKind,
}

/// What a [`MapError`] is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapErrorKind {
    /// A header line is not what the format requires here.
    #[error("expected {expected}, found {found}")]
    Header {
        /// What the format requires.
        expected: &'static str,
        /// What is there (quoted and shortened).
        found: String,
    },
    /// A height or width that is not a decimal number below 2³².
    #[error("expected a positive decimal number for the {field}, found {found}")]
    Number {
        /// `"height"` or `"width"`.
        field: &'static str,
        /// What is there.
        found: String,
    },
    /// The header's dimensions are zero or too large.
    #[error("{0}")]
    Size(SizeError),
    /// A map row whose length differs from the width.
    #[error("map row {row} has {len} characters, expected the width {width}")]
    RowLength {
        /// 1-based map row (line − header lines).
        row: usize,
        /// Its length in bytes (a trailing `\r` is not counted).
        len: usize,
        /// The header's width.
        width: u32,
    },
    /// A map character outside the legend.
    #[error("unknown map character {found} (expected one of . G @ O T W S E)")]
    UnknownChar {
        /// The character, quoted (a non-ASCII byte as `\xNN`).
        found: String,
    },
    /// The input ended before `height` rows.
    #[error("expected {expected} map rows, found {found}")]
    TooFewRows {
        /// The header's height.
        expected: u32,
        /// Rows present.
        found: u32,
    },
    /// A non-blank line after the last map row.
    #[error("more than the {expected} map rows the header announces")]
    TooManyRows {
        /// The header's height.
        expected: u32,
    },
}

/// Quotes a byte string for an error message, shortened to 40 bytes.
fn quote(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let mut s = String::from("`");
    for &b in bytes.iter().take(MAX) {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    if bytes.len() > MAX {
        s.push('…');
    }
    s.push('`');
    s
}

/// Lines of a byte buffer, 1-based, without the `\n` and a trailing `\r`. A final empty line after
/// the last `\n` is not yielded.
struct Lines<'a> {
    rest: &'a [u8],
    line: usize,
    done: bool,
}

impl<'a> Lines<'a> {
    fn new(input: &'a [u8]) -> Self {
        Lines { rest: input, line: 0, done: input.is_empty() }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.done {
            return None;
        }
        self.line += 1;
        let (mut l, rest) = match self.rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => {
                self.done = true;
                (self.rest, &[][..])
            }
        };
        if rest.is_empty() {
            self.done = true;
        }
        self.rest = rest;
        if let [head @ .., b'\r'] = l {
            l = head;
        }
        Some((self.line, l))
    }
}

/// Whitespace-separated tokens of a line with their 1-based columns.
fn tokens(line: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        if line[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && !line[i].is_ascii_whitespace() {
            i += 1;
        }
        out.push((start + 1, &line[start..i]));
        if out.len() > 3 {
            break; // no header line has more than two tokens; don't scan a huge line further
        }
    }
    out
}

/// The next line, remembering its number in `last`.
fn next_line<'a>(lines: &mut Lines<'a>, last: &mut usize) -> Option<(usize, &'a [u8])> {
    let l = lines.next();
    if let Some((n, _)) = l {
        *last = n;
    }
    l
}

/// Parses a MovingAI `.map` file (see [`CellKind::from_movingai_char`] for the characters).
///
/// The header is `type octile`, then `height H` and `width W` (either order), then `map`, then H
/// rows of W characters. `\r\n` line ends and blank lines after the last row are accepted. Any
/// input, including binary data, gives a map or a positioned [`MapError`]; nothing is allocated
/// from the header's claims before the rows are there.
pub fn parse_movingai(input: &[u8]) -> Result<GridMap, MapError> {
    let mut lines = Lines::new(input);
    let err = |line, column, kind| Err(MapError { line, column, kind });
    let mut last_line = 0;
    // `type octile`
    let Some((ln, line)) = next_line(&mut lines, &mut last_line) else {
        return err(1, 1, MapErrorKind::Header { expected: "`type octile`", found: "end of input".into() });
    };
    let t = tokens(line);
    if !(t.len() == 2 && t[0].1 == b"type" && t[1].1 == b"octile") {
        let col = t.first().map_or(1, |x| x.0);
        return err(ln, col, MapErrorKind::Header { expected: "`type octile`", found: quote(line) });
    }
    // `height H` and `width W`, either order.
    let (mut height, mut width) = (None::<u32>, None::<u32>);
    while height.is_none() || width.is_none() {
        let expected = match (height, width) {
            (None, None) => "`height H` or `width W`",
            (None, Some(_)) => "`height H`",
            _ => "`width W`",
        };
        let Some((ln, line)) = next_line(&mut lines, &mut last_line) else {
            return err(last_line + 1, 1, MapErrorKind::Header { expected, found: "end of input".into() });
        };
        let t = tokens(line);
        let field = match t.first().map(|x| x.1) {
            Some(b"height") if height.is_none() => "height",
            Some(b"width") if width.is_none() => "width",
            _ => {
                let col = t.first().map_or(1, |x| x.0);
                return err(ln, col, MapErrorKind::Header { expected, found: quote(line) });
            }
        };
        if t.len() != 2 {
            let col = t.get(2).map_or(line.len() + 1, |x| x.0);
            return err(ln, col, MapErrorKind::Number { field, found: quote(line) });
        }
        let (col, num) = t[1];
        let value = std::str::from_utf8(num).ok().filter(|s| s.bytes().all(|b| b.is_ascii_digit()));
        let Some(value) = value.and_then(|s| s.parse::<u32>().ok()) else {
            return err(ln, col, MapErrorKind::Number { field, found: quote(num) });
        };
        if field == "height" {
            height = Some(value);
        } else {
            width = Some(value);
        }
        if let (Some(h), Some(w)) = (height, width)
            && let Err(e) = check_size(h.into(), w.into())
        {
            return err(ln, col, MapErrorKind::Size(e));
        }
    }
    let (height, width) = (height.unwrap_or(0), width.unwrap_or(0));
    // `map`
    let Some((ln, line)) = next_line(&mut lines, &mut last_line) else {
        return err(last_line + 1, 1, MapErrorKind::Header { expected: "`map`", found: "end of input".into() });
    };
    let t = tokens(line);
    if !(t.len() == 1 && t[0].1 == b"map") {
        let col = t.first().map_or(1, |x| x.0);
        return err(ln, col, MapErrorKind::Header { expected: "`map`", found: quote(line) });
    }
    // Rows.
    let mut cells = Vec::new();
    for r in 0..height {
        let Some((ln, line)) = next_line(&mut lines, &mut last_line) else {
            return err(last_line + 1, 1, MapErrorKind::TooFewRows { expected: height, found: r });
        };
        if line.len() != width as usize {
            let column = line.len().min(width as usize) + 1;
            let kind = MapErrorKind::RowLength { row: r as usize + 1, len: line.len(), width };
            return err(ln, column, kind);
        }
        if cells.is_empty() {
            cells.reserve(height as usize * width as usize);
        }
        for (i, &b) in line.iter().enumerate() {
            match CellKind::from_movingai_char(b) {
                Some(k) => cells.push(k),
                None => return err(ln, i + 1, MapErrorKind::UnknownChar { found: quote(&[b]) }),
            }
        }
    }
    for (ln, line) in lines {
        if let Some(i) = line.iter().position(|b| !b.is_ascii_whitespace()) {
            return err(ln, i + 1, MapErrorKind::TooManyRows { expected: height });
        }
    }
    GridMap::from_cells(height, width, cells).map_err(|e| MapError { line: 2, column: 1, kind: MapErrorKind::Size(e) })
}

// ---------------------------------------------------------------------------------------------
// Scenario rows
// ---------------------------------------------------------------------------------------------

/// A scenario-rows parse error at a 0-based row index (into the slice given) and 0-based column
/// (in characters), so the caller can map it into its own file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("map row {row}, column {col}: {kind}")]
pub struct RowsError {
    /// 0-based index of the row in the slice.
    pub row: usize,
    /// 0-based character column in that row.
    pub col: usize,
    /// What went wrong.
    pub kind: RowsErrorKind,
}

/// What a [`RowsError`] is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RowsErrorKind {
    /// No rows, or a first row with no characters.
    #[error("the map has no cells")]
    Empty,
    /// A character outside the legend.
    #[error("unknown map character {found:?} (legend: . free, # shelf/obstacle, P pick, D drop, C charger, Z parking)")]
    UnknownChar {
        /// The character.
        found: char,
    },
    /// A row whose length differs from the first row's.
    #[error("row has {len} characters, the first row has {expected}")]
    RowLength {
        /// This row's length in characters.
        len: usize,
        /// The first row's.
        expected: usize,
    },
    /// Too many cells.
    #[error("{0}")]
    Size(SizeError),
}

/// Parses scenario rows with the legend `.` free, `#` shelf/obstacle, `P` pick station, `D` drop
/// station, `C` charger, `Z` parking. Every row must be as long as the first.
pub fn parse_rows<S: AsRef<str>>(rows: &[S]) -> Result<GridMap, RowsError> {
    let err = |row, col, kind| Err(RowsError { row, col, kind });
    let Some(first) = rows.first() else { return err(0, 0, RowsErrorKind::Empty) };
    let width = first.as_ref().chars().count();
    if width == 0 {
        return err(0, 0, RowsErrorKind::Empty);
    }
    if let Err(e) = check_size(rows.len() as u64, width as u64) {
        return err(0, 0, RowsErrorKind::Size(e));
    }
    let mut cells = Vec::with_capacity(rows.len() * width);
    for (r, row) in rows.iter().enumerate() {
        let mut len = 0;
        for (c, ch) in row.as_ref().chars().enumerate() {
            if c >= width {
                let len = row.as_ref().chars().count();
                return err(r, width, RowsErrorKind::RowLength { len, expected: width });
            }
            match CellKind::from_legend_char(ch) {
                Some(k) => cells.push(k),
                None => return err(r, c, RowsErrorKind::UnknownChar { found: ch }),
            }
            len += 1;
        }
        if len != width {
            return err(r, len, RowsErrorKind::RowLength { len, expected: width });
        }
    }
    GridMap::from_cells(rows.len() as u32, width as u32, cells).map_err(|e| RowsError {
        row: 0,
        col: 0,
        kind: RowsErrorKind::Size(e),
    })
}

// ---------------------------------------------------------------------------------------------
// Layout generator
// ---------------------------------------------------------------------------------------------

/// Parameters of a MovingAI-style `warehouse-C-R-L-D-W` layout: a grid of C × R rectangular
/// shelves, each L cells long (east–west) and D deep (north–south), separated by corridors W wide,
/// with a free margin M columns wide on the west and east sides and a one-cell blocked border.
///
/// Height `2 + R·D + (R+1)·W`, width `2 + 2M + C·L + (C−1)·W`. Going south from the border: W
/// corridor rows, then alternately D shelf rows and W corridor rows. Going east: M margin columns,
/// then alternately L shelf columns and W corridor columns (no corridor after the last shelf), then
/// M margin columns.
///
/// Stations (all optional, placed in this order onto free cells only):
/// * pick stations on the shelves' long faces: for every shelf, the cells directly north and south
///   of it whose offset from the shelf's west end is a multiple of `pick_every` (1 = the whole face);
/// * `drops_per_side` drop stations in the margin column next to the border on each side (column 1
///   and column `width − 2`), at evenly spaced rows (see [`evenly_spaced`]) over the interior rows;
/// * `parking_per_side` parking spots likewise in the margin column two cells from the border
///   (column 2 and `width − 3`); needs M ≥ 3 so a lane stays free beside them;
/// * `chargers` chargers by [`charger_sites`] (evenly along the outermost ring of free cells).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseLayout {
    /// C, shelves per row of shelves (≥ 1).
    pub shelf_cols: u32,
    /// R, rows of shelves (≥ 1).
    pub shelf_rows: u32,
    /// L, shelf length in cells, east–west (≥ 1).
    pub shelf_len: u32,
    /// D, shelf depth in cells, north–south (≥ 1).
    pub shelf_depth: u32,
    /// W, corridor width in cells (≥ 1).
    pub corridor: u32,
    /// M, free margin columns on the west and on the east.
    pub margin: u32,
    /// Pick stations every this many cells along each long shelf face; 0 = none.
    #[serde(default)]
    pub pick_every: u32,
    /// Drop stations per margin (west and east).
    #[serde(default)]
    pub drops_per_side: u32,
    /// Parking spots per margin (west and east).
    #[serde(default)]
    pub parking_per_side: u32,
    /// Chargers in all.
    #[serde(default)]
    pub chargers: u32,
}

/// Why a layout cannot be generated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A dimension that must be at least 1 is 0.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The layout is too large.
    #[error("{0}")]
    Size(SizeError),
    /// Drop stations or parking asked for with too narrow a margin.
    #[error("{what} need a margin of at least {need} columns (margin is {margin})")]
    Margin {
        /// `"drop stations"` or `"parking spots"`.
        what: &'static str,
        /// Margin needed.
        need: u32,
        /// Margin given.
        margin: u32,
    },
    /// More stations per side than interior rows.
    #[error("{what}: {asked} per side, but only {rows} interior rows")]
    TooMany {
        /// `"drop stations"` or `"parking spots"`.
        what: &'static str,
        /// Asked per side.
        asked: u32,
        /// Interior rows.
        rows: u32,
    },
    /// The charger rule failed.
    #[error("{0}")]
    Chargers(PlacementError),
}

impl WarehouseLayout {
    /// A plain layout (no stations) with the given C, R, L, D, W and margin.
    pub fn new(shelf_cols: u32, shelf_rows: u32, shelf_len: u32, shelf_depth: u32, corridor: u32, margin: u32) -> Self {
        WarehouseLayout {
            shelf_cols,
            shelf_rows,
            shelf_len,
            shelf_depth,
            corridor,
            margin,
            pick_every: 0,
            drops_per_side: 0,
            parking_per_side: 0,
            chargers: 0,
        }
    }

    /// `warehouse-10-20-10-2-1` (63 × 161, margin 25, 5 699 free cells).
    pub fn movingai_10_20_10_2_1() -> Self {
        WarehouseLayout::new(10, 20, 10, 2, 1, 25)
    }

    /// `warehouse-10-20-10-2-2` (84 × 170, margin 25, 9 776 free cells).
    pub fn movingai_10_20_10_2_2() -> Self {
        WarehouseLayout::new(10, 20, 10, 2, 2, 25)
    }

    /// `warehouse-20-40-10-2-1` (123 × 321, margin 50, 22 599 free cells).
    pub fn movingai_20_40_10_2_1() -> Self {
        WarehouseLayout::new(20, 40, 10, 2, 1, 50)
    }

    /// `warehouse-20-40-10-2-2` (164 × 340, margin 50, 38 756 free cells).
    pub fn movingai_20_40_10_2_2() -> Self {
        WarehouseLayout::new(20, 40, 10, 2, 2, 50)
    }

    /// `(height, width)` in cells, saturating at `u64::MAX` (no overflow for any parameters).
    pub fn dims(&self) -> (u64, u64) {
        let (c, r, l, d, w, m) = (
            u128::from(self.shelf_cols),
            u128::from(self.shelf_rows),
            u128::from(self.shelf_len),
            u128::from(self.shelf_depth),
            u128::from(self.corridor),
            u128::from(self.margin),
        );
        let sat = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
        (sat(2 + r * d + (r + 1) * w), sat(2 + 2 * m + c * l + c.saturating_sub(1) * w))
    }

    /// Passable cells of the plain layout: interior minus shelves (saturating like
    /// [`WarehouseLayout::dims`]).
    pub fn free_cells(&self) -> u64 {
        let (h, w) = self.dims();
        let shelves = u128::from(self.shelf_cols)
            * u128::from(self.shelf_rows)
            * u128::from(self.shelf_len)
            * u128::from(self.shelf_depth);
        let interior = u128::from(h - 2) * u128::from(w - 2);
        u64::try_from(interior.saturating_sub(shelves)).unwrap_or(u64::MAX)
    }

    /// Builds the map.
    pub fn generate(&self) -> Result<GridMap, LayoutError> {
        for (v, name) in [
            (self.shelf_cols, "shelf_cols (C)"),
            (self.shelf_rows, "shelf_rows (R)"),
            (self.shelf_len, "shelf_len (L)"),
            (self.shelf_depth, "shelf_depth (D)"),
            (self.corridor, "corridor (W)"),
        ] {
            if v == 0 {
                return Err(LayoutError::Zero(name));
            }
        }
        let (h, w) = self.dims();
        check_size(h, w).map_err(LayoutError::Size)?;
        let (rows, cols) = (h as u32, w as u32);
        let mut map = GridMap::filled(rows, cols, CellKind::Free).map_err(LayoutError::Size)?;
        for r in 0..rows {
            for c in 0..cols {
                if r == 0 || c == 0 || r == rows - 1 || c == cols - 1 {
                    map.cells[(r * cols + c) as usize] = CellKind::Blocked;
                }
            }
        }
        let (l, d, wc, m) = (self.shelf_len, self.shelf_depth, self.corridor, self.margin);
        let mut shelves = Vec::new();
        for sr in 0..self.shelf_rows {
            let r0 = 1 + wc + sr * (d + wc);
            for sc in 0..self.shelf_cols {
                let c0 = 1 + m + sc * (l + wc);
                shelves.push((r0, c0));
                for r in r0..r0 + d {
                    for c in c0..c0 + l {
                        map.cells[(r * cols + c) as usize] = CellKind::Blocked;
                    }
                }
            }
        }
        if self.pick_every > 0 {
            for &(r0, c0) in &shelves {
                for face in [r0 - 1, r0 + d] {
                    for c in (c0..c0 + l).step_by(self.pick_every as usize) {
                        let i = (face * cols + c) as usize;
                        if map.cells[i] == CellKind::Free {
                            map.cells[i] = CellKind::Pick;
                        }
                    }
                }
            }
        }
        let interior = rows - 2;
        for (n, col_off, need, what, kind) in [
            (self.drops_per_side, 1, 1, "drop stations", CellKind::Drop),
            (self.parking_per_side, 2, 3, "parking spots", CellKind::Parking),
        ] {
            if n == 0 {
                continue;
            }
            if m < need {
                return Err(LayoutError::Margin { what, need, margin: m });
            }
            if n > interior {
                return Err(LayoutError::TooMany { what, asked: n, rows: interior });
            }
            for col in [col_off, cols - 1 - col_off] {
                for i in evenly_spaced(interior as usize, n as usize) {
                    let idx = ((1 + i as u32) * cols + col) as usize;
                    if map.cells[idx] == CellKind::Free {
                        map.cells[idx] = kind;
                    }
                }
            }
        }
        if self.chargers > 0 {
            let sites = charger_sites(&map, self.chargers as usize).map_err(LayoutError::Chargers)?;
            for s in sites {
                map.cells[s as usize] = CellKind::Charger;
            }
        }
        Ok(map)
    }
}

// ---------------------------------------------------------------------------------------------
// Placement rules
// ---------------------------------------------------------------------------------------------

/// `n` indices spread evenly over `0..len`: the centres `⌊(2k+1)·len / 2n⌋`, k = 0..n. Distinct and
/// ascending when `n ≤ len`; empty when `n == 0`.
pub fn evenly_spaced(len: usize, n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    (0..n).map(|k| ((2 * k as u128 + 1) * len as u128 / (2 * n as u128)) as usize).collect()
}

/// Cells of ring `k` (those whose distance to the nearest map edge is k), clockwise from the
/// ring's north-west corner.
fn ring(map: &GridMap, k: u32) -> Vec<Cell> {
    let (rows, cols) = (map.rows, map.cols);
    if 2 * k >= rows || 2 * k >= cols {
        return Vec::new();
    }
    let (top, bottom, left, right) = (k, rows - 1 - k, k, cols - 1 - k);
    let idx = |r: u32, c: u32| r * cols + c;
    let mut out: Vec<Cell> = (left..=right).map(|c| idx(top, c)).collect();
    out.extend((top + 1..=bottom).map(|r| idx(r, right)));
    if bottom > top {
        out.extend((left..right).rev().map(|c| idx(bottom, c)));
    }
    if right > left {
        out.extend((top + 1..bottom).rev().map(|r| idx(r, left)));
    }
    out
}

/// Articulation points of the passable 4-connected graph: `cut[cell]` is true when removing that
/// cell disconnects some of the others (Hopcroft–Tarjan, iterative, so deep maps cannot overflow
/// the stack).
pub fn articulation_points(map: &GridMap) -> Vec<bool> {
    let n = map.len();
    let mut disc = vec![0u32; n]; // 0 = unvisited; otherwise discovery time + 1
    let mut low = vec![0u32; n];
    let mut cut = vec![false; n];
    let mut time = 0u32;
    // Stack frame: (cell, parent, next neighbour direction 0..4, children count).
    let mut stack: Vec<(Cell, Cell, u8, u32)> = Vec::new();
    let nbr = |cell: Cell, dir: u8| -> Option<Cell> {
        let (r, c) = (cell / map.cols, cell % map.cols);
        let (r2, c2) = match dir {
            0 if r > 0 => (r - 1, c),
            1 if c + 1 < map.cols => (r, c + 1),
            2 if r + 1 < map.rows => (r + 1, c),
            3 if c > 0 => (r, c - 1),
            _ => return None,
        };
        let i = r2 * map.cols + c2;
        map.cells[i as usize].is_passable().then_some(i)
    };
    for root in 0..n as Cell {
        if disc[root as usize] != 0 || !map.cells[root as usize].is_passable() {
            continue;
        }
        time += 1;
        disc[root as usize] = time;
        low[root as usize] = time;
        stack.push((root, Cell::MAX, 0, 0));
        while let Some(top) = stack.last_mut() {
            let (u, parent, dir, _) = *top;
            if dir < 4 {
                top.2 += 1;
                let Some(v) = nbr(u, dir) else { continue };
                if disc[v as usize] == 0 {
                    top.3 += 1;
                    time += 1;
                    disc[v as usize] = time;
                    low[v as usize] = time;
                    stack.push((v, u, 0, 0));
                } else if v != parent {
                    low[u as usize] = low[u as usize].min(disc[v as usize]);
                }
            } else {
                let (_, _, _, children) = *top;
                stack.pop();
                if let Some(&(p, _, _, _)) = stack.last() {
                    low[p as usize] = low[p as usize].min(low[u as usize]);
                    if stack.len() > 1 && low[u as usize] >= disc[p as usize] {
                        cut[p as usize] = true;
                    }
                } else if children > 1 {
                    cut[u as usize] = true;
                }
            }
        }
    }
    cut
}

/// Why stations cannot be placed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Fewer free cells than stations asked for.
    #[error("asked for {asked} sites but the map has only {available} free cells")]
    NotEnoughCells {
        /// Sites asked for.
        asked: usize,
        /// Free cells available.
        available: usize,
    },
}

/// Where to put `n` chargers on a map: deterministic, only on [`CellKind::Free`] cells.
///
/// Rule: walk the rings of the map from the outside in (ring k = cells at distance k from the
/// nearest edge, each clockwise from its north-west corner) collecting free cells that are not
/// articulation points (a robot charging there cannot cut the floor in two), until at least `n`
/// are collected; then take `n` of them evenly spaced along that list ([`evenly_spaced`]). If the
/// whole map has fewer than `n` such cells, articulation points are admitted too. The result is
/// ascending.
pub fn charger_sites(map: &GridMap, n: usize) -> Result<Vec<Cell>, PlacementError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let cut = articulation_points(map);
    let rings = map.rows.min(map.cols).div_ceil(2);
    for allow_cut in [false, true] {
        let mut cand = Vec::new();
        for k in 0..rings {
            cand.extend(
                ring(map, k)
                    .into_iter()
                    .filter(|&c| map.cells[c as usize] == CellKind::Free && (allow_cut || !cut[c as usize])),
            );
            if cand.len() >= n {
                let mut out: Vec<Cell> = evenly_spaced(cand.len(), n).into_iter().map(|i| cand[i]).collect();
                out.sort_unstable();
                return Ok(out);
            }
        }
    }
    Err(PlacementError::NotEnoughCells { asked: n, available: map.count(CellKind::Free) })
}

/// Places `n` chargers by [`charger_sites`] and returns their cells.
pub fn place_chargers(map: &mut GridMap, n: usize) -> Result<Vec<Cell>, PlacementError> {
    let sites = charger_sites(map, n)?;
    for &s in &sites {
        map.set(s, CellKind::Charger);
    }
    Ok(sites)
}

// ---------------------------------------------------------------------------------------------
// Errands
// ---------------------------------------------------------------------------------------------

/// Uniform drawing of goals and errands among a set of cells (the lifelong-MAPF convention: every
/// passable cell equally likely), from a caller-provided seeded rng.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrandSampler {
    cells: Vec<Cell>,
}

impl ErrandSampler {
    /// Samples among the map's passable cells; `None` when it has none.
    pub fn new(map: &GridMap) -> Option<Self> {
        Self::from_cells(map.passable_cells())
    }

    /// Samples among the given cells (sorted and deduplicated here); `None` when empty.
    pub fn from_cells(mut cells: Vec<Cell>) -> Option<Self> {
        cells.sort_unstable();
        cells.dedup();
        (!cells.is_empty()).then_some(ErrandSampler { cells })
    }

    /// The cells sampled from, ascending.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// A uniformly drawn cell.
    pub fn goal<R: Rng + ?Sized>(&self, rng: &mut R) -> Cell {
        self.cells[rng.random_range(0..self.cells.len())]
    }

    /// A uniformly drawn cell other than `current` (`current` itself if it is the only cell).
    pub fn goal_other_than<R: Rng + ?Sized>(&self, current: Cell, rng: &mut R) -> Cell {
        match self.cells.binary_search(&current) {
            Ok(j) if self.cells.len() > 1 => {
                let k = rng.random_range(0..self.cells.len() - 1);
                self.cells[if k >= j { k + 1 } else { k }]
            }
            Ok(_) => current,
            Err(_) => self.goal(rng),
        }
    }

    /// An errand: a pickup and a distinct delivery cell, uniformly among ordered pairs (pickup =
    /// delivery only when there is a single cell).
    pub fn errand<R: Rng + ?Sized>(&self, rng: &mut R) -> (Cell, Cell) {
        let from = self.goal(rng);
        (from, self.goal_other_than(from, rng))
    }

    /// `n` distinct cells drawn uniformly without replacement (e.g. start positions); `None` when
    /// there are fewer than `n` cells.
    pub fn distinct<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Option<Vec<Cell>> {
        if n > self.cells.len() {
            return None;
        }
        let mut pool = self.cells.clone();
        for i in 0..n {
            let j = rng.random_range(i..pool.len());
            pool.swap(i, j);
        }
        pool.truncate(n);
        Some(pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;
    use std::path::Path;

    /// Public benchmark files: `$MASIM_WAREHOUSE_MAPS` or `../shared/warehouse_maps` beside the
    /// crate; the tests that read them are skipped (with a note on stderr) when a file is absent.
    fn read_shared(rel: &str) -> Option<Vec<u8>> {
        let default = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/warehouse_maps");
        let dir = std::env::var_os("MASIM_WAREHOUSE_MAPS").unwrap_or_else(|| default.into());
        let p = Path::new(&dir).join(rel);
        match std::fs::read(&p) {
            Ok(b) => Some(b),
            Err(_) => {
                eprintln!("skipped: {} not present", p.display());
                None
            }
        }
    }

    fn kind_err(text: &str) -> (usize, usize, MapErrorKind) {
        let e = parse_movingai(text.as_bytes()).expect_err("should fail");
        (e.line, e.column, e.kind)
    }

    #[test]
    fn index_helpers_and_coordinates() {
        let m = GridMap::filled(3, 4, CellKind::Free).unwrap();
        assert_eq!(m.index(2, 3), Some(11));
        assert_eq!(m.index(3, 0), None);
        assert_eq!(m.row_col(6), Some((1, 2)));
        assert_eq!(m.row_col(12), None);
        // Row 0 is the top: its centre has the largest y.
        assert_eq!(m.centre_m(0, 2.0), Some((1.0, 5.0)));
        assert_eq!(m.centre_m(11, 2.0), Some((7.0, 1.0)));
        for cell in 0..12 {
            let (x, y) = m.centre_m(cell, 0.5).unwrap();
            assert_eq!(m.cell_at_m(x, y, 0.5), Some(cell));
        }
        assert_eq!(m.cell_at_m(-0.1, 0.1, 1.0), None);
        assert_eq!(m.cell_at_m(0.1, 3.0, 1.0), None);
        assert_eq!(m.cell_at_m(f64::NAN, 0.1, 1.0), None);
        let n: Vec<_> = m.neighbours(5).collect();
        assert_eq!(n, vec![1, 6, 9, 4]); // N, E, S, W
        assert_eq!(m.neighbours(0).collect::<Vec<_>>(), vec![1, 4]);
    }

    #[test]
    fn sizes_are_checked() {
        assert!(matches!(GridMap::filled(0, 5, CellKind::Free), Err(SizeError::Empty { .. })));
        assert!(matches!(GridMap::filled(1 << 14, 1 << 13, CellKind::Free), Err(SizeError::TooLarge { .. })));
        assert!(matches!(GridMap::from_cells(2, 2, vec![CellKind::Free; 3]), Err(SizeError::CellCount { .. })));
    }

    #[test]
    fn generated_sizes_and_free_cells_match_the_benchmark_family() {
        for (layout, h, w, free) in [
            (WarehouseLayout::movingai_10_20_10_2_1(), 63, 161, 5699),
            (WarehouseLayout::movingai_10_20_10_2_2(), 84, 170, 9776),
            (WarehouseLayout::movingai_20_40_10_2_1(), 123, 321, 22599),
            (WarehouseLayout::movingai_20_40_10_2_2(), 164, 340, 38756),
        ] {
            assert_eq!(layout.dims(), (h, w));
            assert_eq!(layout.free_cells(), free);
            let m = layout.generate().unwrap();
            assert_eq!((m.rows(), m.cols()), (h as u32, w as u32));
            assert_eq!(m.free_cell_count() as u64, free);
            // Border all blocked, and the floor is one connected component.
            for c in 0..m.cols() {
                assert_eq!(m.kind_at(0, c), Some(CellKind::Blocked));
                assert_eq!(m.kind_at(m.rows() - 1, c), Some(CellKind::Blocked));
            }
            let start = m.passable_cells()[0];
            let reached = pathfinding::prelude::bfs_reach(start, |&c| m.neighbours(c).collect::<Vec<_>>()).count();
            assert_eq!(reached, m.free_cell_count());
        }
    }

    #[test]
    fn generated_layout_structure() {
        // C=2, R=1, L=3, D=2, W=1, M=1: 6 × 11.
        let m = WarehouseLayout::new(2, 1, 3, 2, 1, 1).generate().unwrap();
        let expected = ["###########", "#.........#", "#.###.###.#", "#.###.###.#", "#.........#", "###########"];
        assert_eq!(m.to_rows(), expected);
        assert_eq!(m.free_cell_count(), 24);
    }

    #[test]
    fn stations_are_placed_by_the_documented_rules() {
        let mut layout = WarehouseLayout::new(2, 2, 4, 2, 1, 3);
        layout.pick_every = 2;
        layout.drops_per_side = 2;
        layout.parking_per_side = 1;
        layout.chargers = 4;
        let m = layout.generate().unwrap();
        let s = m.stations();
        // 4 shelves × 2 faces × 2 picks, minus the faces shared between the two shelf rows.
        assert_eq!(s.pick.len(), 12);
        for &p in &s.pick {
            let (r, _) = m.row_col(p).unwrap();
            assert!(m.adjacent(p).any(|c| m.kind(c) == Some(CellKind::Blocked)) && r > 0);
        }
        assert_eq!(s.drop.len(), 4);
        for &d in &s.drop {
            let (_, c) = m.row_col(d).unwrap();
            assert!(c == 1 || c == m.cols() - 2);
        }
        assert_eq!(s.parking.len(), 2);
        assert_eq!(s.charger.len(), 4);
        // Deterministic.
        assert_eq!(layout.generate().unwrap(), m);
        let mut narrow = layout;
        narrow.margin = 2;
        assert!(matches!(narrow.generate(), Err(LayoutError::Margin { .. })));
        let mut zero = layout;
        zero.corridor = 0;
        assert_eq!(zero.generate(), Err(LayoutError::Zero("corridor (W)")));
        let huge = WarehouseLayout::new(u32::MAX, u32::MAX, u32::MAX, u32::MAX, u32::MAX, u32::MAX);
        assert_eq!(huge.dims(), (u64::MAX, u64::MAX));
        assert!(matches!(huge.generate(), Err(LayoutError::Size(SizeError::TooLarge { .. }))));
    }

    #[test]
    fn chargers_go_evenly_on_the_outer_ring_and_avoid_cut_cells() {
        let mut m = GridMap::filled(5, 6, CellKind::Free).unwrap();
        let sites = place_chargers(&mut m, 4).unwrap();
        assert_eq!(sites.len(), 4);
        for &s in &sites {
            let (r, c) = m.row_col(s).unwrap();
            assert!(r == 0 || c == 0 || r == 4 || c == 5);
            assert_eq!(m.kind(s), Some(CellKind::Charger));
        }
        // A corridor: every inner cell is a cut cell; the two ends are not.
        let line = parse_rows(&["......"]).unwrap();
        assert_eq!(charger_sites(&line, 2).unwrap(), vec![0, 5]);
        assert_eq!(charger_sites(&line, 3).unwrap().len(), 3); // falls back to cut cells
        assert!(matches!(charger_sites(&line, 7), Err(PlacementError::NotEnoughCells { .. })));
        let cut = articulation_points(&line);
        assert_eq!(cut, vec![false, true, true, true, true, false]);
    }

    #[test]
    fn articulation_points_of_a_ring_and_a_dumbbell() {
        let ring = parse_rows(&["...", ".#.", "..."]).unwrap();
        assert!(articulation_points(&ring).iter().all(|&c| !c));
        let dumbbell = parse_rows(&["..#..", ".....", "..#.."]).unwrap();
        let cut = articulation_points(&dumbbell);
        let cuts: Vec<_> = (0..dumbbell.len() as u32).filter(|&c| cut[c as usize]).collect();
        // The bar's three cells: each one's removal separates the bells.
        let bar: Vec<_> = (1..4).map(|c| dumbbell.index(1, c).unwrap()).collect();
        assert_eq!(cuts, bar);
    }

    #[test]
    fn movingai_roundtrip_of_a_generated_map() {
        let mut layout = WarehouseLayout::movingai_10_20_10_2_1();
        layout.pick_every = 1;
        layout.drops_per_side = 5;
        let m = layout.generate().unwrap();
        let text = m.to_movingai();
        let back = parse_movingai(text.as_bytes()).unwrap();
        assert_eq!(back, m);
        // CRLF line ends and trailing blank lines are fine.
        let crlf = text.replace('\n', "\r\n") + "\r\n\n";
        assert_eq!(parse_movingai(crlf.as_bytes()).unwrap(), m);
        // Scenario rows and serde round-trip losslessly, chargers included.
        let mut with_chargers = m.clone();
        place_chargers(&mut with_chargers, 6).unwrap();
        assert_eq!(parse_rows(&with_chargers.to_rows()).unwrap(), with_chargers);
    }

    #[test]
    fn movingai_characters() {
        let m = parse_movingai(b"type octile\nwidth 8\nheight 1\nmap\n.G@OTWSE\n").unwrap();
        use CellKind::*;
        assert_eq!(m.cells(), &[Free, Free, Blocked, Blocked, Blocked, Blocked, Pick, Drop]);
    }

    #[test]
    fn movingai_errors_are_positioned() {
        let (l, c, k) = kind_err("");
        assert_eq!((l, c), (1, 1));
        assert!(matches!(k, MapErrorKind::Header { .. }));
        let (l, c, k) = kind_err("type octagon\n");
        assert_eq!((l, c), (1, 1));
        assert!(matches!(k, MapErrorKind::Header { .. }));
        let (l, c, k) = kind_err("type octile\nheight x3\nwidth 3\nmap\n");
        assert_eq!((l, c), (2, 8));
        assert!(matches!(k, MapErrorKind::Number { field: "height", .. }));
        let (l, _, k) = kind_err("type octile\nheight 3\nheight 3\n");
        assert_eq!(l, 3);
        assert!(matches!(k, MapErrorKind::Header { expected: "`width W`", .. }));
        let (l, c, k) = kind_err("type octile\nheight 2\nwidth 3\nmap\n...\n..\n");
        assert_eq!((l, c), (6, 3));
        assert_eq!(k, MapErrorKind::RowLength { row: 2, len: 2, width: 3 });
        let (l, c, k) = kind_err("type octile\nheight 2\nwidth 3\nmap\n...\n.x.\n");
        assert_eq!((l, c), (6, 2));
        assert_eq!(k, MapErrorKind::UnknownChar { found: "`x`".into() });
        let (l, c, k) = kind_err("type octile\nheight 3\nwidth 3\nmap\n...\n...\n");
        assert_eq!((l, c), (7, 1));
        assert_eq!(k, MapErrorKind::TooFewRows { expected: 3, found: 2 });
        let (l, c, k) = kind_err("type octile\nheight 1\nwidth 3\nmap\n...\n\n  ..\n");
        assert_eq!((l, c), (7, 3));
        assert_eq!(k, MapErrorKind::TooManyRows { expected: 1 });
        let (l, _, k) = kind_err("type octile\nheight 1000000000\nwidth 1000000000\nmap\n");
        assert_eq!(l, 3);
        assert!(matches!(k, MapErrorKind::Size(SizeError::TooLarge { .. })));
        let (_, _, k) = kind_err("type octile\nheight 99999999999\nwidth 3\nmap\n");
        assert!(matches!(k, MapErrorKind::Number { .. }));
        let (_, _, k) = kind_err("type octile\nheight 0\nwidth 3\nmap\n");
        assert!(matches!(k, MapErrorKind::Size(SizeError::Empty { .. })));
        // The message says where and what.
        let e = parse_movingai(b"type octile\nheight 1\nwidth 2\nmap\n.?\n").unwrap_err();
        assert_eq!(e.to_string(), "line 5, column 2: unknown map character `?` (expected one of . G @ O T W S E)");
    }

    #[test]
    fn movingai_never_panics_on_hostile_input() {
        let mut long = b"type octile\nheight 1\nwidth 3\nmap\n".to_vec();
        long.extend(std::iter::repeat_n(b'.', 1_000_000));
        let e = parse_movingai(&long).unwrap_err();
        assert_eq!(e.kind, MapErrorKind::RowLength { row: 1, len: 1_000_000, width: 3 });
        let mut long_header = b"type ".to_vec();
        long_header.extend(std::iter::repeat_n(b'x', 1_000_000));
        let e = parse_movingai(&long_header).unwrap_err();
        assert!(e.to_string().len() < 200);
        let _ = parse_movingai(b"type octile\nheight 1000000000\nwidth 1\nmap\n").unwrap_err();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for len in [0usize, 1, 2, 10, 100, 1000, 10_000] {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
                assert!(parse_movingai(&bytes).is_err());
            }
        }
        // Garbage after a valid header.
        for _ in 0..200 {
            let mut b = b"type octile\nheight 4\nwidth 4\nmap\n".to_vec();
            b.extend((0..rng.random_range(0..40)).map(|_| *b".@\n\r\xff".get(rng.random_range(0..5)).unwrap()));
            let _ = parse_movingai(&b);
        }
    }

    #[test]
    fn scenario_rows_legend_and_errors() {
        let m = parse_rows(&[".#PD", "CZ.."]).unwrap();
        use CellKind::*;
        assert_eq!(m.cells(), &[Free, Blocked, Pick, Drop, Charger, Parking, Free, Free]);
        assert_eq!(m.free_cell_count(), 7);
        let s = m.stations();
        assert_eq!((s.pick, s.drop, s.charger, s.parking), (vec![2], vec![3], vec![4], vec![5]));
        let e = parse_rows(&["....", "..x."]).unwrap_err();
        assert_eq!((e.row, e.col, e.kind), (1, 2, RowsErrorKind::UnknownChar { found: 'x' }));
        let e = parse_rows(&["....", "..."]).unwrap_err();
        assert_eq!((e.row, e.col), (1, 3));
        assert_eq!(e.kind, RowsErrorKind::RowLength { len: 3, expected: 4 });
        let e = parse_rows(&["....", "....."]).unwrap_err();
        assert_eq!((e.row, e.col), (1, 4));
        assert_eq!(parse_rows::<&str>(&[]).unwrap_err().kind, RowsErrorKind::Empty);
        assert_eq!(parse_rows(&[""]).unwrap_err().kind, RowsErrorKind::Empty);
        // Non-ASCII characters are counted as characters.
        let e = parse_rows(&["é.."]).unwrap_err();
        assert_eq!((e.row, e.col), (0, 0));
    }

    #[test]
    fn serde_goes_through_the_rows() {
        let m = parse_rows(&["..P", "#D."]).unwrap();
        let rows: Vec<String> = GridRows::from(m.clone()).0;
        assert_eq!(rows, vec!["..P", "#D."]);
        let back = GridMap::try_from(GridRows(rows)).unwrap();
        assert_eq!(back, m);
        assert!(GridMap::try_from(GridRows(vec!["..".into(), "...".into()])).is_err());
    }

    #[test]
    fn errands_are_uniform_and_seeded() {
        let m = parse_rows(&["..#.", "...."]).unwrap();
        let s = ErrandSampler::new(&m).unwrap();
        assert_eq!(s.cells().len(), 7);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0u32; 8];
        for _ in 0..70_000 {
            let g = s.goal_other_than(0, &mut rng);
            assert_ne!(g, 0);
            counts[g as usize] += 1;
        }
        assert_eq!(counts[0], 0);
        assert_eq!(counts[2], 0); // blocked
        for &c in [1usize, 3, 4, 5, 6, 7].iter() {
            assert!((10_500..12_800).contains(&counts[c]), "cell {c}: {}", counts[c]);
        }
        for _ in 0..100 {
            let (a, b) = s.errand(&mut rng);
            assert_ne!(a, b);
            assert!(m.is_passable(a) && m.is_passable(b));
        }
        let d = s.distinct(7, &mut rng).unwrap();
        let mut sorted = d.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, s.cells());
        assert!(s.distinct(8, &mut rng).is_none());
        let a: Vec<_> = (0..10).map(|_| s.goal(&mut ChaCha8Rng::seed_from_u64(3))).collect();
        assert!(a.iter().all(|&x| x == a[0]));
        assert!(ErrandSampler::from_cells(vec![]).is_none());
    }

    #[test]
    fn public_random_32_32_20() {
        let Some(bytes) = read_shared("random-32-32-20.map") else { return };
        let m = parse_movingai(&bytes).unwrap();
        assert_eq!((m.rows(), m.cols()), (32, 32));
        assert_eq!(m.free_cell_count(), 819);
    }

    #[test]
    fn public_lrr_maps() {
        for (rel, rows, cols, drops, picks, free) in [
            ("lrr/2023_warehouse_small/maps/warehouse_small.map", 33, 57, 40, 342, 1277),
            ("lrr/2024_maps/warehouse_large.map", 140, 500, 352, 25249, 38586),
            ("lrr/2024_maps/sortation_large.map", 140, 500, 620, 31296, 54320),
            ("lrr/2024_maps/warehouse_long_corridor_large.map", 140, 500, 352, 28144, 38643),
        ] {
            let Some(bytes) = read_shared(rel) else { continue };
            let m = parse_movingai(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!((m.rows(), m.cols()), (rows, cols), "{rel}");
            assert_eq!(m.count(CellKind::Drop), drops, "{rel}: E cells");
            assert_eq!(m.count(CellKind::Pick), picks, "{rel}: S cells");
            assert_eq!(m.free_cell_count(), free, "{rel}: passable cells");
        }
    }
}
