//! Authentication of people: password verification, login throttling, and the SSO session that
//! records who logged in, when, and how strongly.

pub mod links;
pub mod login;
pub mod passkeys;
/// The hasher lives outside `auth` (identity hashes passwords too); re-exported for its old path.
pub use crate::password;
pub mod recovery;
pub mod session;
pub mod throttle;
pub mod totp;

use crate::store::{Db, StoreError};

/// The second factors an account has, and the security level they can reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: bool,
}

impl Factors {
    pub async fn of(db: &Db, account_id: &str) -> Result<Factors, StoreError> {
        let (totp, passkeys) = crate::store::factors::enrolled(db, account_id).await?;
        Ok(Factors { totp, passkeys })
    }

    pub fn any(&self) -> bool {
        self.totp || self.passkeys
    }

    /// Passkeys with user verification reach level 3; a one-time code level 2.
    pub fn reachable(&self) -> u8 {
        if self.passkeys {
            3
        } else if self.totp {
            2
        } else {
            1
        }
    }
}

/// An administrator's reset of all second factors (lost phone, left security key): the person
/// logs in with the password alone afterwards and enrols again. Callers record it in the audit
/// trail with who did it.
pub async fn reset_factors(db: &Db, account_id: &str) -> Result<(), StoreError> {
    reset_factors_revoking(db, account_id, &[], 0).await.map(|_| ())
}

/// As [`reset_factors`], also revoking the grants issued under the given SSO sessions (which may
/// have been opened with the lost factor), all in one transaction: no factor is left half-reset
/// and no such grant outlives the reset. Returns how many grants were revoked.
pub async fn reset_factors_revoking(db: &Db, account_id: &str, sids: &[String], now: i64) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    crate::store::factors::delete_totp(&mut tx, account_id).await?;
    crate::store::factors::delete_recovery_codes(&mut tx, account_id).await?;
    crate::store::passkeys::delete_all(&mut tx, account_id).await?;
    let mut revoked = 0;
    for sid in sids {
        let ending = crate::store::logout::Ending::Session(sid);
        revoked += crate::store::logout::revoke_and_enqueue(&mut tx, account_id, ending, "factors_reset", now).await?.0;
    }
    tx.commit().await?;
    Ok(revoked)
}
