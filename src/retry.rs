//! One backoff for every retry loop (git, GitHub, the registry): bounded
//! exponential with jitter, and a server's `Retry-After` honoured up to a cap.
//!
//! Jitter spreads the retries of runs that failed together (a 502 hits every job of
//! a matrix at once); the cap keeps a CI step's worst case short.

use std::time::Duration;

/// How one kind of call backs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay, before jitter.
    pub base: Duration,
    /// No computed delay is longer.
    pub cap: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub max_wait: Duration,
}

impl Backoff {
    /// git smart HTTP: lost races and server errors.
    pub const GIT: Backoff = Backoff {
        // As the old git backoff: up to 0.3, 0.6, 1.2, 2.4, 3 s. Twenty processes
        // racing for one overlay need that spread (tests/it/chain.rs).
        base: Duration::from_millis(300),
        cap: Duration::from_secs(3),
        max_wait: Duration::from_secs(30),
    };
    /// The GitHub API (rate limits are waited out in `github::send` by their own rules).
    pub const GITHUB: Backoff = Backoff {
        // As the old `retry_delay`: 0.2–0.4 s, doubling to 1.6–3.2 s.
        base: Duration::from_millis(400),
        cap: Duration::from_millis(3_200),
        max_wait: Duration::from_secs(60),
    };
    /// Container registries.
    pub const REGISTRY: Backoff = Backoff {
        base: Duration::from_millis(250),
        cap: Duration::from_secs(8),
        max_wait: Duration::from_secs(30),
    };

    /// The delay before retry number `attempt` (1 for the first retry): the base
    /// doubled per attempt up to the cap, then a uniform pick in its upper half.
    pub fn delay(&self, attempt: u32) -> Duration {
        use rand::Rng as _;
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.cap);
        let ms = exp.as_millis() as u64;
        Duration::from_millis(ms / 2 + rand::rng().random_range(0..=ms - ms / 2))
    }

    /// The server's `Retry-After` when it sent one (at most `max_wait`), else [`Backoff::delay`].
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.min(self.max_wait),
            None => self.delay(attempt),
        }
    }
}

/// A `Retry-After` value in seconds (the form GitHub and registries send).
pub fn retry_after(v: Option<&str>) -> Option<Duration> {
    v?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_and_stay_under_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1_000),
            max_wait: Duration::from_secs(5),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = b.delay(3);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            for a in [5, 10, 40, u32::MAX] {
                let d = b.delay(a);
                assert!(
                    d >= Duration::from_millis(500) && d <= Duration::from_millis(1_000),
                    "{a}: {d:?}"
                );
            }
        }
        // Jitter: fifty draws are not all the same.
        let draws: std::collections::HashSet<_> = (0..50).map(|_| b.delay(4)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn retry_after_is_honoured_up_to_max_wait() {
        let b = Backoff::REGISTRY;
        assert_eq!(
            b.wait(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(b.wait(1, Some(Duration::from_secs(3_600))), b.max_wait);
        assert!(b.wait(2, None) <= b.cap);
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn every_kind_is_bounded() {
        for b in [Backoff::GIT, Backoff::GITHUB, Backoff::REGISTRY] {
            assert!(b.base <= b.cap && b.cap <= b.max_wait, "{b:?}");
            assert!(b.delay(100) <= b.cap);
        }
    }
}
