//! Finds where each field of a RON text sits (line:column), so that errors found after
//! parsing — out-of-range values, impossible combinations — can point at the right place,
//! and parse errors can name the field they occurred in. A tolerant scanner: it never
//! fails, it just records what it could read.

/// One value's place: its dotted path (`channel.loss`, `faults[1].at`) and byte span.
#[derive(Clone, Debug)]
pub struct Place {
    pub path: String,
    pub start: usize,
    pub end: usize,
}

/// Every value's place in `text`. Enum variant names, `Some(..)` and single-value
/// wrappers are transparent: `world: Traffic((vehicles: 3))` gives `world.vehicles`.
pub fn places(text: &str) -> Vec<Place> {
    let mut s = Scanner { b: text.as_bytes(), i: 0, out: Vec::new(), depth: 0 };
    s.value(String::new());
    s.out
}

/// Line and column (1-based, columns in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let upto = &text[..offset.min(text.len())];
    let line = upto.matches('\n').count() + 1;
    let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Byte offset of a 1-based line:column.
pub fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let mut off = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return off + l.char_indices().nth(col.saturating_sub(1)).map_or(l.len(), |(b, _)| b);
        }
        off += l.len();
    }
    text.len()
}

/// Where `path` is, or where its nearest recorded ancestor is.
pub fn find(text: &str, path: &str) -> Option<(usize, usize)> {
    let ps = places(text);
    let mut p = path.to_string();
    loop {
        if let Some(pl) = ps.iter().find(|x| x.path == p) {
            return Some(line_col(text, pl.start));
        }
        match p.rfind(['.', '[']) {
            Some(k) => p.truncate(k),
            None => return None,
        }
    }
}

/// The innermost field whose value spans `offset`.
pub fn path_at(text: &str, offset: usize) -> Option<String> {
    places(text)
        .into_iter()
        // End exclusive: a position just after a value (a stray `)` or a missing comma)
        // is not inside it.
        .filter(|p| p.start <= offset && offset < p.end && !p.path.is_empty())
        .min_by_key(|p| p.end - p.start)
        .map(|p| p.path)
}

/// The token that starts at `offset` (after any whitespace): a quoted string, a word or
/// number, or a single punctuation character; at most 40 characters.
pub fn token_at(text: &str, offset: usize) -> &str {
    let start = skip_ws(text, offset);
    let rest = &text[start..];
    let len = if let Some(inner) = rest.strip_prefix('"') {
        inner.find('"').map_or(rest.len(), |k| k + 2)
    } else {
        let word =
            rest.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+'))).unwrap_or(rest.len());
        if word == 0 { rest.chars().next().map_or(0, char::len_utf8) } else { word }
    };
    let token = &rest[..len];
    match token.char_indices().nth(40) {
        Some((k, _)) => &token[..k],
        None => token,
    }
}

/// The first byte at or after `offset` that is neither whitespace nor inside a comment.
pub fn skip_ws(text: &str, offset: usize) -> usize {
    let mut s = Scanner { b: text.as_bytes(), i: offset.min(text.len()), out: Vec::new(), depth: 0 };
    s.ws();
    s.i
}

/// The innermost value that ends at or before `offset` and ends last: the value just
/// before a position (what a missing comma should have followed). Its place is returned.
pub fn value_before(text: &str, offset: usize) -> Option<Place> {
    places(text)
        .into_iter()
        .filter(|p| p.end <= offset && p.end > p.start && !p.path.is_empty())
        .max_by_key(|p| (p.end, std::cmp::Reverse(p.end - p.start)))
}

/// When some bracket is never closed, the opener most likely missing its closer, as
/// (bracket, byte offset). Closers pair with the nearest opener, so a forgotten `)`
/// makes every later closer pair one level too far out and leaves the outermost opener
/// unclosed; in an indented file the real culprit is the first opener whose closer sits
/// on a later line indented less than the opener's own line.
pub fn unclosed_suspect(text: &str) -> Option<(char, usize)> {
    let mut s = Scanner { b: text.as_bytes(), i: 0, out: Vec::new(), depth: 0 };
    let mut stack: Vec<(char, usize)> = Vec::new();
    // (closer offset, opener) for pairs whose closer is dedented past the opener's line.
    let mut suspects: Vec<(usize, (char, usize))> = Vec::new();
    loop {
        s.ws();
        let Some(c) = s.peek() else { break };
        match c {
            b'"' => s.string(),
            b'r' if matches!(s.b.get(s.i + 1), Some(b'#') | Some(b'"')) => s.raw_string(),
            b'(' | b'[' | b'{' => {
                stack.push((c as char, s.i));
                s.i += 1;
            }
            b')' | b']' | b'}' => {
                let want = match c {
                    b')' => '(',
                    b']' => '[',
                    _ => '{',
                };
                if let Some(k) = stack.iter().rposition(|e| e.0 == want) {
                    let opener = stack[k];
                    let (lo, _) = line_col(text, opener.1);
                    let (lc, _) = line_col(text, s.i);
                    if lc > lo && indent(text, s.i) < indent(text, opener.1) {
                        suspects.push((s.i, opener));
                    }
                    stack.truncate(k);
                }
                s.i += 1;
            }
            _ => s.i += 1,
        }
    }
    let last_open = *stack.last()?;
    Some(suspects.iter().min_by_key(|x| x.0).map_or(last_open, |x| x.1))
}

