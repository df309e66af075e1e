//! Parser for MATPOWER case files (`.m`, case format version 2): `mpc.baseMVA`, `mpc.bus`, `mpc.gen`,
//! `mpc.branch` and the optional `mpc.gencost`, with positioned errors (1-based line and column).
//!
//! The parser reads the subset of MATLAB that case files use: `function mpc = name`, assignments of
//! scalars and matrices to `mpc.<field>`, `%` comments (and `%{ … %}` blocks), `...` continuations,
//! strings and cell arrays. Other fields (`mpc.version`, `mpc.bus_name = {…}`, `mpc.areas`, …) and other
//! statements are skipped without being evaluated. Matrix rows end with `;` or a newline; elements are
//! separated by spaces, tabs or commas; elements are numbers (`1`, `-0.5`, `1e-3`, `.5`, `Inf`).
//! Arithmetic expressions, `NaN`, transposes and indexed assignments (`mpc.bus(3, 2) = 1`) are
//! rejected with a message rather than misread. No input makes the parser panic or recurse.
//!
//! Column meanings follow MATPOWER's `caseformat` (Zimmerman, Murillo-Sánchez & Thomas, "MATPOWER:
//! Steady-State Operations, Planning and Analysis Tools for Power Systems Research and Education",
//! IEEE Trans. Power Systems 26(1), 2011, and the MATPOWER User's Manual, Appendix B).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Most problems reported for one file; the rest are counted in the last message.
pub const MAX_ERRORS: usize = 100;

/// A 1-based position in a case file. `line == 0` means "unknown" (a case built in code).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters (not bytes), from 1.
    pub column: usize,
}

/// One problem found in a case, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct CaseError {
    /// Line, from 1 (0: no position known).
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// What was wrong, and what was expected.
    pub message: String,
}

impl CaseError {
    /// A problem at `pos`.
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        CaseError { line: pos.line, column: pos.column, message: message.into() }
    }
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
        }
    }
}

/// Every problem found in a case (at least one), in the order found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct CaseErrors(pub Vec<CaseError>);

impl fmt::Display for CaseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// MATPOWER bus type (column 2 of `mpc.bus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BusType {
    /// 1: load bus.
    Pq,
    /// 2: generator bus.
    Pv,
    /// 3: reference (slack) bus.
    Ref,
    /// 4: isolated bus (out of service).
    Isolated,
}

/// One row of `mpc.bus`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bus {
    /// Bus number (column 1), a positive integer; numbers may have gaps.
    pub number: u32,
    /// Bus type (column 2).
    pub kind: BusType,
    /// Real power demand Pd, MW.
    pub pd_mw: f64,
    /// Reactive power demand Qd, MVAr.
    pub qd_mvar: f64,
    /// Shunt conductance Gs, MW demanded at V = 1 pu.
    pub gs_mw: f64,
    /// Shunt susceptance Bs, MVAr injected at V = 1 pu.
    pub bs_mvar: f64,
    /// Area number.
    pub area: u32,
    /// Voltage magnitude Vm, pu.
    pub vm_pu: f64,
    /// Voltage angle Va, degrees.
    pub va_deg: f64,
    /// Base voltage, kV (0 in some cases, e.g. case14).
    pub base_kv: f64,
    /// Loss zone.
    pub zone: u32,
    /// Maximum voltage magnitude, pu.
    pub vmax_pu: f64,
    /// Minimum voltage magnitude, pu.
    pub vmin_pu: f64,
}

/// One row of `mpc.gen`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gen {
    /// Bus number the generator is connected to.
    pub bus: u32,
    /// Real power output Pg, MW.
    pub pg_mw: f64,
    /// Reactive power output Qg, MVAr.
    pub qg_mvar: f64,
    /// Maximum reactive output, MVAr.
    pub qmax_mvar: f64,
    /// Minimum reactive output, MVAr.
    pub qmin_mvar: f64,
    /// Voltage set-point, pu.
    pub vg_pu: f64,
    /// Machine MVA base (MATPOWER's default 100 when absent from the data).
    pub mbase_mva: f64,
    /// Status column > 0.
    pub in_service: bool,
    /// Maximum real output, MW.
    pub pmax_mw: f64,
    /// Minimum real output, MW.
    pub pmin_mw: f64,
    /// Ramp rate for load following/AGC, MW/min (column 17, when present).
    pub ramp_agc_mw_per_min: Option<f64>,
    /// Ramp rate for a 10-minute reserve, MW (column 18, when present).
    pub ramp_10_mw: Option<f64>,
    /// Ramp rate for a 30-minute reserve, MW (column 19, when present).
    pub ramp_30_mw: Option<f64>,
    /// Ramp rate for reactive power, MVAr/min (column 20, when present).
    pub ramp_q_mvar_per_min: Option<f64>,
    /// Area participation factor (column 21, when present).
    pub apf: Option<f64>,
}

/// One row of `mpc.branch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    /// "From" bus number.
    pub from_bus: u32,
    /// "To" bus number.
    pub to_bus: u32,
    /// Resistance, pu.
    pub r_pu: f64,
    /// Reactance, pu (may be negative: series compensation).
    pub x_pu: f64,
    /// Total line charging susceptance, pu.
    pub b_pu: f64,
    /// Long-term rating, MVA (0 = unlimited).
    pub rate_a_mva: f64,
    /// Short-term rating, MVA (0 = unlimited).
    pub rate_b_mva: f64,
    /// Emergency rating, MVA (0 = unlimited).
    pub rate_c_mva: f64,
    /// Transformer off-nominal turns ratio τ (0 = a line, i.e. τ = 1).
    pub ratio: f64,
    /// Transformer phase shift angle φ, degrees (positive = delay).
    pub angle_deg: f64,
    /// Status column = 1.
    pub in_service: bool,
    /// Minimum angle difference θf − θt, degrees (−360 when the column is absent).
    pub angmin_deg: f64,
    /// Maximum angle difference θf − θt, degrees (360 when the column is absent).
    pub angmax_deg: f64,
}

/// Cost model of a `mpc.gencost` row (column 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CostModel {
    /// 1: piecewise linear, coefficients are points x1, y1, …, xn, yn (MW, $/h).
    PiecewiseLinear,
    /// 2: polynomial, coefficients c(n−1), …, c1, c0 (highest order first; $/h with P in MW).
    Polynomial,
}

/// One row of `mpc.gencost`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenCost {
    /// Cost model.
    pub model: CostModel,
    /// Start-up cost, $.
    pub startup: f64,
    /// Shut-down cost, $.
    pub shutdown: f64,
    /// Polynomial: n coefficients, highest order first. Piecewise linear: 2n numbers x1, y1, …, xn, yn.
    pub coeffs: Vec<f64>,
}

impl GenCost {
    /// The number n of the file: coefficients (polynomial) or points (piecewise linear).
    pub fn n(&self) -> usize {
        match self.model {
            CostModel::Polynomial => self.coeffs.len(),
            CostModel::PiecewiseLinear => self.coeffs.len() / 2,
        }
    }

