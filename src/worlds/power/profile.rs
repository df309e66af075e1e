//! Time of day and the daily shapes that follow it: demand (flat, residential, system-wide or
//! hourly values), EV arrivals, and rooftop PV as a clear-sky curve between sunrise and
//! sunset attenuated by a cloud cover that wanders around its mean (an Ornstein–Uhlenbeck
//! process per area, drawn from the area's own seeded stream). Pure functions of the hour,
//! plus the cloud state the world advances once a tick.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use super::config::{Profile, Shape};

/// A residential demand day, hourly from 00:00, peak 1 at 19:00 (after typical UK/US
/// household load curves: night trough, morning shoulder, evening peak).
const RESIDENTIAL: [f64; 24] = [
    0.42, 0.36, 0.33, 0.32, 0.33, 0.38, 0.50, 0.62, 0.64, 0.58, 0.55, 0.54, 0.55, 0.53, 0.52, 0.55, 0.64, 0.80, 0.94,
    1.00, 0.96, 0.84, 0.68, 0.52,
];

/// A system-wide demand day, hourly from 00:00, peak 1 in the early evening.
const SYSTEM: [f64; 24] = [
    0.66, 0.62, 0.60, 0.59, 0.60, 0.64, 0.72, 0.81, 0.88, 0.91, 0.93, 0.94, 0.94, 0.93, 0.93, 0.94, 0.96, 0.99, 1.00,
    0.99, 0.95, 0.88, 0.79, 0.71,
];

/// Arrivals of EVs at home and destination chargers, hourly from 00:00, peak 1 at 18:00.
const EVENING: [f64; 24] = [
    0.05, 0.03, 0.02, 0.02, 0.02, 0.04, 0.10, 0.25, 0.35, 0.30, 0.25, 0.25, 0.28, 0.28, 0.30, 0.40, 0.60, 0.85, 1.00,
    0.90, 0.65, 0.40, 0.20, 0.10,
];

fn hourly(v: &[f64], hour: f64) -> f64 {
    if v.is_empty() {
        return 1.0;
    }
    let h = hour.rem_euclid(24.0);
    let n = v.len() as f64;
    let x = h / 24.0 * n;
    let i = (x.floor() as usize) % v.len();
    let j = (i + 1) % v.len();
    let t = x - x.floor();
    v[i] * (1.0 - t) + v[j] * t
}

impl Shape {
    /// The shape's value at `hour` (0–24, wraps).
    pub fn at(&self, hour: f64) -> f64 {
        match self {
            Shape::Flat => 1.0,
            Shape::Residential => hourly(&RESIDENTIAL, hour),
            Shape::System => hourly(&SYSTEM, hour),
            Shape::Evening => hourly(&EVENING, hour),
            Shape::Hourly(v) => hourly(v, hour),
        }
    }

    /// The shape's largest value.
    pub fn peak(&self) -> f64 {
        match self {
            Shape::Flat => 1.0,
            Shape::Residential => 1.0,
            Shape::System => 1.0,
            Shape::Evening => 1.0,
            Shape::Hourly(v) => v.iter().copied().fold(0.0, f64::max),
        }
    }
}

impl Profile {
    /// Hour of day after `seconds` of simulated time.
    pub fn hour(&self, seconds: f64) -> f64 {
        (self.start_hour + seconds / 3600.0).rem_euclid(24.0)
    }

    /// Multiplier of the case's bus loads at `hour`: shape(now)/shape(start), times the scale.
    pub fn bus_load_factor(&self, hour: f64) -> f64 {
        let s0 = self.load.at(self.start_hour);
        let f = if s0 > 0.0 { self.load.at(hour) / s0 } else { 1.0 };
        f * self.load_scale
    }

    /// A household's demand multiplier at `hour`: shape(now)/peak, times the scale.
    pub fn household_factor(&self, hour: f64) -> f64 {
        let p = self.load.peak();
        let f = if p > 0.0 { self.load.at(hour) / p } else { 1.0 };
        f * self.load_scale
    }

    /// Clear-sky PV output as a share of peak at `hour`: sin(π·(h − sunrise)/(sunset − sunrise))^1.3
    /// between sunrise and sunset, 0 at night.
    pub fn clear_sky(&self, hour: f64) -> f64 {
        let day = self.sunset_h - self.sunrise_h;
        if day <= 0.0 {
            return 0.0;
        }
        let x = (hour - self.sunrise_h) / day;
        if !(0.0..=1.0).contains(&x) {
            return 0.0;
        }
        (std::f64::consts::PI * x).sin().max(0.0).powf(1.3)
    }
}

