//! Usage figures for the admin console's dashboard: login outcomes per local day (from the audit
//! trail), tokens issued per application (counted per hour in the cache, then taken out for the
//! upkeep to sum into one `token.issued` audit record per hour) and live SSO sessions.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::cache::{Cache, CacheError};
use crate::store::stats as stats_store;
use crate::store::{Db, StoreError};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
pub const TOKEN_ISSUED: &str = "token.issued";
/// Long enough for the upkeep of a later hour (or of a replica started late) to still collect a
/// counter, short enough that counters nobody collects do not pile up.
const COUNTER_WINDOW: Duration = Duration::from_secs(48 * 3600);
const TOP_APPLICATIONS: usize = 10;
/// Bounds the answer's size whatever a caller asks for.
const MAX_DAYS: u32 = 366;

const LOGIN_SUCCEEDED: &str = "login.succeeded";
const STEP_UP: &str = "login.step_up";
const LOGIN_FAILED: &str = "login.failed";
const SECOND_FACTOR_FAILED: &str = "second_factor.failed";
const LOCKED: &str = "login.locked";

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize, Debug, Clone)]
pub struct Dashboard {
    pub days: Vec<DayFigures>,
    pub active_sessions: u64,
    pub applications: Vec<AppUse>,
    pub totals: Totals,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    /// `YYYY-MM-DD` in the region's local time.
    pub date: String,
    pub logins: u64,
    pub failures: u64,
    pub step_ups: u64,
    pub lockouts: u64,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct AppUse {
    pub client_id: String,
    pub tokens: u64,
}

/// Sums over the whole window; `tokens` counts every application, not only the listed top ones.
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub logins: u64,
    pub failures: u64,
    pub step_ups: u64,
    pub lockouts: u64,
    pub tokens: u64,
}

fn token_key(hour: i64, client_id: &str) -> String {
    format!("stats:tok:{hour}:{client_id}")
}

/// Tokens issued on this replica and not yet added to the shared counters. Counting in memory
/// keeps the token endpoint free of a cache round trip (Redis, with several replicas); the
/// upkeep adds the tally to the cache every minute with [`push_tally`].
#[derive(Debug, Default)]
pub struct TokenTally(std::sync::Mutex<HashMap<(i64, String), u64>>);

impl TokenTally {
    /// Counts one successful token response for `client_id` in the current hour.
    pub fn count(&self, client_id: &str, now: i64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((now / HOUR, client_id.to_string())).or_insert(0) += 1;
    }

    fn drain(&self) -> Vec<((i64, String), u64)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).drain().collect()
    }

    fn give_back(&self, rest: impl IntoIterator<Item = ((i64, String), u64)>) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (k, n) in rest {
            *m.entry(k).or_insert(0) += n;
        }
    }
}

/// Adds this replica's tally to the shared hourly counters. What could not be added stays in
/// the tally for the next round, so a short cache outage loses nothing.
pub async fn push_tally(tally: &TokenTally, cache: &Cache) -> Result<u64, CacheError> {
    let mut pending = tally.drain().into_iter();
    let mut pushed = 0;
    while let Some(((hour, client), n)) = pending.next() {
        if let Err(e) = cache.incr_by(&token_key(hour, &client), n, COUNTER_WINDOW).await {
            tally.give_back(std::iter::once(((hour, client), n)).chain(pending));
            return Err(e);
        }
        pushed += n;
    }
    Ok(pushed)
}

/// Token counts taken out of the cache for one hour, to be recorded as one `token.issued` audit
/// record (see [`TokenCounts::detail`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Unix time / 3600.
    pub hour: i64,
    /// Applications with at least one token, and how many.
    pub clients: BTreeMap<String, u64>,
    pub total: u64,
}

impl TokenCounts {
    /// The audit record's detail: `{"hour_start": …, "clients": {"<client id>": n, …}}`.
    pub fn detail(&self) -> Value {
        json!({ "hour_start": self.hour * HOUR, "clients": self.clients })
    }
}

