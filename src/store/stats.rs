//! The audit-trail queries behind the dashboard's figures: login outcomes per local day and the
//! hourly `token.issued` records.

use super::{dispatch, Db, StoreError};

/// Login outcomes per local day since `since`, as (day number, kind, count). The offset
/// (seconds east of UTC) is added before dividing so days break at local midnight. `COUNT(*)`
/// and integer division of `BIGINT` are both `BIGINT` on PostgreSQL and INTEGER on SQLite:
/// `i64` on both.
pub async fn login_outcomes_per_day(db: &Db, offset: i64, since: i64) -> Result<Vec<(i64, String, i64)>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT (at + $1) / 86400 AS day, kind, COUNT(*) AS n FROM audit_events \
         WHERE at >= $2 AND kind IN ('login.succeeded', 'login.step_up', 'login.failed', \
         'second_factor.failed', 'login.locked') \
         GROUP BY 1, 2",
        [offset, since],
        fetch_all((i64, String, i64))
    )?)
}

/// The detail (JSON) of every `token.issued` record written since `since`.
pub async fn token_records(db: &Db, since: i64) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = dispatch!(
        db,
        "SELECT detail FROM audit_events WHERE kind = 'token.issued' AND at >= $1",
        [since],
        fetch_all((String,))
    )?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
