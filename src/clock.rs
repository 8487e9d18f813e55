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

/// The time in the region's zone, named as Indonesians name it (WIB, WITA, WIT) or by offset.
pub fn local_time(now: i64, offset_minutes: i32) -> String {
    let zone = match offset_minutes {
        420 => "WIB".to_string(),
        480 => "WITA".to_string(),
        540 => "WIT".to_string(),
        m => format!("UTC{}{:02}:{:02}", if m < 0 { '-' } else { '+' }, m.abs() / 60, m.abs() % 60),
    };
    chrono::DateTime::from_timestamp(now + i64::from(offset_minutes) * 60, 0)
        .map(|d| format!("{} {zone}", d.format("%Y-%m-%d %H:%M")))
        .unwrap_or_default()
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

    #[test]
    fn times_are_told_in_the_regions_zone() {
        // 2026-12-01 03:30 UTC
        let t = 1_796_095_800;
        assert_eq!(local_time(t, 420), "2026-12-01 10:30 WIB");
        assert_eq!(local_time(t, 480), "2026-12-01 11:30 WITA");
        assert_eq!(local_time(t, 540), "2026-12-01 12:30 WIT");
        assert_eq!(local_time(t, -90), "2026-12-01 02:00 UTC-01:30");
    }
}