    /// Cost in $/h at output `p_mw`: the polynomial, or linear interpolation (and extrapolation of the
    /// end segments) of the points.
    pub fn eval(&self, p_mw: f64) -> f64 {
        match self.model {
            CostModel::Polynomial => self.coeffs.iter().fold(0.0, |acc, c| acc * p_mw + c),
            CostModel::PiecewiseLinear => {
                let pts: Vec<(f64, f64)> = self.coeffs.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                match pts.len() {
                    0 => 0.0,
                    1 => pts[0].1,
                    n => {
                        let k = pts.windows(2).position(|w| p_mw <= w[1].0).unwrap_or(n - 2);
                        let ((x0, y0), (x1, y1)) = (pts[k], pts[k + 1]);
                        if x1 == x0 { y0 } else { y0 + (y1 - y0) * (p_mw - x0) / (x1 - x0) }
                    }
                }
            }
        }
    }
}

/// Where each row of a parsed case came from (empty vectors for a case built in code).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceMap {
    /// Position of `mpc.baseMVA`'s value.
    pub base_mva: Pos,
    /// First element of each `mpc.bus` row.
    pub buses: Vec<Pos>,
    /// First element of each `mpc.gen` row.
    pub gens: Vec<Pos>,
    /// First element of each `mpc.branch` row.
    pub branches: Vec<Pos>,
    /// First element of each `mpc.gencost` row.
    pub gencost: Vec<Pos>,
    /// End of the input.
    pub end: Pos,
}

/// A MATPOWER case: the struct-of-rows result of [`Case::parse`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// System MVA base (`mpc.baseMVA`).
    pub base_mva: f64,
    /// `mpc.bus` rows, in file order.
    pub buses: Vec<Bus>,
    /// `mpc.gen` rows, in file order.
    pub gens: Vec<Gen>,
    /// `mpc.branch` rows, in file order (parallel branches are separate rows).
    pub branches: Vec<Branch>,
    /// `mpc.gencost` rows when present: one per generator, optionally followed by one reactive-power
    /// cost row per generator.
    pub gencost: Option<Vec<GenCost>>,
    /// Positions of the rows in the file, for positioned errors downstream.
    #[serde(default, skip)]
    pub source: SourceMap,
}

impl Case {
    /// Parses a case file's text. On failure returns every problem found (up to [`MAX_ERRORS`]).
    pub fn parse(src: &str) -> Result<Case, CaseErrors> {
        Parser::new(src).run()
    }

    /// Parses raw bytes, rejecting invalid UTF-8 with the position of the first bad byte.
    pub fn from_bytes(bytes: &[u8]) -> Result<Case, CaseErrors> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Case::parse(s),
            Err(e) => {
                let valid = &bytes[..e.valid_up_to()];
                // The valid prefix is UTF-8 by construction.
                let prefix = std::str::from_utf8(valid).unwrap_or("");
                let line = 1 + prefix.matches('\n').count();
                let column = 1 + prefix.rsplit('\n').next().map_or(0, |l| l.chars().count());
                Err(CaseErrors(vec![CaseError {
                    line,
                    column,
                    message: format!("the file is not UTF-8 text (byte 0x{:02x})", bytes[e.valid_up_to()]),
                }]))
            }
        }
    }

    /// Reads and parses a file; I/O errors are reported as a [`CaseError`] without position.
    pub fn from_file(path: &std::path::Path) -> Result<Case, CaseErrors> {
        match std::fs::read(path) {
            Ok(b) => Case::from_bytes(&b),
            Err(e) => Err(CaseErrors(vec![CaseError::new(Pos::default(), format!("{}: {e}", path.display()))])),
        }
    }

    /// Position of bus row `i` (0-based), or the unknown position.
    pub fn bus_pos(&self, i: usize) -> Pos {
        self.source.buses.get(i).copied().unwrap_or_default()
    }

    /// Position of generator row `i` (0-based), or the unknown position.
    pub fn gen_pos(&self, i: usize) -> Pos {
        self.source.gens.get(i).copied().unwrap_or_default()
    }

    /// Position of branch row `i` (0-based), or the unknown position.
    pub fn branch_pos(&self, i: usize) -> Pos {
        self.source.branches.get(i).copied().unwrap_or_default()
    }

    /// Map from bus number to row index.
    pub fn bus_index(&self) -> HashMap<u32, usize> {
        self.buses.iter().enumerate().map(|(i, b)| (b.number, i)).collect()
    }

    /// Consistency checks between the tables (also run by [`Case::parse`]): base MVA positive and
    /// finite, bus numbers unique, every generator and branch at a known bus, gencost rows matching
    /// the generators. Returns every problem found.
    pub fn validate(&self) -> Vec<CaseError> {
        let mut errs = Vec::new();
        if !(self.base_mva.is_finite() && self.base_mva > 0.0) {
            errs.push(CaseError::new(
                self.source.base_mva,
                format!("mpc.baseMVA = {} (expected a positive number)", self.base_mva),
            ));
        }
        let mut seen: HashMap<u32, usize> = HashMap::new();
        for (i, b) in self.buses.iter().enumerate() {
            if let Some(&first) = seen.get(&b.number) {
                errs.push(CaseError::new(
                    self.bus_pos(i),
                    format!("bus number {} appears twice in mpc.bus (rows {} and {})", b.number, first + 1, i + 1),
                ));
            } else {
                seen.insert(b.number, i);
            }
        }
        for (i, g) in self.gens.iter().enumerate() {
            if !seen.contains_key(&g.bus) {
                errs.push(CaseError::new(
                    self.gen_pos(i),
                    format!("gen {} refers to bus {}, which is not in mpc.bus", i + 1, g.bus),
                ));
            }
        }
        for (i, br) in self.branches.iter().enumerate() {
            for (end, n) in [("from", br.from_bus), ("to", br.to_bus)] {
                if !seen.contains_key(&n) {
                    errs.push(CaseError::new(
                        self.branch_pos(i),
                        format!("branch {} refers to bus {n} ({end} bus), which is not in mpc.bus", i + 1),
                    ));
                }
            }
        }
        if let Some(gc) = &self.gencost {
            let ng = self.gens.len();
            if gc.len() != ng && gc.len() != 2 * ng {
                let pos = self.source.gencost.first().copied().unwrap_or_default();
                errs.push(CaseError::new(
                    pos,
                    format!(
                        "mpc.gencost has {} rows, expected {ng} (one per generator) or {} (with reactive costs)",
                        gc.len(),
                        2 * ng
                    ),
                ));
            }
        }
        errs
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    Num(f64),
    /// Something that starts like a number but is not one (`1.2.3`, `12abc`, `1e`).
    BadNum(&'a str),
    Str,
    /// An unterminated string.
    BadStr,
    Open(char),
    Close(char),
    Semi,
    Comma,
    Newline,
    Assign,
    Op(char),
    Eof,
}

#[derive(Clone, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    pos: Pos,
    /// Whitespace (or a line start) separates this token from the previous one.
    spaced: bool,
}

