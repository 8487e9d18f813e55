//! Roles: global (e.g. `diskominfo-admin`, `auditor`) or defined by one application, assigned
//! to accounts directly or to OPD units (inherited by everyone in the unit and the units below).
//! Changes reach the next token; removing a role revokes the grants whose tokens carried it.

use crate::store::grants as grant_store;
use crate::store::opd as opd_store;
use crate::store::roles::{self as store, RoleRow};
use crate::store::{Db, Exec, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("invalid role name: use 1 to 64 lowercase letters, digits, `-`, `_`, `.` or `:`")]
    Name,
    #[error("the role already exists")]
    Conflict,
    #[error("the assignment already exists")]
    AlreadyAssigned,
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    /// The change would leave the region without an active `diskominfo-admin`.
    #[error(
        "the region would be left without an active diskominfo-admin: give the role to another administrator first"
    )]
    LastAdmin,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RoleError {
    fn from(e: StoreError) -> Self {
        RoleError::Store(e)
    }
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `client_id` `None` for a global role.
pub async fn create(
    db: &Db,
    client_id: Option<&str>,
    name: &str,
    description: &str,
    now: i64,
) -> Result<RoleRow, RoleError> {
    if !valid_name(name) {
        return Err(RoleError::Name);
    }
    let row = RoleRow {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: client_id.map(String::from),
        name: name.to_string(),
        description: description.trim().to_string(),
        created_at: now,
    };
    match store::insert(db, &row).await {
        Ok(()) => Ok(row),
        Err(StoreError::Conflict(_)) => Err(RoleError::Conflict),
        Err(e) => Err(e.into()),
    }
}

pub async fn find(db: &Db, client_id: Option<&str>, name: &str) -> Result<RoleRow, RoleError> {
    store::find(db, client_id, name).await?.ok_or_else(|| {
        RoleError::UnknownRole(match client_id {
            None => name.to_string(),
            Some(c) => format!("{c}:{name}"),
        })
    })
}

/// Who receives a role.
#[derive(Debug, Clone)]
pub enum Holder {
    Account(String),
    Opd(String),
}

fn columns(holder: &Holder) -> (Option<&str>, Option<&str>) {
    match holder {
        Holder::Account(a) => (Some(a.as_str()), None),
        Holder::Opd(o) => (None, Some(o.as_str())),
    }
}

pub async fn assign(db: &Db, role: &RoleRow, holder: &Holder, now: i64) -> Result<(), RoleError> {
    if assign_on(db, role, holder, now).await? {
        Ok(())
    } else {
        Err(RoleError::AlreadyAssigned)
    }
}

/// True when the role was newly given.
async fn assign_on(db: impl Into<Exec<'_>>, role: &RoleRow, holder: &Holder, now: i64) -> Result<bool, RoleError> {
    let (a, o) = columns(holder);
    Ok(store::assign(db, &uuid::Uuid::new_v4().to_string(), &role.id, a, o, now).await?)
}

/// Removes an assignment and revokes the grants of everyone who thereby lost the role, in one
/// transaction: the role is never gone while tokens carrying it stay valid. Returns how many
/// grants were revoked.
pub async fn unassign(db: &Db, role: &RoleRow, holder: &Holder, now: i64) -> Result<u64, RoleError> {
    let mut tx = db.begin().await?;
    let revoked = unassign_in(&mut tx, role, holder, now).await?;
    tx.commit().await?;
    Ok(revoked.unwrap_or(0))
}

/// `None` when the holder did not have the role; otherwise how many grants were revoked.
async fn unassign_in(tx: &mut Tx, role: &RoleRow, holder: &Holder, now: i64) -> Result<Option<u64>, RoleError> {
    let (a, o) = columns(holder);
    store::lock(tx, &role.id).await?;
    // Judged under the role's lock, so two administrators taking the role from each other at
    // once cannot both succeed and leave the region with none.
    let guarded = role.client_id.is_none() && role.name == crate::identity::admin::DISKOMINFO_ADMIN;
    let before = if guarded { store::active_holders_of_global(tx, &role.name).await? } else { 0 };
    if !store::unassign(&mut *tx, &role.id, a, o).await? {
        return Ok(None);
    }
    if guarded && before > 0 && store::active_holders_of_global(tx, &role.name).await? == 0 {
        return Err(RoleError::LastAdmin);
    }
    let affected = match holder {
        Holder::Account(a) => vec![a.clone()],
        Holder::Opd(o) => opd_store::accounts_in_subtree(&mut *tx, o).await?,
    };
    let mut revoked = 0;
    for account in affected {
        // Someone who still holds the role another way (directly, or through another unit) keeps
        // their tokens.
        let still = store::effective(&mut *tx, &account).await?.iter().any(|r| r.id == role.id);
        if !still {
            revoked += grant_store::revoke_grants_with_role(&mut *tx, &account, &role.id, now).await?;
        }
    }
    Ok(Some(revoked))
}

/// Gives every role to its holder, all or nothing: one transaction, so a failure half-way
/// leaves no assignment behind. Returns, per item, whether it was newly given.
pub async fn assign_all(db: &Db, items: &[(RoleRow, Holder)], now: i64) -> Result<Vec<bool>, RoleError> {
    let mut tx = db.begin().await?;
    let mut given = Vec::with_capacity(items.len());
    for (role, holder) in items {
        given.push(assign_on(&mut tx, role, holder, now).await?);
    }
    tx.commit().await?;
    Ok(given)
}

/// Takes every role from its holder, with the revocations, all or nothing. Returns, per item,
/// `None` when the holder did not have it, otherwise how many grants were revoked.
pub async fn unassign_all(db: &Db, items: &[(RoleRow, Holder)], now: i64) -> Result<Vec<Option<u64>>, RoleError> {
    let mut tx = db.begin().await?;
    let mut outcomes = Vec::with_capacity(items.len());
    for (role, holder) in items {
        outcomes.push(unassign_in(&mut tx, role, holder, now).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

pub async fn effective(db: &Db, account_id: &str) -> Result<Vec<RoleRow>, StoreError> {
    store::effective(db, account_id).await
}

/// What anyone in the unit holds through it: the roles of the unit and of every unit above it.
pub async fn held_at_unit(db: &Db, opd_id: &str) -> Result<Vec<RoleRow>, StoreError> {
    store::held_at_unit(db, opd_id).await
}
