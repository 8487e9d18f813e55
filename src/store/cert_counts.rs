//! Bound certificates counted by state in one grouped query, cheap enough for every metrics
//! scrape (the table holds a region's signers, thousands of rows at most).

use super::{dispatch, Db, StoreError};

/// Each certificate in exactly one state, the first that applies: `revoked`, `replaced` (ended,
/// and its holder has bound a newer one in force), `expired` (ended, not replaced), `pending`,
/// `expiring` (ending before `warn_until`), `failing` (the last check failed or the authority
/// did not know it), `unchecked`, else `valid`. Rows are kept after they end (the bindings'
/// history), so without `replaced` every certificate ever renewed counted as expired for good,
/// and the alert on expired ones never cleared.
pub async fn by_state(db: &Db, now: i64, warn_until: i64) -> Result<Vec<(String, i64)>, StoreError> {
    let sql = "SELECT CASE \
                 WHEN c.status = 'revoked' OR c.check_status = 'revoked' THEN 'revoked' \
                 WHEN c.not_after <= $1 AND EXISTS (SELECT 1 FROM certificates n \
                   WHERE n.account_id = c.account_id AND n.not_after > $1 AND n.status = 'active' \
                   AND n.check_status <> 'revoked' AND n.pending = '') THEN 'replaced' \
                 WHEN c.not_after <= $1 THEN 'expired' \
                 WHEN c.pending <> '' THEN 'pending' \
                 WHEN c.not_after <= $2 THEN 'expiring' \
                 WHEN c.check_status IN ('failed', 'unknown') THEN 'failing' \
                 WHEN c.check_status = 'unchecked' THEN 'unchecked' \
                 ELSE 'valid' END AS state, COUNT(*) AS n \
               FROM certificates c GROUP BY 1";
    Ok(dispatch!(db, sql, [now, warn_until], fetch_all((String, i64)))?)
}
