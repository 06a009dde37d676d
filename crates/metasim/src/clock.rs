//! The simulated time of metasim's traffic. It is passed in, never read from the system, so
//! that the same seed and start give the same bytes on every run; it only moves forward.

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use rand::rngs::StdRng;

/// The fixtures' epoch (`1760000000`, 2025-10-09T08:53:20Z): the default start, so that
/// generated traffic sits beside the fixtures in time.
pub const FIXTURES_EPOCH_SECONDS: i64 = 1_760_000_000;

/// A monotonic simulated clock: a start, and random steps within a range between events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    now: DateTime<Utc>,
    min_step: TimeDelta,
    max_step: TimeDelta,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new(
            DateTime::from_timestamp(FIXTURES_EPOCH_SECONDS, 0).unwrap_or(DateTime::UNIX_EPOCH),
        )
    }
}

impl Clock {
    /// A clock at `start` that moves 0.5 to 20 seconds between events, as a busy inbox
    /// does.
    pub fn new(start: DateTime<Utc>) -> Self {
        Clock {
            now: start,
            min_step: TimeDelta::milliseconds(500),
            max_step: TimeDelta::seconds(20),
        }
    }

    /// The same clock with steps between `min` and `max` (negative values count as zero;
    /// `max` below `min` is taken as `min`).
    pub fn with_steps(mut self, min: TimeDelta, max: TimeDelta) -> Self {
        self.min_step = min.max(TimeDelta::zero());
        self.max_step = max.max(self.min_step);
        self
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Jumps forward by `by` (say, 25 hours to close a reply window). Never goes back: a
    /// negative `by` does nothing.
    pub fn advance(&mut self, by: TimeDelta) {
        // Past chrono's last representable date the clock stays where it is.
        if by > TimeDelta::zero()
            && let Some(later) = self.now.checked_add_signed(by)
        {
            self.now = later;
        }
    }

    /// Moves forward one random step and returns the new time.
    pub(crate) fn tick(&mut self, rng: &mut StdRng) -> DateTime<Utc> {
        let min = self.min_step.num_milliseconds();
        let max = self.max_step.num_milliseconds();
        let step = if max > min {
            rng.random_range(min..=max)
        } else {
            min
        };
        self.advance(TimeDelta::milliseconds(step));
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn only_moves_forward_within_its_steps() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut clock =
            Clock::default().with_steps(TimeDelta::milliseconds(10), TimeDelta::milliseconds(30));
        assert_eq!(clock.now().timestamp(), FIXTURES_EPOCH_SECONDS);
        let mut last = clock.now();
        for _ in 0..100 {
            let now = clock.tick(&mut rng);
            let step = (now - last).num_milliseconds();
            assert!((10..=30).contains(&step), "{step}");
            last = now;
        }
        clock.advance(TimeDelta::hours(-1));
        assert_eq!(clock.now(), last);
        clock.advance(TimeDelta::hours(25));
        assert_eq!((clock.now() - last).num_hours(), 25);
    }
}