/// Takes the given applications' token counters of `hour` out of the cache. Counters are taken
/// atomically (GETDEL), so replicas taking the same hour at once never get a token twice, and
/// taking an hour again later gets only tokens counted since. What was taken has left the cache
/// even when a later counter fails: the counts are returned with the failure, and the caller
/// must still record them.
pub async fn take_token_counts(cache: &Cache, client_ids: &[String], hour: i64) -> (TokenCounts, Option<CacheError>) {
    let mut counts = TokenCounts { hour, ..TokenCounts::default() };
    for id in client_ids {
        match cache.take_count(&token_key(hour, id)).await {
            Ok(0) => {}
            Ok(n) => {
                counts.total = counts.total.saturating_add(n);
                counts.clients.insert(id.clone(), n);
            }
            // Taking it removed it already; there is nothing to put back.
            Err(CacheError::NotACounter(key)) => tracing::warn!(key, "damaged token counter dropped"),
            Err(e) => return (counts, Some(e)),
        }
    }
    (counts, None)
}

/// The figures of the last `days` local days (today included; at least 1, at most 366).
/// Figures kept in the cache (live sessions, tokens of the last two hours not yet flushed) are
/// left out, with a warning in the log, when the cache cannot be read: the database figures are
/// still worth showing.
pub async fn dashboard(
    db: &Db,
    cache: &Cache,
    now: i64,
    days: u32,
    utc_offset_minutes: i32,
) -> Result<Dashboard, StoreError> {
    let days = days.clamp(1, MAX_DAYS);
    let offset = i64::from(utc_offset_minutes) * 60;
    let (first_day, since) = window(now, days, offset);
    let rows = stats_store::login_outcomes_per_day(db, offset, since).await?;
    let figures = day_figures(first_day, days, &rows);

    // The audit trail is read before the cache: a flush landing in between then makes this
    // answer miss those tokens once, rather than count them twice.
    let records = stats_store::token_records(db, since).await?;
    let mut tokens: HashMap<String, u64> = HashMap::new();
    for detail in &records {
        add_token_record(&mut tokens, detail, since);
    }
    let current = now / HOUR;
    'peek: for id in crate::store::clients::ids(db).await? {
        for hour in [current - 1, current] {
            if hour * HOUR < since {
                continue;
            }
            match cache.peek_count(&token_key(hour, &id)).await {
                Ok(0) => {}
                Ok(n) => *tokens.entry(id.clone()).or_default() += n,
                Err(e) => {
                    tracing::warn!(error = %e, "token counters not yet recorded are left out of the dashboard");
                    break 'peek;
                }
            }
        }
    }

    let active_sessions = match cache.count_prefix(crate::auth::session::KEY_PREFIX).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "live sessions cannot be counted; the dashboard shows 0");
            0
        }
    };

    let mut totals = Totals { tokens: tokens.values().sum(), ..Totals::default() };
    for d in &figures {
        totals.logins += d.logins;
        totals.failures += d.failures;
        totals.step_ups += d.step_ups;
        totals.lockouts += d.lockouts;
    }
    Ok(Dashboard { days: figures, active_sessions, applications: top_applications(tokens), totals })
}

/// The first local day of the window and the instant it starts.
fn window(now: i64, days: u32, offset: i64) -> (i64, i64) {
    let today = (now + offset).div_euclid(DAY);
    let first = today - i64::from(days) + 1;
    (first, first * DAY - offset)
}

