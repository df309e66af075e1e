//! The anti-replay window of IPsec (RFC 4303, §3.4.3): a receiver keeps, per sender, the
//! highest sequence number it has accepted and a bitmap of the `size` numbers below it.
//! A number above the top slides the window; one inside it is accepted once; one below
//! it is too old. Genuine messages reordered by the channel, but no further apart than
//! the window, are all accepted; a recorded message sent again never is.

/// What the window says of a sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// New: accepted (and now marked as seen).
    Accept,
    /// Seen before: a replay.
    Duplicate,
    /// Below the window: too old to tell, so refused as a replay would be.
    TooOld,
}

/// One sender's window at one receiver. Sequence numbers start at 1.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    size: u32,
    top: u64,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    /// The largest window masim accepts (RFC 4303 asks for at least 32 and suggests 64).
    pub const MAX: u32 = 4096;

    /// A fresh window of `size` numbers (1..=[`Self::MAX`]).
    pub fn new(size: u32) -> Self {
        let size = size.clamp(1, Self::MAX);
        ReplayWindow { size, top: 0, bits: vec![0; size.div_ceil(64) as usize].into_boxed_slice() }
    }

    fn bit(&self, k: u64) -> bool {
        self.bits[(k / 64) as usize] >> (k % 64) & 1 == 1
    }

    fn set(&mut self, k: u64) {
        self.bits[(k / 64) as usize] |= 1 << (k % 64);
    }

    /// Checks `seq` and, when new, records it.
    pub fn check(&mut self, seq: u64) -> Verdict {
        if seq == 0 {
            return Verdict::TooOld;
        }
        let size = u64::from(self.size);
        if seq > self.top {
            let shift = seq - self.top;
            if shift >= size {
                self.bits.fill(0);
            } else {
                // Bit k stands for number top - k: sliding up by `shift` moves every bit
                // up by `shift` places.
                let old = self.bits.clone();
                self.bits.fill(0);
                for k in 0..size - shift {
                    if old[(k / 64) as usize] >> (k % 64) & 1 == 1 {
                        self.set(k + shift);
                    }
                }
            }
            self.top = seq;
            self.set(0);
            return Verdict::Accept;
        }
        let k = self.top - seq;
        if k >= size {
            return Verdict::TooOld;
        }
        if self.bit(k) {
            return Verdict::Duplicate;
        }
        self.set(k);
        Verdict::Accept
    }

    /// The highest number accepted so far (0 before the first).
    pub fn top(&self) -> u64 {
        self.top
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordered_inside_the_window_are_accepted_once() {
        let mut w = ReplayWindow::new(64);
        // 1..=200 delivered in blocks of 60 reversed: every number is at most 59 below the top.
        let mut order = Vec::new();
        for block in (1..=200u64).collect::<Vec<_>>().chunks(60) {
            order.extend(block.iter().rev().copied());
        }
        for &s in &order {
            assert_eq!(w.check(s), Verdict::Accept, "seq {s}");
        }
        for &s in &order {
            assert_ne!(w.check(s), Verdict::Accept, "replayed seq {s} accepted");
        }
        assert_eq!(w.check(200), Verdict::Duplicate);
        assert_eq!(w.check(137), Verdict::Duplicate);
        assert_eq!(w.check(136), Verdict::TooOld);
        assert_eq!(w.check(150), Verdict::Duplicate);
    }

    #[test]
    fn a_jump_clears_and_the_edge_is_exact() {
        for size in [1u32, 32, 64, 65, 100, 128] {
            let mut w = ReplayWindow::new(size);
            assert_eq!(w.check(1000), Verdict::Accept);
            let lowest = 1000 - u64::from(size) + 1;
            assert_eq!(w.check(lowest - 1), Verdict::TooOld, "size {size}");
            if size > 1 {
                assert_eq!(w.check(lowest), Verdict::Accept, "size {size}");
            }
            assert_eq!(w.check(1000), Verdict::Duplicate);
            assert_eq!(w.check(5000), Verdict::Accept);
            assert_eq!(w.check(1000), Verdict::TooOld);
        }
    }

    #[test]
    fn agrees_with_a_set_of_everything_seen() {
        // Brute-force reference: accepted iff never seen and top - seq < size.
        let mut x: u64 = 12345;
        for size in [8u32, 64, 70] {
            let mut w = ReplayWindow::new(size);
            let mut seen = std::collections::BTreeSet::new();
            let mut top = 0u64;
            for _ in 0..5000 {
                x = crate::sim::rng::mix64(x);
                let seq = 1 + x % 300;
                let want = if seq > top {
                    Verdict::Accept
                } else if top - seq >= u64::from(size) {
                    Verdict::TooOld
                } else if seen.contains(&seq) {
                    Verdict::Duplicate
                } else {
                    Verdict::Accept
                };
                assert_eq!(w.check(seq), want, "size {size} seq {seq} top {top}");
                if want == Verdict::Accept {
                    seen.insert(seq);
                    top = top.max(seq);
                }
            }
        }
    }
}