/// When some closing bracket has no opener, the closer most likely one too many, as
/// (bracket, byte offset): the first that closes an opener from a line indented more
/// than the opener's own (it ends a section early), else the unmatched one itself.
pub fn stray_closer(text: &str) -> Option<(char, usize)> {
    let mut s = Scanner { b: text.as_bytes(), i: 0, out: Vec::new(), depth: 0 };
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut early: Option<(char, usize)> = None;
    let mut unmatched: Option<(char, usize)> = None;
    loop {
        s.ws();
        let Some(c) = s.peek() else { break };
        match c {
            b'"' => s.string(),
            b'r' if matches!(s.b.get(s.i + 1), Some(b'#') | Some(b'"')) => s.raw_string(),
            b'(' | b'[' | b'{' => {
                stack.push((c as char, s.i));
                s.i += 1;
            }
            b')' | b']' | b'}' => {
                let want = match c {
                    b')' => '(',
                    b']' => '[',
                    _ => '{',
                };
                match stack.iter().rposition(|e| e.0 == want) {
                    Some(k) => {
                        let opener = stack[k];
                        let (lo, _) = line_col(text, opener.1);
                        let (lc, _) = line_col(text, s.i);
                        if early.is_none() && lc > lo && indent(text, s.i) > indent(text, opener.1) {
                            early = Some((c as char, s.i));
                        }
                        stack.truncate(k);
                    }
                    None => {
                        if unmatched.is_none() {
                            unmatched = Some((c as char, s.i));
                        }
                    }
                }
                s.i += 1;
            }
            _ => s.i += 1,
        }
    }
    unmatched?;
    early.or(unmatched)
}

/// The first opening bracket nested deeper than `limit` levels, as a byte offset (strings
/// and comments skipped). Checked before parsing, so a pathological file gets one clear
/// message instead of whatever the parser trips over first.
pub fn nested_beyond(text: &str, limit: usize) -> Option<usize> {
    let mut s = Scanner { b: text.as_bytes(), i: 0, out: Vec::new(), depth: 0 };
    let mut depth = 0usize;
    loop {
        s.ws();
        let c = s.peek()?;
        match c {
            b'"' => s.string(),
            b'r' if matches!(s.b.get(s.i + 1), Some(b'#') | Some(b'"')) => s.raw_string(),
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(s.i);
                }
                s.i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                s.i += 1;
            }
            _ => s.i += 1,
        }
    }
}

/// Indentation (leading spaces and tabs) of the line holding byte `offset`.
fn indent(text: &str, offset: usize) -> usize {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |k| k + 1);
    text[start..].bytes().take_while(|b| *b == b' ' || *b == b'\t').count()
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    out: Vec<Place>,
    /// How deep in brackets `value` is; past [`MAX_DEPTH`] the rest of a value is skipped
    /// without recursing, so no input can exhaust the stack.
    depth: usize,
}