struct Lexer<'a> {
    src: &'a str,
    i: usize,
    line: usize,
    col: usize,
    /// Whether the previous token allows a following `'` to be a transpose.
    prev_value: bool,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        // A byte-order mark is not part of the text.
        let i = if src.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
        Lexer { src, i, line: 1, col: 1, prev_value: false }
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.col }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.i..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.i..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn rest_of_line(&self) -> &'a str {
        let r = &self.src[self.i..];
        &r[..r.find('\n').unwrap_or(r.len())]
    }

    fn skip_to_eol(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Whether only spaces precede the current position on its line.
    fn at_line_start(&self) -> bool {
        let before = &self.src[..self.i];
        before.rsplit('\n').next().is_none_or(|l| l.trim().is_empty())
    }

    /// Skips a `%{ … %}` block comment (they nest); the current position is on the first `%`.
    fn skip_block_comment(&mut self) {
        let mut depth = 0usize;
        loop {
            let line = self.rest_of_line().trim();
            if line == "%{" {
                depth += 1;
            } else if line == "%}" {
                depth = depth.saturating_sub(1);
            }
            self.skip_to_eol();
            if depth == 0 || self.peek().is_none() {
                return;
            }
            self.bump(); // the newline
        }
    }

    fn next(&mut self) -> Token<'a> {
        let mut spaced = self.i == 0;
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\u{0b}' | '\u{0c}') => {
                    self.bump();
                    spaced = true;
                }
                Some('%') => {
                    if self.at_line_start() && self.rest_of_line().trim() == "%{" {
                        self.skip_block_comment();
                    } else {
                        self.skip_to_eol();
                    }
                    spaced = true;
                }
                Some('.') if self.src[self.i..].starts_with("...") => {
                    // Continuation: the rest of the line and the newline are ignored.
                    self.skip_to_eol();
                    self.bump();
                    spaced = true;
                }
                _ => break,
            }
        }
        let pos = self.pos();
        let start = self.i;
        let Some(c) = self.bump() else {
            return Token { tok: Tok::Eof, pos, spaced: true };
        };
        let tok = match c {
            '\n' => Tok::Newline,
            ';' => Tok::Semi,
            ',' => Tok::Comma,
            '[' | '{' | '(' => Tok::Open(c),
            ']' | '}' | ')' => Tok::Close(c),
            '=' if self.peek() == Some('=') => {
                self.bump();
                Tok::Op('=')
            }
            '=' => Tok::Assign,
            '\'' if self.prev_value && !spaced => Tok::Op('\''),
            '\'' | '"' => self.string(c),
            c if c.is_ascii_digit() || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) => {
                self.number(start)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                loop {
                    match self.peek() {
                        Some(d) if d.is_ascii_alphanumeric() || d == '_' => {
                            self.bump();
                        }
                        Some('.')
                            if self.peek2().is_some_and(|d| d.is_ascii_alphabetic() || d == '_')
                                && !self.src[self.i..].starts_with("...") =>
                        {
                            self.bump();
                        }
                        _ => break,
                    }
                }
                Tok::Ident(&self.src[start..self.i])
            }
            c => Tok::Op(c),
        };
        self.prev_value = matches!(tok, Tok::Ident(_) | Tok::Num(_) | Tok::Close(_) | Tok::Str | Tok::Op('\''));
        Token { tok, pos, spaced }
    }

    fn string(&mut self, quote: char) -> Tok<'a> {
        loop {
            match self.peek() {
                None | Some('\n') => return Tok::BadStr,
                Some(c) if c == quote => {
                    self.bump();
                    if self.peek() == Some(quote) {
                        self.bump(); // doubled quote: an escaped quote
                    } else {
                        return Tok::Str;
                    }
                }
                Some(_) => {
                    self.bump();
                }
            }
        }
    }

    fn number(&mut self, start: usize) -> Tok<'a> {
        let digits = |lx: &mut Self| {
            while lx.peek().is_some_and(|d| d.is_ascii_digit()) {
                lx.bump();
            }
        };
        digits(self);
        if self.peek() == Some('.') && !self.src[self.i..].starts_with("...") && !self.src[start..self.i].contains('.')
        {
            self.bump();
            digits(self);
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = (self.i, self.line, self.col);
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.peek().is_some_and(|d| d.is_ascii_digit()) {
                digits(self);
            } else {
                (self.i, self.line, self.col) = save;
            }
        }
        // A number must not run into letters or another decimal point.
        let runs_on = |lx: &Self| match lx.peek() {
            Some(d) if d.is_ascii_alphanumeric() || d == '_' => true,
            Some('.') => !lx.src[lx.i..].starts_with("..."),
            _ => false,
        };
        if runs_on(self) {
            while runs_on(self) {
                self.bump();
            }
            return Tok::BadNum(&self.src[start..self.i]);
        }
        match self.src[start..self.i].parse::<f64>() {
            Ok(v) => Tok::Num(v),
            Err(_) => Tok::BadNum(&self.src[start..self.i]),
        }
    }
}

fn describe(t: &Tok<'_>) -> String {
    match t {
        Tok::Ident(s) | Tok::BadNum(s) => format!("`{s}`"),
        Tok::Num(v) => format!("the number {v}"),
        Tok::Str => "a string".into(),
        Tok::BadStr => "an unterminated string".into(),
        Tok::Open(c) | Tok::Close(c) | Tok::Op(c) => format!("`{c}`"),
        Tok::Semi => "`;`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Newline => "the end of the line".into(),
        Tok::Assign => "`=`".into(),
        Tok::Eof => "the end of the file".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

/// The known fields of the case struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Field {
    BaseMva,
    Bus,
    Gen,
    Branch,
    Gencost,
}

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "baseMVA" => Field::BaseMva,
            "bus" => Field::Bus,
            "gen" => Field::Gen,
            "branch" => Field::Branch,
            "gencost" => Field::Gencost,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Field::BaseMva => "baseMVA",
            Field::Bus => "bus",
            Field::Gen => "gen",
            Field::Branch => "branch",
            Field::Gencost => "gencost",
        }
    }
}

struct Row {
    pos: Pos,
    vals: Vec<f64>,
    /// An element of this row was rejected (its other checks are skipped).
    bad: bool,
}

struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<Token<'a>>,
    errors: Vec<CaseError>,
    dropped: usize,
    var: String,
    base_mva: Option<(f64, Pos)>,
    matrices: HashMap<Field, (Pos, Vec<Row>)>,
    /// The field failed to parse (reported already): do not also report it as missing.
    failed: Vec<Field>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            lex: Lexer::new(src),
            peeked: None,
            errors: Vec::new(),
            dropped: 0,
            var: "mpc".into(),
            base_mva: None,
            matrices: HashMap::new(),
            failed: Vec::new(),
        }
    }

    fn next(&mut self) -> Token<'a> {
        self.peeked.take().unwrap_or_else(|| self.lex.next())
    }

    fn peek(&mut self) -> &Token<'a> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next());
        }
        // Filled just above.
        self.peeked.get_or_insert_with(|| Token { tok: Tok::Eof, pos: Pos::default(), spaced: true })
    }

    fn err(&mut self, pos: Pos, msg: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(CaseError::new(pos, msg));
        } else {
            self.dropped += 1;
        }
    }

    /// Skips to the end of the current statement (a newline, `;` or `,` outside brackets), the
    /// already-open bracket count being `depth`. Reports brackets never closed.
    fn skip_statement(&mut self, mut depth: usize, mut open_pos: Pos) {
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => {
                    if depth > 0 {
                        self.err(open_pos, "this bracket is never closed");
                    }
                    return;
                }
                Tok::Open(_) => {
                    if depth == 0 {
                        open_pos = t.pos;
                    }
                    depth += 1;
                }
                Tok::Close(_) => depth = depth.saturating_sub(1),
                Tok::Newline | Tok::Semi | Tok::Comma if depth == 0 => return,
                _ => {}
            }
        }
    }

    fn end_of_statement(&mut self, what: &str) {
        let t = self.peek().clone();
        match t.tok {
            Tok::Newline | Tok::Semi | Tok::Comma => {
                self.next();
            }
            Tok::Eof => {}
            Tok::Op('\'') => {
                self.err(t.pos, format!("{what}: transposed matrices are not supported"));
                self.skip_statement(0, t.pos);
            }
            ref other => {
                let hint = if matches!(other, Tok::Op(_)) { " (expressions are not supported)" } else { "" };
                self.err(
                    t.pos,
                    format!("{what}: expected `;` or the end of the line, found {}{hint}", describe(other)),
                );
                self.skip_statement(0, t.pos);
            }
        }
    }

    fn run(mut self) -> Result<Case, CaseErrors> {
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => break,
                Tok::Newline | Tok::Semi | Tok::Comma => {}
                Tok::Ident("function") => self.function_header(),
                Tok::Ident(name) => self.statement(name, t.pos),
                Tok::Open(_) => self.skip_statement(1, t.pos),
                _ => self.skip_statement(0, t.pos),
            }
        }
        let end = self.lex.pos();
        self.finish(end)
    }

    /// `function mpc = name` (or `function [a, b] = name(x)`): remembers the output variable.
    fn function_header(&mut self) {
        let first = self.next();
        if first.tok == Tok::Open('[') {
            self.err(
                first.pos,
                "this is a MATPOWER version 1 case (function [baseMVA, bus, …] = …): only version 2 \
                 (function mpc = …) is supported; convert it with MATPOWER's loadcase and savecase",
            );
        }
        if let Tok::Ident(v) = first.tok
            && self.peek().tok == Tok::Assign
        {
            self.var = v.to_string();
        }
        match first.tok {
            Tok::Newline | Tok::Semi | Tok::Eof => {}
            Tok::Open(_) => self.skip_statement(1, first.pos),
            _ => self.skip_statement(0, first.pos),
        }
    }

    fn statement(&mut self, name: &'a str, pos: Pos) {
        let field = name.strip_prefix(self.var.as_str()).and_then(|r| r.strip_prefix('.')).and_then(Field::from_name);
        let Some(field) = field else {
            self.skip_statement(0, pos);
            return;
        };
        let t = self.next();
        match t.tok {
            Tok::Assign => {}
            Tok::Open('(') | Tok::Open('{') => {
                self.err(
                    t.pos,
                    format!(
                        "indexed assignment to {name} is not supported (the file changes its tables with MATLAB \
                         code: run it in MATLAB/Octave and save the result with savecase)"
                    ),
                );
                self.failed.push(field);
                self.skip_statement(1, t.pos);
                return;
            }
            Tok::Newline | Tok::Semi | Tok::Comma | Tok::Eof => return,
            _ => {
                self.skip_statement(0, t.pos);
                return;
            }
        }
        let already = match field {
            Field::BaseMva => self.base_mva.map(|(_, p)| p),
            f => self.matrices.get(&f).map(|(p, _)| *p),
        };
        if let Some(first) = already {
            self.err(pos, format!("{name} is assigned twice (first at line {})", first.line));
        }
        if field == Field::BaseMva {
            self.scalar(name);
        } else {
            let t = self.next();
            if t.tok != Tok::Open('[') {
                self.err(t.pos, format!("{name}: expected `[` to start a matrix, found {}", describe(&t.tok)));
                self.failed.push(field);
                let depth = usize::from(matches!(t.tok, Tok::Open(_)));
                if !matches!(t.tok, Tok::Newline | Tok::Semi | Tok::Eof) {
                    self.skip_statement(depth, t.pos);
                }
                return;
            }
            match self.matrix(name, t.pos) {
                Some(rows) => {
                    self.matrices.insert(field, (pos, rows));
                    self.end_of_statement(name);
                }
                None => self.failed.push(field),
            }
        }
    }

    fn scalar(&mut self, name: &str) {
        let t = self.next();
        let (v, pos) = match t.tok {
            Tok::Num(v) => (v, t.pos),
            Tok::Op(s @ ('-' | '+')) => match self.next() {
                Token { tok: Tok::Num(v), spaced: false, .. } => (if s == '-' { -v } else { v }, t.pos),
                _ => {
                    self.err(t.pos, format!("{name}: expected a number, found `{s}`"));
                    self.failed.push(Field::BaseMva);
                    self.skip_statement(0, t.pos);
                    return;
                }
            },
            ref other => {
                self.err(t.pos, format!("{name}: expected a number, found {}", describe(other)));
                self.failed.push(Field::BaseMva);
                if !matches!(t.tok, Tok::Newline | Tok::Semi | Tok::Eof) {
                    let depth = usize::from(matches!(t.tok, Tok::Open(_)));
                    self.skip_statement(depth, t.pos);
                }
                return;
            }
        };
        self.base_mva = Some((v, pos));
        self.end_of_statement(name);
    }

    /// Reads matrix rows after `[` up to the matching `]`. `None` after a structural error (reported).
    fn matrix(&mut self, name: &str, open: Pos) -> Option<Vec<Row>> {
        let mut rows = Vec::new();
        let mut cur = Row { pos: open, vals: Vec::new(), bad: false };
        let mut started = false;
        loop {
            let t = self.next();
            let value = match t.tok {
                Tok::Num(v) => Some(v),
                Tok::Ident("Inf" | "inf") => Some(f64::INFINITY),
                Tok::Op(s @ ('-' | '+')) => {
                    let sign = if s == '-' { -1.0 } else { 1.0 };
                    let n = self.peek().clone();
                    match n.tok {
                        Tok::Num(v) if !n.spaced => {
                            self.next();
                            Some(sign * v)
                        }
                        Tok::Ident("Inf" | "inf") if !n.spaced => {
                            self.next();
                            Some(sign * f64::INFINITY)
                        }
                        _ => {
                            self.err(t.pos, format!("expected a number, found `{s}` (expressions are not supported)"));
                            cur.bad = true;
                            None
                        }
                    }
                }
                Tok::Comma => None,
                Tok::Semi | Tok::Newline => {
                    if started {
                        rows.push(std::mem::replace(&mut cur, Row { pos: open, vals: Vec::new(), bad: false }));
                        started = false;
                    }
                    None
                }
                Tok::Close(']') => {
                    if started {
                        rows.push(cur);
                    }
                    return Some(rows);
                }
                Tok::Eof => {
                    self.err(open, format!("{name}: this `[` is never closed"));
                    return None;
                }
                Tok::Open(c) => {
                    self.err(
                        t.pos,
                        format!("unexpected `{c}` inside the matrix {name} (nested brackets are not supported)"),
                    );
                    self.skip_statement(2, open);
                    return None;
                }
                Tok::Ident("NaN" | "nan" | "NAN") => {
                    self.err(t.pos, "expected a number, found `NaN` (NaN is not accepted in case data)");
                    cur.bad = true;
                    None
                }
                ref other => {
                    self.err(t.pos, format!("expected a number, found {}", describe(other)));
                    cur.bad = true;
                    if matches!(t.tok, Tok::Close(_)) {
                        // A stray `)` or `}`: the matrix is unreadable.
                        self.skip_statement(1, open);
                        return None;
                    }
                    None
                }
            };
            if let Some(v) = value {
                if !started {
                    cur.pos = t.pos;
                    started = true;
                }
                cur.vals.push(v);
            } else if cur.bad && !started {
                cur.pos = t.pos;
                started = true;
            }
        }
    }

    fn finish(mut self, end: Pos) -> Result<Case, CaseErrors> {
        let mut source = SourceMap { end, ..SourceMap::default() };
        let base_mva = match self.base_mva {
            Some((v, p)) => {
                source.base_mva = p;
                v
            }
            None => {
                if !self.failed.contains(&Field::BaseMva) {
                    let var = self.var.clone();
                    self.err(end, format!("missing {var}.baseMVA"));
                }
                f64::NAN
            }
        };
        let mut tables: HashMap<Field, (Pos, Vec<Row>)> = std::mem::take(&mut self.matrices);
        let mut take = |p: &mut Self, f: Field, required: bool| -> Option<(Pos, Vec<Row>)> {
            let t = tables.remove(&f);
            if t.is_none() && required && !p.failed.contains(&f) {
                let var = p.var.clone();
                p.err(end, format!("missing {var}.{}", f.name()));
            }
            t
        };
        let bus_t = take(&mut self, Field::Bus, true);
        let gen_t = take(&mut self, Field::Gen, true);
        let branch_t = take(&mut self, Field::Branch, true);
        let gencost_t = take(&mut self, Field::Gencost, false);

        let mut buses = Vec::new();
        if let Some((_, rows)) = bus_t {
            for (i, row) in self.checked_rows("bus", &rows, 13) {
                source.buses.push(row.pos);
                if let Some(b) = self.bus(i, row) {
                    buses.push(b);
                }
            }
        }
        let mut gens = Vec::new();
        if let Some((_, rows)) = gen_t {
            for (i, row) in self.checked_rows("gen", &rows, 10) {
                source.gens.push(row.pos);
                if let Some(g) = self.gen_row(i, row) {
                    gens.push(g);
                }
            }
        }
        let mut branches = Vec::new();
        if let Some((_, rows)) = branch_t {
            for (i, row) in self.checked_rows("branch", &rows, 11) {
                source.branches.push(row.pos);
                if let Some(b) = self.branch(i, row) {
                    branches.push(b);
                }
            }
        }
        let gencost = match gencost_t {
            Some((_, rows)) => {
                let mut out = Vec::new();
                for (i, row) in self.checked_rows("gencost", &rows, 4) {
                    source.gencost.push(row.pos);
                    if let Some(c) = self.gencost(i, row) {
                        out.push(c);
                    }
                }
                Some(out)
            }
            None => None,
        };
        if self.errors.is_empty() {
            let case = Case { base_mva, buses, gens, branches, gencost, source };
            let errs = case.validate();
            if errs.is_empty() {
                return Ok(case);
            }
            for e in errs {
                let pos = Pos { line: e.line, column: e.column };
                self.err(pos, e.message);
            }
        }
        if self.dropped > 0 {
            let n = self.dropped;
            self.errors.push(CaseError::new(end, format!("… and {n} more problems")));
        }
        Err(CaseErrors(self.errors))
    }

    /// Rows with at least `min` columns, all rows of equal length; reports the others.
    fn checked_rows<'r>(&mut self, what: &str, rows: &'r [Row], min: usize) -> Vec<(usize, &'r Row)> {
        let width = rows.iter().find(|r| !r.bad).map_or(0, |r| r.vals.len());
        let mut ok = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            if r.bad {
                continue;
            }
            if r.vals.len() < min {
                self.err(r.pos, format!("{what} row {} has {} columns, expected at least {min}", i + 1, r.vals.len()));
            } else if r.vals.len() != width {
                self.err(
                    r.pos,
                    format!(
                        "{what} row {} has {} columns but row 1 has {width} (all rows of a matrix must have the same length)",
                        i + 1,
                        r.vals.len()
                    ),
                );
            } else {
                ok.push((i, r));
            }
        }
        ok
    }

    fn int(&mut self, pos: Pos, what: String, v: f64, min: f64) -> Option<u32> {
        if v.fract() == 0.0 && v >= min && v <= f64::from(u32::MAX) {
            Some(v as u32)
        } else {
            self.err(pos, format!("{what} = {v} (expected an integer ≥ {min})"));
            None
        }
    }

    fn finite(&mut self, pos: Pos, what: impl FnOnce() -> String, v: f64) -> Option<f64> {
        if v.is_finite() {
            Some(v)
        } else {
            self.err(pos, format!("{} = {v} (expected a finite number)", what()));
            None
        }
    }

    fn bus(&mut self, i: usize, row: &Row) -> Option<Bus> {
        let (p, v) = (row.pos, &row.vals);
        let n = i + 1;
        let number = self.int(p, format!("bus row {n}: bus number"), v[0], 1.0);
        let kind = match v[1] {
            1.0 => Some(BusType::Pq),
            2.0 => Some(BusType::Pv),
            3.0 => Some(BusType::Ref),
            4.0 => Some(BusType::Isolated),
            t => {
                self.err(p, format!("bus row {n}: type = {t} (expected 1, 2, 3 or 4)"));
                None
            }
        };
        let names = ["Pd", "Qd", "Gs", "Bs"];
        let mut fin = [0.0; 4];
        let mut ok = true;
        for (k, name) in names.iter().enumerate() {
            match self.finite(p, || format!("bus row {n}: {name}"), v[k + 2]) {
                Some(x) => fin[k] = x,
                None => ok = false,
            }
        }
        let area = self.int(p, format!("bus row {n}: area"), v[6], 0.0);
        let va = self.finite(p, || format!("bus row {n}: Va"), v[8]);
        let zone = self.int(p, format!("bus row {n}: zone"), v[10], 0.0);
        if !ok {
            return None;
        }
        Some(Bus {
            number: number?,
            kind: kind?,
            pd_mw: fin[0],
            qd_mvar: fin[1],
            gs_mw: fin[2],
            bs_mvar: fin[3],
            area: area?,
            vm_pu: v[7],
            va_deg: va?,
            base_kv: v[9],
            zone: zone?,
            vmax_pu: v[11],
            vmin_pu: v[12],
        })
    }

    fn gen_row(&mut self, i: usize, row: &Row) -> Option<Gen> {
        let (p, v) = (row.pos, &row.vals);
        let n = i + 1;
        let bus = self.int(p, format!("gen {n}: bus"), v[0], 1.0);
        let pg = self.finite(p, || format!("gen {n}: Pg"), v[1]);
        let status = self.finite(p, || format!("gen {n}: status"), v[7]);
        if let (Some(pmax), Some(pmin)) = (v.get(8), v.get(9))
            && pmin > pmax
        {
            self.err(p, format!("gen {n}: Pmin = {pmin} is above Pmax = {pmax}"));
            return None;
        }
        if v[8].is_nan() || v[9].is_nan() || v[9] == f64::INFINITY || v[8] == f64::NEG_INFINITY {
            self.err(p, format!("gen {n}: Pmax = {}, Pmin = {} (expected Pmin ≤ Pmax)", v[8], v[9]));
            return None;
        }
        let opt = |k: usize| v.get(k).copied();
        Some(Gen {
            bus: bus?,
            pg_mw: pg?,
            qg_mvar: v[2],
            qmax_mvar: v[3],
            qmin_mvar: v[4],
            vg_pu: v[5],
            mbase_mva: v[6],
            in_service: status? > 0.0,
            pmax_mw: v[8],
            pmin_mw: v[9],
            ramp_agc_mw_per_min: opt(16),
            ramp_10_mw: opt(17),
            ramp_30_mw: opt(18),
            ramp_q_mvar_per_min: opt(19),
            apf: opt(20),
        })
    }

    fn branch(&mut self, i: usize, row: &Row) -> Option<Branch> {
        let (p, v) = (row.pos, &row.vals);
        let n = i + 1;
        let from = self.int(p, format!("branch {n}: from bus"), v[0], 1.0);
        let to = self.int(p, format!("branch {n}: to bus"), v[1], 1.0);
        let x = self.finite(p, || format!("branch {n}: x"), v[3]);
        let ratio = self.finite(p, || format!("branch {n}: ratio"), v[8]);
        let angle = self.finite(p, || format!("branch {n}: angle"), v[9]);
        let status = match v[10] {
            0.0 => Some(false),
            1.0 => Some(true),
            s => {
                self.err(p, format!("branch {n}: status = {s} (expected 0 or 1)"));
                None
            }
        };
        let mut rates = [0.0; 3];
        for (k, name) in ["rateA", "rateB", "rateC"].iter().enumerate() {
            let r = v[5 + k];
            if r.is_nan() || r < 0.0 {
                self.err(p, format!("branch {n}: {name} = {r} (expected a rating ≥ 0, 0 = unlimited)"));
                return None;
            }
            rates[k] = r;
        }
        Some(Branch {
            from_bus: from?,
            to_bus: to?,
            r_pu: v[2],
            x_pu: x?,
            b_pu: v[4],
            rate_a_mva: rates[0],
            rate_b_mva: rates[1],
            rate_c_mva: rates[2],
            ratio: ratio?,
            angle_deg: angle?,
            in_service: status?,
            angmin_deg: v.get(11).copied().unwrap_or(-360.0),
            angmax_deg: v.get(12).copied().unwrap_or(360.0),
        })
    }

    fn gencost(&mut self, i: usize, row: &Row) -> Option<GenCost> {
        let (p, v) = (row.pos, &row.vals);
        let k = i + 1;
        let model = match v[0] {
            1.0 => CostModel::PiecewiseLinear,
            2.0 => CostModel::Polynomial,
            m => {
                self.err(p, format!("gencost row {k}: model = {m} (expected 1 piecewise linear or 2 polynomial)"));
                return None;
            }
        };
        let n = self.int(p, format!("gencost row {k}: n"), v[3], 1.0)? as usize;
        let need = match model {
            CostModel::Polynomial => n,
            CostModel::PiecewiseLinear => 2 * n,
        };
        if v.len() < 4 + need {
            self.err(
                p,
                format!(
                    "gencost row {k} has {} columns, expected at least {} for n = {n} {}",
                    v.len(),
                    4 + need,
                    if model == CostModel::Polynomial { "coefficients" } else { "points" }
                ),
            );
            return None;
        }
        let coeffs = v[4..4 + need].to_vec();
        if coeffs.iter().any(|c| !c.is_finite()) {
            self.err(p, format!("gencost row {k}: coefficients must be finite"));
            return None;
        }
        Some(GenCost { model, startup: v[1], shutdown: v[2], coeffs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "function mpc = tiny
%TINY a three-bus case
mpc.version = '2';
mpc.baseMVA = 100;
%% bus data
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t2\t1\t50, 10, 0, 0, 1, 1, -0.5, 230, 1, 1.1, 0.9
\t7\t1\t1e2\t0\t5\t0\t1\t1\t-1\t230\t1\t1.1\t0.9;   % gap in bus numbers
];
mpc.gen = [
\t1\t150\t0\t100\t-100\t1\t100\t1\t200\t0;
\t2\t0\t0\t100\t-100\t1\t100\t0\tInf\t0;
];
mpc.branch = [
\t1\t2\t0.01\t0.1\t0\t0\t0\t0\t0\t0\t1\t-360\t360;
\t2\t7\t0.01\t0.1 ...
\t0\t50\t0\t0\t0.98\t-2\t1\t-360\t360;
\t1\t7\t0.01\t-0.05\t0\t0\t0\t0\t0\t0\t0\t-360\t360;
];
mpc.gencost = [
\t2\t0\t0\t3\t0.01\t20\t0\t0;
\t1\t0\t0\t2\t0\t0\t100\t3000;
];
mpc.bus_name = {
\t'Bus 1 ; [HV';
\t'Bus ''2''';
\t'Bus 7 %';
};
";

    fn err_of(src: &str) -> CaseErrors {
        match Case::parse(src) {
            Ok(_) => panic!("expected an error for:\n{src}"),
            Err(e) => e,
        }
    }

    fn has(errs: &CaseErrors, needle: &str) -> bool {
        errs.0.iter().any(|e| e.message.contains(needle))
    }

    #[test]
    fn parses_all_tables() {
        let c = Case::parse(SMALL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.base_mva, 100.0);
        assert_eq!(c.buses.len(), 3);
        assert_eq!(c.buses[2].number, 7);
        assert_eq!(c.buses[2].pd_mw, 100.0);
        assert_eq!(c.buses[2].gs_mw, 5.0);
        assert_eq!(c.buses[1].va_deg, -0.5);
        assert_eq!(c.buses[0].kind, BusType::Ref);
        assert_eq!(c.gens.len(), 2);
        assert!(c.gens[0].in_service && !c.gens[1].in_service);
        assert_eq!(c.gens[1].pmax_mw, f64::INFINITY);
        assert_eq!(c.gens[0].ramp_agc_mw_per_min, None);
        assert_eq!(c.branches.len(), 3);
        assert_eq!(c.branches[1].ratio, 0.98);
        assert_eq!(c.branches[1].angle_deg, -2.0);
        assert_eq!(c.branches[1].rate_a_mva, 50.0);
        assert_eq!(c.branches[2].x_pu, -0.05);
        assert!(!c.branches[2].in_service);
        let gc = c.gencost.as_ref().unwrap();
        assert_eq!(gc[0].model, CostModel::Polynomial);
        assert_eq!(gc[0].coeffs, vec![0.01, 20.0, 0.0]);
        assert_eq!(gc[0].eval(10.0), 201.0);
        assert_eq!(gc[1].model, CostModel::PiecewiseLinear);
        assert_eq!(gc[1].n(), 2);
        assert_eq!(gc[1].eval(50.0), 1500.0);
        assert_eq!(gc[1].eval(150.0), 4500.0);
        // Positions: row 2 of the bus table starts on line 8, after a tab.
        assert_eq!(c.bus_pos(1), Pos { line: 8, column: 2 });
        assert_eq!(c.branch_pos(1).line, 17);
    }

    #[test]
    fn version_function_and_comments_are_optional() {
        let src =
            "mpc.baseMVA=100\nmpc.bus=[1 3 0 0 0 0 1 1 0 0 1 1 1]\nmpc.gen=[1 0 0 0 0 1 100 1 10 0]\nmpc.branch=[]\n";
        let c = Case::parse(src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.buses.len(), 1);
        assert!(c.branches.is_empty());
        assert!(c.gencost.is_none());
        // Another output variable name.
        let src2 = src.replace("mpc", "ppc");
        let c2 = Case::parse(&format!("function ppc = x\n{src2}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c2.gens.len(), 1);
    }

    #[test]
    fn block_comments_and_crlf() {
        let src = "%{\nmpc.bus = [garbage\n%}\r\nmpc.baseMVA = 100;\r\nmpc.bus = [\r\n 1 3 0 0 0 0 1 1 0 0 1 1 1;\r\n];\r\nmpc.gen = [1 0 0 0 0 1 100 1 10 0];\r\nmpc.branch = [];\r\n";
        let c = Case::parse(src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.buses.len(), 1);
    }

    #[test]
    fn short_bus_row_is_positioned() {
        let src = SMALL
            .replace("\t7\t1\t1e2\t0\t5\t0\t1\t1\t-1\t230\t1\t1.1\t0.9;", "\t7\t1\t1e2\t0\t5\t0\t1\t1\t-1\t230\t1;");
        let e = err_of(&src);
        let hit = e.0.iter().find(|e| e.message == "bus row 3 has 11 columns, expected at least 13");
        let hit = hit.unwrap_or_else(|| panic!("{e}"));
        assert_eq!((hit.line, hit.column), (9, 2));
    }

    #[test]
    fn bad_number_is_positioned() {
        let src = SMALL.replace("\t2\t1\t50, 10,", "\t2\t1\tabc, 10,");
        let e = err_of(&src);
        let hit = e.0.iter().find(|e| e.message == "expected a number, found `abc`").unwrap_or_else(|| panic!("{e}"));
        assert_eq!((hit.line, hit.column), (8, 6));
        for bad in ["1.2.3", "12abc", "1e", "0x1F"] {
            let e = err_of(&SMALL.replace("\t2\t1\t50, 10,", &format!("\t2\t1\t{bad}, 10,")));
            assert!(has(&e, &format!("expected a number, found `{bad}`")), "{bad}: {e}");
        }
        let e = err_of(&SMALL.replace("\t2\t1\t50, 10,", "\t2\t1\t50 - 10,"));
        assert!(has(&e, "expressions are not supported"), "{e}");
        let e = err_of(&SMALL.replace("\t2\t1\t50, 10,", "\t2\t1\tNaN, 10,"));
        assert!(has(&e, "NaN"), "{e}");
    }

    #[test]
    fn unknown_buses_and_duplicates() {
        let src = SMALL.replace("\t1\t7\t0.01\t-0.05", "\t1\t99\t0.01\t-0.05");
        let e = err_of(&src);
        assert!(has(&e, "branch 3 refers to bus 99 (to bus), which is not in mpc.bus"), "{e}");
        assert_eq!(e.0[0].line, 19);
        let src = SMALL.replace("\t7\t1\t1e2", "\t2\t1\t1e2");
        let e = err_of(&src);
        assert!(has(&e, "bus number 2 appears twice in mpc.bus (rows 2 and 3)"), "{e}");
        assert!(has(&e, "branch 2 refers to bus 7"), "{e}");
        let src = SMALL.replace("\t2\t0\t0\t100\t-100\t1\t100\t0\tInf", "\t5\t0\t0\t100\t-100\t1\t100\t0\tInf");
        assert!(has(&err_of(&src), "gen 2 refers to bus 5, which is not in mpc.bus"));
    }

    #[test]
    fn missing_tables_and_gencost_mismatch() {
        let e = err_of("mpc.baseMVA = 100;\n");
        assert!(has(&e, "missing mpc.bus") && has(&e, "missing mpc.gen") && has(&e, "missing mpc.branch"), "{e}");
        assert_eq!(e.0.len(), 3);
        let e = err_of(&SMALL.replace("mpc.baseMVA = 100;", ""));
        assert!(has(&e, "missing mpc.baseMVA"), "{e}");
        let e = err_of(&SMALL.replace("\t1\t0\t0\t2\t0\t0\t100\t3000;\n", ""));
        assert!(has(&e, "mpc.gencost has 1 rows, expected 2 (one per generator) or 4 (with reactive costs)"), "{e}");
        let e = err_of(&SMALL.replace("\t2\t0\t0\t3\t0.01\t20\t0\t0;", "\t2\t0\t0\t5\t0.01\t20\t0\t0;"));
        assert!(has(&e, "gencost row 1 has 8 columns, expected at least 9 for n = 5 coefficients"), "{e}");
    }

    #[test]
    fn ragged_rows_and_bad_types() {
        let e = err_of(
            &SMALL
                .replace("\t1\t150\t0\t100\t-100\t1\t100\t1\t200\t0;", "\t1\t150\t0\t100\t-100\t1\t100\t1\t200\t0\t0;"),
        );
        assert!(has(&e, "gen row 2 has 10 columns but row 1 has 11"), "{e}");
        let e = err_of(&SMALL.replace("\t1\t3\t0\t0\t0", "\t1\t5\t0\t0\t0"));
        assert!(has(&e, "bus row 1: type = 5"), "{e}");
        let e =
            err_of(&SMALL.replace("\t1\t2\t0.01\t0.1\t0\t0\t0\t0\t0\t0\t1", "\t1\t2\t0.01\t0.1\t0\t0\t0\t0\t0\t0\t2"));
        assert!(has(&e, "branch 1: status = 2"), "{e}");
        let e = err_of(&SMALL.replace("\t1\t3\t0\t0\t0", "\t1.5\t3\t0\t0\t0"));
        assert!(has(&e, "bus number = 1.5"), "{e}");
    }

    #[test]
    fn several_problems_reported_together() {
        let src =
            SMALL.replace("\t2\t1\t50, 10,", "\t2\t1\tabc, 10,").replace("\t1\t7\t0.01\t-0.05", "\t1\t99\t0.01\t-0.05");
        let e = err_of(&src);
        // Table-level problems stop before the cross-table checks, which would cascade.
        assert!(has(&e, "found `abc`"), "{e}");
        let src =
            SMALL.replace("\t2\t1\t50, 10,", "\t2\t1\tabc, 10,").replace("\t2\t0\t0\t3\t0.01", "\t7\t0\t0\t3\t0.01");
        let e = err_of(&src);
        assert!(e.0.len() >= 2, "{e}");
    }

    #[test]
    fn structural_errors() {
        let e = err_of("mpc.baseMVA = 100;\nmpc.bus = [1 2 3\n");
        assert!(has(&e, "never closed"), "{e}");
        let e = err_of("mpc.baseMVA = 100;\nmpc.bus = [1 [2] 3];\n");
        assert!(has(&e, "nested brackets are not supported"), "{e}");
        let e = err_of("mpc.baseMVA = 100;\nmpc.bus(1, 2) = 3;\n");
        assert!(has(&e, "indexed assignment to mpc.bus is not supported"), "{e}");
        let e = err_of("mpc.baseMVA = 100;\nmpc.bus = [1 2 3]';\n");
        assert!(has(&e, "transposed"), "{e}");
        let e = err_of(
            "mpc.baseMVA = -5;\nmpc.bus=[1 3 0 0 0 0 1 1 0 0 1 1 1];mpc.gen=[1 0 0 0 0 1 100 1 10 0];mpc.branch=[];",
        );
        assert!(has(&e, "mpc.baseMVA = -5"), "{e}");
        let e = err_of("mpc.baseMVA = abc;\n");
        assert!(has(&e, "mpc.baseMVA: expected a number, found `abc`"), "{e}");
        let e = err_of("function [baseMVA, bus, gen, branch] = case9\nbaseMVA = 100;\n");
        assert!(has(&e, "MATPOWER version 1 case"), "{e}");
        let e = err_of("mpc.baseMVA = 50/3;\n");
        assert!(has(&e, "found `/` (expressions are not supported)"), "{e}");
        let e = err_of(&format!("{SMALL}\nmpc.bus = [];\n"));
        assert!(has(&e, "mpc.bus is assigned twice"), "{e}");
    }

    #[test]
    fn garbage_never_panics() {
        let mut inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\n\n\n".to_vec(),
            "[".repeat(100_000).into_bytes(),
            "]".repeat(100_000).into_bytes(),
            format!("mpc.bus = {}", "[".repeat(100_000)).into_bytes(),
            format!("mpc.bus_name = {}", "{".repeat(100_000)).into_bytes(),
            format!("x = {}{}", "(".repeat(50_000), ")".repeat(50_000)).into_bytes(),
            b"mpc.bus = [1 2 'unterminated\n];".to_vec(),
            b"mpc.baseMVA = ".to_vec(),
            b"mpc.baseMVA".to_vec(),
            b"mpc.bus = ".to_vec(),
            b"mpc.bus = [ -".to_vec(),
            b"mpc.bus = [ 1e999 ]".to_vec(),
            b"function".to_vec(),
            b"function [baseMVA, bus, gen, branch] = case9\nbaseMVA = 100;\n".to_vec(),
            b"...".to_vec(),
            b"%{".to_vec(),
            b"'".to_vec(),
            b"mpc.gencost = [2 0 0 99999999999 1];".to_vec(),
            vec![0xff, 0xfe, 0x00, 0x41],
            b"mpc.baseMVA = 100;\n\xc3\x28".to_vec(),
            "mpc.bus = [ \u{00e9}\u{1F600} ]".as_bytes().to_vec(),
        ];
        // Deterministic pseudo-random bytes and pseudo-random mutations of a valid file.
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for len in [1usize, 7, 100, 5000] {
            inputs.push((0..len).map(|_| (rnd() & 0xff) as u8).collect());
        }
        let alphabet = b"[]{}();,'\"%.=-+eE0123456789 \t\nInfmpc.bus";
        for _ in 0..300 {
            let mut b = SMALL.as_bytes().to_vec();
            for _ in 0..(1 + rnd() % 4) {
                let at = (rnd() as usize) % b.len();
                match rnd() % 3 {
                    0 => b[at] = alphabet[(rnd() as usize) % alphabet.len()],
                    1 => {
                        b.remove(at);
                    }
                    _ => b.insert(at, alphabet[(rnd() as usize) % alphabet.len()]),
                }
            }
            inputs.push(b);
        }
        for input in &inputs {
            let r = Case::from_bytes(input);
            if let Err(e) = r {
                assert!(!e.0.is_empty());
                assert!(e.0.len() <= MAX_ERRORS + 1);
                for err in &e.0 {
                    assert!(!err.message.is_empty());
                }
            }
        }
        let e = Case::from_bytes(b"mpc.baseMVA = 100;\n\xc3\x28").unwrap_err();
        assert_eq!((e.0[0].line, e.0[0].column), (2, 1));
        assert!(e.0[0].message.contains("not UTF-8"));
    }

    #[test]
    fn many_errors_are_capped() {
        let rows: String = (0..500).map(|_| "x;\n").collect();
        let e = err_of(&format!("mpc.bus = [\n{rows}];"));
        assert_eq!(e.0.len(), MAX_ERRORS + 1);
        assert!(e.0[MAX_ERRORS].message.contains("more problems"));
    }

    #[test]
    fn display_has_positions() {
        let e = err_of("mpc.baseMVA = abc;\n");
        assert!(e.to_string().starts_with("line 1, column 15: "), "{e}");
    }

    #[test]
    fn ieee14_file_parses() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cases/ieee14.m");
        let c = Case::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.buses.len(), c.gens.len(), c.branches.len()), (14, 5, 20));
        assert_eq!(c.gencost.as_ref().map(Vec::len), Some(5));
        assert_eq!(c.buses[8].bs_mvar, 19.0);
        assert_eq!(c.branches[7].ratio, 0.978);
    }
}
