//! The server's current time: the wall clock in production, and for tests one that can be moved
//! forward, so every expiry (codes, login flows, sessions, tokens, cached values) is testable
//! over HTTP without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Cheap to clone; clones share the shift, so a test moves every part of a server (and its
/// replicas) at once.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the wall clock; absent in production, where nothing can move it.
    shift_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock { shift_ms: None }
    }

    /// The wall clock, but [`Clock::advance`] moves it forward (tests).
    pub fn adjustable() -> Clock {
        Clock { shift_ms: Some(Arc::new(AtomicI64::new(0))) }
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis().saturating_add(self.shift_ms())
    }

    /// How far ahead of the wall clock this clock runs, in milliseconds (0 in production). Redis
    /// expires keys by the wall clock; the cache adds this to keep them in step.
    pub fn shift_ms(&self) -> i64 {
        self.shift_ms.as_ref().map_or(0, |s| s.load(Ordering::Relaxed))
    }

    /// Moves an adjustable clock forward by `seconds` (never back: an expiry already decided
    /// stays decided); false (and no effect) on the wall clock.
    pub fn advance(&self, seconds: i64) -> bool {
        match &self.shift_ms {
            Some(s) => {
                s.fetch_add(seconds.max(0).saturating_mul(1000), Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_adjustable_clock_moves_and_its_clones_move_with_it() {
        let wall = Clock::system();
        assert!(!wall.advance(3600));
        assert!((wall.now() - chrono::Utc::now().timestamp()).abs() <= 1);
        let c = Clock::adjustable();
        let twin = c.clone();
        let before = twin.now();
        assert!(c.advance(3600));
        assert!(twin.now() >= before + 3600);
        assert!(twin.now() < before + 3602);
    }
}