/// Nesting the scanner records places for (a scenario needs a few levels; ron refuses
/// more than 128 anyway).
const MAX_DEPTH: usize = 200;

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_string() } else { format!("{path}.{field}") }
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() {
                self.i += 1;
            } else if c == b'/' && self.b.get(self.i + 1) == Some(&b'/') {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.i += 1;
                }
            } else if c == b'/' && self.b.get(self.i + 1) == Some(&b'*') {
                self.i += 2;
                while self.i < self.b.len() && !(self.b[self.i] == b'*' && self.b.get(self.i + 1) == Some(&b'/')) {
                    self.i += 1;
                }
                self.i = (self.i + 2).min(self.b.len());
            } else {
                break;
            }
        }
    }

    fn ident(&mut self) -> &str {
        let s = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.i += 1;
        }
        std::str::from_utf8(&self.b[s..self.i]).unwrap_or("")
    }

    fn record(&mut self, path: &str, start: usize) -> usize {
        self.out.push(Place { path: path.to_string(), start, end: start });
        self.out.len() - 1
    }

    fn value(&mut self, path: String) {
        self.ws();
        let start = self.i;
        if self.depth >= MAX_DEPTH {
            self.skip_value();
            return;
        }
        self.depth += 1;
        self.value_inner(path, start);
        self.depth -= 1;
    }

    /// Skips one value, brackets and strings included, without recursion.
    fn skip_value(&mut self) {
        let mut open = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'"' => self.string(),
                b'(' | b'[' | b'{' => {
                    open += 1;
                    self.i += 1;
                }
                b')' | b']' | b'}' => {
                    if open == 0 {
                        return;
                    }
                    open -= 1;
                    self.i += 1;
                }
                b',' if open == 0 => return,
                _ => self.i += 1,
            }
        }
    }

    fn value_inner(&mut self, path: String, start: usize) {
        let k = self.record(&path, start);
        match self.peek() {
            None => {}
            Some(b'(') => self.body(&path, b')'),
            Some(b'[') => {
                self.i += 1;
                let mut n = 0;
                loop {
                    self.ws();
                    match self.peek() {
                        None => break,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        Some(b',') => self.i += 1,
                        _ => {
                            let before = self.i;
                            self.value(format!("{path}[{n}]"));
                            n += 1;
                            if self.i == before {
                                self.i += 1;
                            }
                        }
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek() {
                        None => break,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        Some(b',') | Some(b':') => self.i += 1,
                        _ => {
                            let before = self.i;
                            self.value(format!("{path}{{}}"));
                            if self.i == before {
                                self.i += 1;
                            }
                        }
                    }
                }
            }
            Some(b'"') => self.string(),
            Some(b'r') if matches!(self.b.get(self.i + 1), Some(b'#') | Some(b'"')) => self.raw_string(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                self.ident();
                self.ws();
                if self.peek() == Some(b'(') {
                    self.body(&path, b')');
                }
            }
            Some(_) => {
                while self.peek().is_some_and(|c| !matches!(c, b',' | b')' | b']' | b'}') && !c.is_ascii_whitespace()) {
                    self.i += 1;
                }
            }
        }
        self.out[k].end = self.i;
    }

    fn string(&mut self) {
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == b'\\' {
                self.i += 1;
            } else if c == b'"' {
                break;
            }
        }
    }

    fn raw_string(&mut self) {
        self.i += 1;
        let mut hashes = 0;
        while self.peek() == Some(b'#') {
            hashes += 1;
            self.i += 1;
        }
        self.i += 1;
        while self.i < self.b.len() {
            if self.b[self.i] == b'"'
                && self.b[self.i + 1..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes
            {
                self.i += 1 + hashes;
                return;
            }
            self.i += 1;
        }
    }

    /// `( ... )`: named fields go under `path.field`, positional values are transparent.
    fn body(&mut self, path: &str, close: u8) {
        self.i += 1;
        loop {
            self.ws();
            match self.peek() {
                None => return,
                Some(c) if c == close => {
                    self.i += 1;
                    return;
                }
                Some(b',') => self.i += 1,
                Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                    let save = self.i;
                    let name = self.ident().to_string();
                    self.ws();
                    if self.peek() == Some(b':') && self.b.get(self.i + 1) != Some(&b':') {
                        self.i += 1;
                        let p = join(path, &name);
                        // The field's place starts at its name, so errors about the field
                        // itself point there.
                        let k = self.record(&p, save);
                        self.value(p);
                        self.out[k].end = self.i;
                    } else {
                        self.i = save;
                        self.value(path.to_string());
                    }
                }
                _ => {
                    let before = self.i;
                    self.value(path.to_string());
                    if self.i == before {
                        self.i += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "(\n  name: \"x\",\n  channel: (loss: 0.5, range_m: 10),\n  faults: [\n    (at: 3, fault: Loss(loss: 0.2)),\n    (at: 9, fault: Crash(fraction: 0.1)),\n  ],\n  world: Traffic((vehicles: 3, model: Idm((v0: 5.0)))),\n)";

    #[test]
    fn finds_fields() {
        assert_eq!(find(T, "channel.loss"), Some((3, 13)));
        assert_eq!(find(T, "faults[1].at"), Some((6, 6)));
        assert_eq!(find(T, "faults[0].fault.loss"), Some((5, 25)));
        assert_eq!(find(T, "world.vehicles"), Some((8, 19)));
        assert_eq!(find(T, "world.model.v0"), Some((8, 44)));
        // Missing: nearest ancestor.
        assert_eq!(find(T, "channel.jitter_ticks"), Some((3, 3)));
    }

    #[test]
    fn path_at_offset() {
        let off = offset_of(T, 3, 19);
        assert_eq!(path_at(T, off).as_deref(), Some("channel.loss"));
    }
}
