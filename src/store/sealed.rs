//! Every column that holds a value sealed under the master key, read in pages and replaced by
//! compare-and-set, for `gerbang master-key rotate` and `status`; and the sealed root secret.

use super::{dispatch, Db, StoreError};

/// One sealed value and the row it belongs to (the key the context is made from).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedRow {
    pub id: String,
    pub sealed: Vec<u8>,
}

/// The places sealed values live. A new sealed column must be added here, or a master-key
/// rotation would leave it under the old key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    SigningKeys,
    Totp,
    AppRequests,
    Root,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 4] =
        [SealedColumn::SigningKeys, SealedColumn::Totp, SealedColumn::AppRequests, SealedColumn::Root];

    /// `table.column`, as reports name it.
    pub fn name(self) -> &'static str {
        match self {
            SealedColumn::SigningKeys => "signing_keys.private_key",
            SealedColumn::Totp => "totp_factors.secret",
            SealedColumn::AppRequests => "app_requests.sealed_secret",
            SealedColumn::Root => "root_secret.sealed",
        }
    }

    /// The associated data the value was sealed with (what binds it to its row).
    pub fn context(self, id: &str) -> String {
        match self {
            SealedColumn::SigningKeys => id.to_string(),
            SealedColumn::Totp => format!("totp:{id}"),
            SealedColumn::AppRequests => format!("app-request:{id}"),
            SealedColumn::Root => ROOT_CONTEXT.to_string(),
        }
    }
}

pub const ROOT_CONTEXT: &str = "gerbang root secret";

/// Up to `limit` values of `column` whose row id sorts after `after`, in id order.
pub async fn page(db: &Db, column: SealedColumn, after: &str, limit: i64) -> Result<Vec<SealedRow>, StoreError> {
    Ok(match column {
        SealedColumn::SigningKeys => dispatch!(
            db,
            "SELECT kid AS id, private_key AS sealed FROM signing_keys WHERE kid > $1 ORDER BY kid LIMIT $2",
            [after, limit],
            fetch_all(SealedRow)
        )?,
        SealedColumn::Totp => dispatch!(
            db,
            "SELECT account_id AS id, secret AS sealed FROM totp_factors WHERE account_id > $1 \
             ORDER BY account_id LIMIT $2",
            [after, limit],
            fetch_all(SealedRow)
        )?,
        SealedColumn::AppRequests => dispatch!(
            db,
            "SELECT id, sealed_secret AS sealed FROM app_requests WHERE sealed_secret IS NOT NULL AND id > $1 \
             ORDER BY id LIMIT $2",
            [after, limit],
            fetch_all(SealedRow)
        )?,
        SealedColumn::Root => {
            if after.is_empty() {
                root(db).await?.map(|sealed| vec![SealedRow { id: "1".into(), sealed }]).unwrap_or_default()
            } else {
                Vec::new()
            }
        }
    })
}

/// Replaces one value if it is still `old` (another replica may have changed the row since it
/// was read: a TOTP re-enrolment, a fetched application secret). False when it was not.
pub async fn replace(db: &Db, column: SealedColumn, id: &str, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
    let n = match column {
        SealedColumn::SigningKeys => dispatch!(
            db,
            "UPDATE signing_keys SET private_key = $1 WHERE kid = $2 AND private_key = $3",
            [new, id, old],
            execute
        )?,
        SealedColumn::Totp => dispatch!(
            db,
            "UPDATE totp_factors SET secret = $1 WHERE account_id = $2 AND secret = $3",
            [new, id, old],
            execute
        )?,
        SealedColumn::AppRequests => dispatch!(
            db,
            "UPDATE app_requests SET sealed_secret = $1 WHERE id = $2 AND sealed_secret = $3",
            [new, id, old],
            execute
        )?,
        SealedColumn::Root => {
            dispatch!(db, "UPDATE root_secret SET sealed = $1 WHERE id = 1 AND sealed = $2", [new, old], execute)?
        }
    };
    Ok(n == 1)
}

/// The sealed root secret, once the first start after migration 0021 stored it.
pub async fn root(db: &Db) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(Vec<u8>,)> =
        dispatch!(db, "SELECT sealed FROM root_secret WHERE id = 1", [], fetch_optional((Vec<u8>,)))?;
    Ok(row.map(|r| r.0))
}

/// Stores the root secret unless a replica starting at the same time already did.
pub async fn insert_root(db: &Db, sealed: &[u8], now: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO root_secret (id, sealed, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
        [sealed, now],
        execute
    )?;
    Ok(())
}
