//! Beta reputation (Jøsang & Ismail, "The Beta Reputation System", 15th Bled Electronic
//! Commerce Conference, 2002): r positive and s negative observations give the expected
//! trustworthiness E = (r + 1) / (r + s + 2); old evidence fades by a forgetting factor λ
//! per tick (r ← λr, s ← λs), so an agent that stops misbehaving is trusted again.

/// One agent's reputation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Beta {
    /// Positive evidence.
    pub r: f64,
    /// Negative evidence.
    pub s: f64,
    /// Tick of the last update (forgetting is applied lazily from here).
    pub tick: u64,
}

impl Default for Beta {
    fn default() -> Self {
        Beta { r: 0.0, s: 0.0, tick: 0 }
    }
}

impl Beta {
    /// Applies forgetting up to `now`.
    pub fn age(&mut self, now: u64, lambda: f64) {
        if now > self.tick {
            let f = lambda.powf((now - self.tick) as f64);
            self.r *= f;
            self.s *= f;
            self.tick = now;
        }
    }

    /// Adds an observation at `now`: good or bad.
    pub fn observe(&mut self, now: u64, lambda: f64, good: bool) {
        self.age(now, lambda);
        if good {
            self.r += 1.0;
        } else {
            self.s += 1.0;
        }
    }

    /// Expected trustworthiness, (r + 1) / (r + s + 2): 0.5 with no evidence.
    pub fn expectation(&self) -> f64 {
        (self.r + 1.0) / (self.r + self.s + 2.0)
    }

    /// The expectation as it will be at `now` (forgetting applied, nothing stored).
    pub fn expectation_at(&self, now: u64, lambda: f64) -> f64 {
        let mut b = *self;
        b.age(now, lambda);
        b.expectation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectation_and_forgetting() {
        let mut b = Beta::default();
        assert_eq!(b.expectation(), 0.5);
        for _ in 0..8 {
            b.observe(0, 0.9, false);
        }
        b.observe(0, 0.9, true);
        assert!((b.expectation() - 2.0 / 11.0).abs() < 1e-12);
        // Ten ticks later the evidence is λ^10 as strong.
        let f = 0.9f64.powi(10);
        let want = (f + 1.0) / (9.0 * f + 2.0);
        assert!((b.expectation_at(10, 0.9) - want).abs() < 1e-12);
        // With no forgetting it never recovers without good evidence.
        assert!((b.expectation_at(1000, 1.0) - 2.0 / 11.0).abs() < 1e-12);
        // With forgetting it tends back to 0.5.
        assert!((b.expectation_at(1000, 0.9) - 0.5).abs() < 1e-6);
    }
}