/// The cloud cover of one area: an Ornstein–Uhlenbeck process on [0, 1] around `clouds` (the
/// mean share of clear-sky output lost), with correlation time `cloud_time_s`.
#[derive(Debug)]
pub struct Clouds {
    /// Cover now, 0 (clear) – 1 (overcast).
    pub cover: f64,
    rng: ChaCha8Rng,
}

impl Clouds {
    /// Starts at the mean cover, with the area's stream.
    pub fn new(mean: f64, rng: ChaCha8Rng) -> Self {
        Clouds { cover: mean.clamp(0.0, 1.0), rng }
    }

    /// Advances by `dt` seconds.
    pub fn step(&mut self, p: &Profile, dt: f64) {
        let mean = p.clouds.clamp(0.0, 1.0);
        if mean <= 0.0 {
            self.cover = 0.0;
            return;
        }
        let tau = p.cloud_time_s.max(dt);
        let a = (-dt / tau).exp();
        // Stationary spread grows with the mean cover (clear skies stay clear).
        let sigma = 0.5 * mean.min(1.0 - mean * 0.5);
        let z: f64 = normal(&mut self.rng);
        self.cover = (mean + (self.cover - mean) * a + sigma * (1.0 - a * a).sqrt() * z).clamp(0.0, 1.0);
    }

    /// The share of clear-sky PV that gets through.
    pub fn transmission(&self) -> f64 {
        // Even an overcast sky lets a fifth through (diffuse light).
        1.0 - 0.8 * self.cover
    }
}

/// A standard normal draw (Box–Muller on two uniforms).
pub fn normal<R: rand::Rng + ?Sized>(r: &mut R) -> f64 {
    let u1: f64 = r.random::<f64>().max(1e-300);
    let u2: f64 = r.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A Poisson draw with mean `lambda` (inversion; `lambda` is small here: arrivals in one tick).
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(x > 0)` also refuses NaN
pub fn poisson<R: rand::Rng + ?Sized>(r: &mut R, lambda: f64) -> u32 {
    if !(lambda > 0.0) {
        return 0;
    }
    let l = (-lambda).exp();
    let mut k = 0u32;
    let mut p = 1.0;
    loop {
        p *= r.random::<f64>();
        if p <= l || k >= 1000 {
            return k;
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng;

    #[test]
    fn shapes_and_sun() {
        assert_eq!(Shape::Residential.at(19.0), 1.0);
        assert!((Shape::Residential.at(19.5) - 0.98).abs() < 1e-12);
        assert_eq!(Shape::Hourly(vec![1.0; 24]).at(3.3), 1.0);
        let p = Profile::default();
        assert_eq!(p.clear_sky(3.0), 0.0);
        assert!((p.clear_sky(13.0) - 1.0).abs() < 1e-12);
        assert_eq!(p.bus_load_factor(5.0), 1.0, "flat");
        let r = Profile { load: Shape::Residential, start_hour: 19.0, ..Profile::default() };
        assert!((r.bus_load_factor(3.0) - 0.32).abs() < 1e-12);
        assert!((r.hour(3600.0 * 6.0) - 1.0).abs() < 1e-12, "wraps past midnight");
    }

    #[test]
    fn clouds_wander_around_their_mean() {
        let p = Profile { clouds: 0.4, cloud_time_s: 60.0, ..Profile::default() };
        let mut c = Clouds::new(0.4, rng::stream(1, "clouds", 0));
        let n = 20_000;
        let mut sum = 0.0;
        for _ in 0..n {
            c.step(&p, 1.0);
            assert!((0.0..=1.0).contains(&c.cover));
            sum += c.cover;
        }
        assert!((sum / f64::from(n) - 0.4).abs() < 0.05, "{}", sum / f64::from(n));
    }

    #[test]
    fn poisson_mean() {
        let mut r = rng::stream(3, "p", 0);
        let n = 50_000;
        let s: u32 = (0..n).map(|_| poisson(&mut r, 0.3)).sum();
        assert!((f64::from(s) / f64::from(n) - 0.3).abs() < 0.01);
    }
}