/// A local day number (days since 1970-01-01 in local time) as a calendar date.
fn date_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * DAY, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// One entry per day, oldest first, days without events included.
fn day_figures(first_day: i64, days: u32, rows: &[(i64, String, i64)]) -> Vec<DayFigures> {
    let mut out: Vec<DayFigures> =
        (0..i64::from(days)).map(|i| DayFigures { date: date_label(first_day + i), ..DayFigures::default() }).collect();
    for (day, kind, n) in rows {
        // Records dated after `now` (a replica's clock ahead) fall outside and are skipped.
        let Some(f) = usize::try_from(day - first_day).ok().and_then(|i| out.get_mut(i)) else { continue };
        let n = u64::try_from(*n).unwrap_or(0);
        match kind.as_str() {
            LOGIN_SUCCEEDED => f.logins += n,
            STEP_UP => f.step_ups += n,
            LOGIN_FAILED | SECOND_FACTOR_FAILED => f.failures += n,
            LOCKED => f.lockouts += n,
            _ => {}
        }
    }
    out
}

/// Adds one `token.issued` record's counts when its hour began inside the window (records are
/// written after their hour, so `at` alone would also admit the hour before the window).
fn add_token_record(tokens: &mut HashMap<String, u64>, detail: &str, since: i64) {
    let Ok(v) = serde_json::from_str::<Value>(detail) else {
        tracing::warn!("a token.issued audit record has unreadable detail; skipped");
        return;
    };
    if v["hour_start"].as_i64().is_none_or(|h| h < since) {
        return;
    }
    if let Some(clients) = v["clients"].as_object() {
        for (id, n) in clients {
            if let Some(n) = n.as_u64() {
                *tokens.entry(id.clone()).or_default() += n;
            }
        }
    }
}

