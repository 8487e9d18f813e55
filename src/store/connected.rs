//! A person's connected applications as the store sees them: their consents and the grants
//! they hold per application, and the withdrawal that removes both in one transaction.

use super::{dispatch, Db, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
}

/// One of the person's grants with what its refresh tokens say about its use.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantUse {
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// When its newest refresh token was issued: a refresh is a use too.
    pub last_refresh: Option<i64>,
    /// Refresh tokens still redeemable (unused, unexpired).
    pub live_refresh: i64,
}

pub async fn consents_of_account(db: &Db, account_id: &str) -> Result<Vec<ConsentRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT client_id, scope, created_at FROM consents WHERE account_id = $1",
        [account_id],
        fetch_all(ConsentRow)
    )?)
}

pub async fn grants_of_account(db: &Db, account_id: &str, now: i64) -> Result<Vec<GrantUse>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT g.client_id, g.scope, g.created_at, g.expires_at, g.revoked_at, \
           (SELECT MAX(r.created_at) FROM refresh_tokens r WHERE r.grant_id = g.id) AS last_refresh, \
           (SELECT COUNT(*) FROM refresh_tokens r WHERE r.grant_id = g.id AND r.used_at IS NULL AND r.expires_at > $2) \
             AS live_refresh \
         FROM grants g WHERE g.account_id = $1",
        [account_id, now],
        fetch_all(GrantUse)
    )?)
}

/// What a withdrawal took away; both empty when another request already had.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Withdrawal {
    /// The scope of the consent that was deleted.
    pub consent: Option<String>,
    pub revoked_grants: u64,
}

/// Deletes the consent and revokes every live grant of (account, client) together: the
/// application never keeps tokens without consent, nor loses one without the other. Rows
/// already gone or revoked are not counted, so of two concurrent withdrawals one sees nothing.
pub async fn withdraw(db: &Db, account_id: &str, client_id: &str, now: i64) -> Result<Withdrawal, StoreError> {
    let mut tx = db.begin().await?;
    let consent: Option<(String,)> = dispatch!(
        &mut tx,
        "DELETE FROM consents WHERE account_id = $1 AND client_id = $2 RETURNING scope",
        [account_id, client_id],
        fetch_optional((String,))
    )?;
    let revoked_grants = dispatch!(
        &mut tx,
        "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND client_id = $3 AND revoked_at IS NULL",
        [now, account_id, client_id],
        execute
    )?;
    tx.commit().await?;
    Ok(Withdrawal { consent: consent.map(|c| c.0), revoked_grants })
}
