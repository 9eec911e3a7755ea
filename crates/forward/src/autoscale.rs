//! How many shards (concurrent connections) the next round uses: more while the destination is behind and
//! more connections send faster, fewer once it has caught up.
//!
//! Prometheus's queue manager estimates the shards it needs from the rates of samples coming in and going
//! out. A round-based sender can measure the effect directly: while rounds are full (more of the WAL is
//! waiting), the shard count doubles as long as the samples sent per second grow by at least
//! [`MIN_GAIN`]; when a doubling did not pay, it goes back and holds for [`HOLD`]. Once a read of the WAL
//! ends caught up and its last round was quick, the count halves, down to the minimum. Series move
//! between shards only between rounds, and a round completes before the next begins, so per-series
//! order holds whatever the count.

use std::time::{Duration, Instant};

/// A doubling must raise the throughput by this factor to be kept.
pub(crate) const MIN_GAIN: f64 = 1.1;

/// How long growth pauses after a doubling that did not pay.
pub(crate) const HOLD: Duration = Duration::from_secs(30);

/// The autoscaler's memory between rounds.
#[derive(Debug)]
pub(crate) struct Autoscale {
    min: usize,
    max: usize,
    /// The shard count and samples/s of the previous full round.
    last_full: Option<(usize, f64)>,
    hold_until: Option<Instant>,
}

impl Autoscale {
    pub(crate) fn new(min: usize, max: usize) -> Autoscale {
        Autoscale {
            min: min.max(1),
            max: max.max(min.max(1)),
            last_full: None,
            hold_until: None,
        }
    }

    /// After a full round (more was waiting behind it) of `samples` sent by `current` shards in `took`:
    /// the count for the next round.
    pub(crate) fn after_full_round(
        &mut self,
        current: usize,
        samples: u64,
        took: Duration,
        now: Instant,
    ) -> usize {
        let rate = samples as f64 / took.as_secs_f64().max(1e-6);
        if let Some((prev, prev_rate)) = self.last_full {
            if prev < current && rate < prev_rate * MIN_GAIN {
                // The doubling did not pay: back to what we had, and stay there for a while.
                self.hold_until = Some(now + HOLD);
                self.last_full = Some((prev, prev_rate));
                return prev.clamp(self.min, self.max);
            }
        }
        self.last_full = Some((current, rate));
        let held = self.hold_until.is_some_and(|h| now < h);
        if held || current >= self.max {
            current.clamp(self.min, self.max)
        } else {
            (current * 2).min(self.max)
        }
    }

    /// After a read of the WAL that ended caught up, its last round (if any) having taken `took`, with
    /// `poll` between reads: the count for the next round.
    pub(crate) fn after_caught_up(
        &mut self,
        current: usize,
        took: Duration,
        poll: Duration,
    ) -> usize {
        self.last_full = None;
        if took < poll / 2 {
            (current / 2).max(self.min)
        } else {
            current.clamp(self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grows_while_it_pays_then_holds() {
        let now = Instant::now();
        let mut a = Autoscale::new(1, 16);
        // 1 shard: 10k samples/s; doubling each time the rate doubles.
        assert_eq!(a.after_full_round(1, 10_000, 1000 * MS, now), 2);
        assert_eq!(a.after_full_round(2, 20_000, 1000 * MS, now), 4);
        assert_eq!(a.after_full_round(4, 40_000, 1000 * MS, now), 8);
        // 8 shards gave only 5% more: back to 4, and held there.
        assert_eq!(a.after_full_round(8, 42_000, 1000 * MS, now), 4);
        assert_eq!(a.after_full_round(4, 40_000, 1000 * MS, now + MS), 4);
        // After the hold it tries again.
        assert_eq!(a.after_full_round(4, 40_000, 1000 * MS, now + HOLD + MS), 8);
        // Never past the maximum.
        let mut b = Autoscale::new(1, 3);
        assert_eq!(b.after_full_round(2, 100, MS, now), 3);
        assert_eq!(b.after_full_round(3, 1000, MS, now), 3);
    }

    #[test]
    fn shrinks_once_caught_up_and_quick() {
        let poll = 200 * MS;
        let mut a = Autoscale::new(2, 16);
        assert_eq!(a.after_caught_up(16, 10 * MS, poll), 8);
        assert_eq!(a.after_caught_up(8, 10 * MS, poll), 4);
        assert_eq!(a.after_caught_up(4, 10 * MS, poll), 2);
        assert_eq!(a.after_caught_up(2, 10 * MS, poll), 2);
        // A slow last round keeps the count.
        assert_eq!(a.after_caught_up(8, 150 * MS, poll), 8);
    }
}