fn top_applications(tokens: HashMap<String, u64>) -> Vec<AppUse> {
    let mut apps: Vec<AppUse> =
        tokens.into_iter().filter(|(_, n)| *n > 0).map(|(client_id, tokens)| AppUse { client_id, tokens }).collect();
    // Ties by id, so the list does not reshuffle between two loads of the page.
    apps.sort_by(|a, b| b.tokens.cmp(&a.tokens).then_with(|| a.client_id.cmp(&b.client_id)));
    apps.truncate(TOP_APPLICATIONS);
    apps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{self, Event};

    const WIB: i64 = 420 * 60;
    /// 2026-03-11 00:30 WIB, i.e. 2026-03-10 17:30 UTC: a fixed `now` just past local midnight.
    const NOW: i64 = 1_773_163_800;

    #[test]
    fn the_window_starts_at_local_midnight() {
        assert_eq!(date_label((NOW + WIB).div_euclid(DAY)), "2026-03-11");
        assert_eq!(date_label(NOW.div_euclid(DAY)), "2026-03-10", "still the 10th in UTC");
        let (first, since) = window(NOW, 1, WIB);
        assert_eq!(date_label(first), "2026-03-11");
        assert_eq!(since, NOW - 30 * 60, "00:00 WIB");
        let (first, since) = window(NOW, 3, WIB);
        assert_eq!(date_label(first), "2026-03-09");
        assert_eq!(since, NOW - 30 * 60 - 2 * DAY);
        // UTC-05:00 (not Indonesian, but allowed): it is 12:30 on the 10th.
        let (first, since) = window(NOW, 1, -300 * 60);
        assert_eq!(date_label(first), "2026-03-10");
        assert_eq!(since, NOW - (12 * 3600 + 30 * 60));
    }

    #[test]
    fn days_are_zero_filled_oldest_first_and_out_of_window_rows_ignored() {
        let (first, _) = window(NOW, 4, WIB);
        let row = |day: i64, kind: &str, n: i64| (day, kind.to_string(), n);
        let rows = vec![
            row(first, LOGIN_SUCCEEDED, 5),
            row(first, LOGIN_FAILED, 2),
            row(first, SECOND_FACTOR_FAILED, 1),
            row(first + 2, LOCKED, 1),
            row(first + 3, STEP_UP, 4),
            row(first + 3, "something.else", 9),
            row(first - 1, LOGIN_SUCCEEDED, 100),
            row(first + 4, LOGIN_SUCCEEDED, 100),
        ];
        let d = day_figures(first, 4, &rows);
        let dates: Vec<&str> = d.iter().map(|f| f.date.as_str()).collect();
        assert_eq!(dates, ["2026-03-08", "2026-03-09", "2026-03-10", "2026-03-11"]);
        assert_eq!(d[0], DayFigures { date: "2026-03-08".into(), logins: 5, failures: 3, step_ups: 0, lockouts: 0 });
        assert_eq!(d[1], DayFigures { date: "2026-03-09".into(), ..DayFigures::default() });
        assert_eq!((d[2].lockouts, d[3].step_ups, d[3].logins), (1, 4, 0));
    }

    #[test]
    fn token_records_count_by_the_hour_they_cover() {
        let since = 1_000 * HOUR;
        let mut t = HashMap::new();
        add_token_record(&mut t, &json!({ "hour_start": since, "clients": { "a": 3, "b": 1 } }).to_string(), since);
        add_token_record(&mut t, &json!({ "hour_start": since + HOUR, "clients": { "a": 2 } }).to_string(), since);
        add_token_record(&mut t, &json!({ "hour_start": since - HOUR, "clients": { "a": 50 } }).to_string(), since);
        add_token_record(&mut t, "not json", since);
        assert_eq!((t["a"], t["b"]), (5, 1));
        let many: HashMap<String, u64> = (0..12).map(|i| (format!("app-{i:02}"), 1 + i % 3)).collect();
        let top = top_applications(many);
        assert_eq!(top.len(), TOP_APPLICATIONS);
        assert_eq!(top[0], AppUse { client_id: "app-02".into(), tokens: 3 });
        assert!(top.windows(2).all(|w| w[0].tokens >= w[1].tokens));
    }

    async fn memory_db() -> Db {
        let db = Db::connect("sqlite::memory:", 1).await.unwrap();
        db.migrate().await.unwrap();
        audit::open(&db, audit::ChainKey::derive(&[5u8; 32]), NOW).await.unwrap();
        db
    }

    #[tokio::test]
    async fn dashboard_buckets_by_local_day_on_the_database() {
        let db = memory_db().await;
        let cache = Cache::memory(crate::clock::Clock::system());
        let midnight = NOW - 30 * 60;
        for (at, kind) in [
            (midnight - 1, LOGIN_SUCCEEDED), // 23:59:59 WIB on the 10th
            (midnight, LOGIN_SUCCEEDED),     // 00:00:00 WIB on the 11th
            (midnight + 60, LOGIN_FAILED),
            (midnight + 61, SECOND_FACTOR_FAILED),
            (midnight - 2 * DAY, LOCKED),      // the 9th
            (midnight - 2 * DAY - 1, STEP_UP), // the 8th: outside a 3-day window
            (midnight + 62, "password.changed"),
        ] {
            audit::append(&db, Event::new(kind), at).await.unwrap();
        }
        let d = dashboard(&db, &cache, NOW, 3, 420).await.unwrap();
        let dates: Vec<&str> = d.days.iter().map(|f| f.date.as_str()).collect();
        assert_eq!(dates, ["2026-03-09", "2026-03-10", "2026-03-11"]);
        assert_eq!(d.days[0], DayFigures { date: "2026-03-09".into(), lockouts: 1, ..DayFigures::default() });
        assert_eq!(d.days[1], DayFigures { date: "2026-03-10".into(), logins: 1, ..DayFigures::default() });
        assert_eq!(
            d.days[2],
            DayFigures { date: "2026-03-11".into(), logins: 1, failures: 2, ..DayFigures::default() }
        );
        assert_eq!(d.totals, Totals { logins: 2, failures: 2, step_ups: 0, lockouts: 1, tokens: 0 });
        // In UTC the same records fall differently: both logins are on the 10th.
        let d = dashboard(&db, &cache, NOW, 3, 0).await.unwrap();
        assert_eq!(d.days.last().map(|f| (f.date.as_str(), f.logins)), Some(("2026-03-10", 2)));
        assert_eq!(dashboard(&db, &cache, NOW, 0, 420).await.unwrap().days.len(), 1, "at least today");
    }
}
