//! Who is a signer now: the binding that makes an account a transaction signer (the `signer`
//! role, security level 4 and the `cert` claim), checked afresh at each use.

use super::{checks, CertRow};
use crate::state::AppState;
use crate::store::certs as cert_store;
use crate::store::StoreError;

/// The account's signer binding at `now`, after bringing its revocation answer up to date;
/// `None` when it holds none (never bound, pending, expired, revoked).
pub async fn signer_binding(st: &AppState, account_id: &str, now: i64) -> Result<Option<CertRow>, StoreError> {
    let Some(row) = cert_store::signer_of(&st.db, account_id, now).await? else {
        return Ok(None);
    };
    let row = checks::refresh_if_stale(st, row, now).await;
    Ok(row.is_signer(now).then_some(row))
}

/// The protocol layer asks through [`crate::oidc::Signers`]; the state answers with
/// [`signer_binding`], so every token, userinfo and introspection answer sees the binding as it
/// stands now.
impl crate::oidc::Signers for AppState {
    fn signer<'a>(&'a self, account_id: &'a str, now: i64) -> crate::oidc::SignerFuture<'a> {
        Box::pin(signer_binding(self, account_id, now))
    }
}
