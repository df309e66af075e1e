//! Validation helpers shared by the core's and every world's checks: each problem is a
//! field path and what is wrong, in the words a user reads (`must be greater than 0, got
//! -1`); the scenario loader turns paths into file:line:column.

use crate::sim::Rect;

/// Problems found so far, in the order found: (field path, message).
#[derive(Debug, Default, Clone)]
pub struct Checker {
    problems: Vec<(String, String)>,
}

impl Checker {
    /// An empty list.
    pub fn new() -> Self {
        Checker::default()
    }

    /// The problems, in order.
    pub fn into_problems(self) -> Vec<(String, String)> {
        self.problems
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Records a problem at `path`.
    pub fn bad(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.problems.push((path.into(), msg.into()));
    }

    /// `x` must be finite; returns whether it is.
    pub fn finite(&mut self, path: &str, x: f64) -> bool {
        if x.is_finite() {
            true
        } else {
            self.bad(path, format!("must be a finite number, got {x}"));
            false
        }
    }

    /// `x` must be above 0.
    pub fn positive(&mut self, path: &str, x: f64) {
        if self.finite(path, x) && x <= 0.0 {
            self.bad(path, format!("must be greater than 0, got {x}"));
        }
    }

    /// `x` must be 0 or more.
    pub fn non_negative(&mut self, path: &str, x: f64) {
        if self.finite(path, x) && x < 0.0 {
            self.bad(path, format!("must be 0 or more, got {x}"));
        }
    }

    /// `x` must be a probability.
    pub fn probability(&mut self, path: &str, x: f64) {
        if self.finite(path, x) && !(0.0..=1.0).contains(&x) {
            self.bad(path, format!("is a probability and must be between 0 and 1, got {x}"));
        }
    }

    /// `x` must be at least `min`.
    pub fn at_least(&mut self, path: &str, x: u64, min: u64) {
        if x < min {
            self.bad(path, format!("must be at least {min}, got {x}"));
        }
    }

    /// A rectangle with finite corners and an area.
    pub fn rect(&mut self, path: &str, r: &Rect) {
        for (n, v) in [("x0", r.x0), ("y0", r.y0), ("x1", r.x1), ("y1", r.y1)] {
            self.finite(&format!("{path}.{n}"), f64::from(v));
        }
        if r.x0 == r.x1 || r.y0 == r.y1 {
            self.bad(path, "is empty: x0 must differ from x1 and y0 from y1");
        }
    }
}
