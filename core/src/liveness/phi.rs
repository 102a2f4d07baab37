//! The phi-accrual failure detector (Hayashibara et al., 2004), for one peer.
//!
//! Instead of a fixed timeout, each peer's heartbeat arrivals are kept (the last
//! `HEARTBEAT_WINDOW_MAX` intervals), and silence is judged against them: phi(t) is how
//! unlikely a silence of t is, as −log10 of the probability that the next heartbeat comes
//! later than t, under a normal distribution of the intervals (mean μ, deviation σ, at least
//! `min_deviation`), with the logistic approximation of its tail used by Akka:
//!
//! ```text
//! y = (t − μ) / σ;  e = exp(−y · (1.5976 + 0.070566 · y²));  phi = −log10(e / (1 + e))  (t > μ)
//! ```
//!
//! A peer is suspected once phi reaches the threshold. phi grows with t, so the moment it
//! does is `last + μ + y* · σ`, where y* solves the equation for the threshold
//! (`threshold_deviations`): no exponential is computed per question, only per threshold.

use crate::limits::HEARTBEAT_WINDOW_MAX;
use crate::time::{Span, Time};
use std::collections::VecDeque;

/// The heartbeats of one peer.
#[derive(Clone, Debug)]
pub(crate) struct Arrivals {
    last: Time,
    /// The last intervals between heartbeats, in microseconds.
    intervals: VecDeque<u64>,
    sum: u64,
    sum_squares: u128,
    /// What to assume before the first interval: its mean (σ is a quarter of it).
    expected: Span,
}

impl Arrivals {
    /// A peer last heard (or first counted) at `at`, whose heartbeats are expected every
    /// `expected` until some arrive.
    pub fn new(at: Time, expected: Span) -> Arrivals {
        Arrivals {
            last: at,
            intervals: VecDeque::new(),
            sum: 0,
            sum_squares: 0,
            expected,
        }
    }

    /// A fresh heartbeat arrived at `now`.
    pub fn arrived(&mut self, now: Time) {
        let interval = now.since(self.last).micros();
        self.last = self.last.max(now);
        if self.intervals.len() == HEARTBEAT_WINDOW_MAX {
            if let Some(old) = self.intervals.pop_front() {
                self.sum -= old;
                self.sum_squares -= u128::from(old) * u128::from(old);
            }
        }
        self.intervals.push_back(interval);
        self.sum += interval;
        self.sum_squares += u128::from(interval) * u128::from(interval);
    }

    /// The mean and deviation of the intervals, in microseconds (σ at least `min_deviation`).
    fn distribution(&self, min_deviation: Span) -> (f64, f64) {
        let (mean, deviation) = if self.intervals.is_empty() {
            let mean = self.expected.micros() as f64;
            (mean, mean / 4.0)
        } else {
            let n = self.intervals.len() as f64;
            let mean = self.sum as f64 / n;
            let variance = (self.sum_squares as f64 / n - mean * mean).max(0.0);
            (mean, variance.sqrt())
        };
        (mean, deviation.max(min_deviation.micros() as f64))
    }

    /// phi after a silence lasting until `now` (the formula `suspected_at` solves). For
    /// status reports and tests: decisions use `suspected_at`.
    pub fn phi(&self, now: Time, min_deviation: Span) -> f64 {
        let (mean, deviation) = self.distribution(min_deviation);
        let t = now.since(self.last).micros() as f64;
        let y = (t - mean) / deviation;
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        if t > mean {
            -(e / (1.0 + e)).log10()
        } else {
            -(1.0 - 1.0 / (1.0 + e)).log10()
        }
    }

    /// When phi reaches the threshold whose `threshold_deviations` is `y`, if no heartbeat
    /// arrives first.
    pub fn suspected_at(&self, y: f64, min_deviation: Span) -> Time {
        let (mean, deviation) = self.distribution(min_deviation);
        let silence = (mean + y * deviation).max(0.0).ceil() as u64;
        self.last + Span(silence)
    }
}

/// y* for a phi threshold: the deviations past the mean at which phi reaches it. phi rises
/// with y past the mean, so this bisects; thresholds of 1 and more are past the mean.
pub(crate) fn threshold_deviations(threshold: f64) -> f64 {
    let tail = 10f64.powf(-threshold);
    // phi = threshold  ⇔  e / (1 + e) = tail  ⇔  y · (1.5976 + 0.070566 · y²) = ln((1 − tail) / tail)
    let target = ((1.0 - tail) / tail).ln();
    let (mut lo, mut hi) = (0.0f64, 64.0f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if mid * (1.5976 + 0.070566 * mid * mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspicion_comes_where_phi_reaches_the_threshold() {
        let mut arrivals = Arrivals::new(Time(0), Span::from_millis(100));
        for beat in 1..=50u64 {
            // Heartbeats every 90 to 110 ms.
            arrivals.arrived(Time(beat * 100_000 + (beat % 3) * 10_000));
        }
        let min = Span::from_millis(20);
        for threshold in [1.0, 3.0, 8.0, 12.0] {
            let at = arrivals.suspected_at(threshold_deviations(threshold), min);
            let before = arrivals.phi(Time(at.micros() - 1_000), min);
            let after = arrivals.phi(at, min);
            assert!(
                before < threshold && after >= threshold - 1e-6,
                "{threshold}: {before} {after}"
            );
        }
        // At the default threshold with 100 ms heartbeats: suspected within half a second.
        let silence = arrivals
            .suspected_at(threshold_deviations(8.0), min)
            .since(Time(5_000_000));
        assert!(silence < Span::from_millis(500), "{silence:?}");
    }

    #[test]
    fn irregular_heartbeats_widen_the_margin_and_the_window_forgets() {
        let min = Span::from_millis(1);
        let y = threshold_deviations(8.0);
        let mut steady = Arrivals::new(Time(0), Span::from_millis(100));
        let mut jumpy = Arrivals::new(Time(0), Span::from_millis(100));
        let mut t = 0;
        for beat in 0..HEARTBEAT_WINDOW_MAX as u64 {
            t += 100_000;
            steady.arrived(Time(t));
            jumpy.arrived(Time(t + if beat % 2 == 0 { 60_000 } else { 0 }));
        }
        let margin = |a: &Arrivals, last: u64| a.suspected_at(y, min).since(Time(last));
        assert!(margin(&jumpy, t) > margin(&steady, t));
        // A window of steady beats later, the jumpy past is forgotten.
        for _ in 0..HEARTBEAT_WINDOW_MAX {
            t += 100_000;
            jumpy.arrived(Time(t));
        }
        assert!(margin(&jumpy, t) < Span::from_millis(110));
    }
}
