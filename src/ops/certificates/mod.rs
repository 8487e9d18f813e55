//! Electronic certificates: monitoring, binding to accounts and recording revocations.

pub mod binding;
pub mod checks;
pub mod monitor;
pub mod signer;

use serde_json::json;

use super::accounts::{account, lookup};
use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::ids::AccountId;
use crate::state::AppState;
use crate::store::certs::{self as cert_store};
pub use crate::store::certs::{CertRow, HeldCert};

/// Days before expiry from which a certificate is listed as expiring.
pub const CERT_WARN_DAYS: i64 = 30;

impl From<crate::certs::BindError> for AdminError {
    fn from(e: crate::certs::BindError) -> Self {
        match e {
            crate::certs::BindError::Cert(crate::certs::CertError::AlreadyBound) => {
                AdminError::Conflict(crate::certs::CertError::AlreadyBound.to_string())
            }
            crate::certs::BindError::Cert(c) => AdminError::Invalid(format!("certificate: {c}")),
            crate::certs::BindError::Store(s) => internal(s),
        }
    }
}

/// Certificates as monitoring sees them: Diskominfo and auditors the whole region, an OPD admin
/// its own staff's. `attention` limits the list to revoked, expired and soon-expiring ones.
pub async fn certificates(
    st: &AppState,
    who: &Principal,
    attention: bool,
    now: i64,
) -> Result<Vec<HeldCert>, AdminError> {
    if !(who.sees_accounts() || who.auditor()) {
        return Err(forbidden("monitoring certificates needs diskominfo-admin, opd-admin or auditor"));
    }
    let rows = if attention {
        crate::certs::needing_attention(&st.db, now, CERT_WARN_DAYS).await?
    } else {
        cert_store::list(&st.db, 1000).await?
    };
    let region_wide = who.diskominfo() || who.auditor();
    Ok(rows.into_iter().filter(|r| region_wide || who.manages_unit(r.holder_opd_id.as_deref())).collect())
}

pub async fn certificates_of(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
) -> Result<Vec<CertRow>, AdminError> {
    let a = account(st, who, account_id).await?;
    Ok(cert_store::of_account(&st.db, &a.id).await?)
}

/// Binds a person's signing certificate after checking it (path validation to the trust
/// anchors, validity, key usage). Returns it with its holder.
pub async fn bind_certificate(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
    pem: &str,
    now: i64,
) -> Result<HeldCert, AdminError> {
    let a = account(st, who, account_id).await?;
    let checked =
        crate::certs::check(pem, &st.cert_trust, now).map_err(|e| AdminError::Invalid(format!("certificate: {e}")))?;
    let row = crate::certs::bind(&st.db, &a.id, &checked, &who.actor(), now).await?;
    let detail = json!({
        "certificate": row.id, "fingerprint": row.fingerprint, "subject": row.subject, "issuer": row.issuer,
        "serial": row.serial, "not_after": row.not_after, "name_matches": checked.common_name.eq_ignore_ascii_case(a.name.trim()),
    });
    audit::record(&st.db, Event::new("certificate.bound").actor(&who.actor()).subject(&a.id).detail(detail), now).await;
    Ok(HeldCert { cert: row, holder_name: a.name, holder_opd_id: a.opd_id })
}

/// Records a revocation (reported by the certificate authority or the holder); the certificate
/// no longer counts for signing. Returns it with its holder.
pub async fn revoke_certificate(
    st: &AppState,
    who: &Principal,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<HeldCert, AdminError> {
    let row = cert_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("certificate"))?;
    let a = lookup(st, who, &row.account_id).await?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AdminError::Invalid("reason: give a reason of 1 to 500 characters".into()));
    }
    if !cert_store::revoke(&st.db, &row.id, reason, now).await? {
        return Err(AdminError::Conflict("the certificate is already revoked".into()));
    }
    let detail = json!({ "certificate": row.id, "fingerprint": row.fingerprint, "reason": reason });
    audit::record(&st.db, Event::new("certificate.revoked").actor(&who.actor()).subject(&a.id).detail(detail), now)
        .await;
    let cert = cert_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("certificate"))?;
    Ok(HeldCert { cert, holder_name: a.name, holder_opd_id: a.opd_id })
}

/// An account's certificates with their holder, as the admin API lists them.
pub async fn held_certificates_of(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
) -> Result<Vec<HeldCert>, AdminError> {
    let a = account(st, who, account_id).await?;
    let rows = cert_store::of_account(&st.db, &a.id).await?;
    let held = |cert| HeldCert { cert, holder_name: a.name.clone(), holder_opd_id: a.opd_id.clone() };
    Ok(rows.into_iter().map(held).collect())
}

/// One certificate, for an admin who manages its holder (the revocation's confirmation page).
pub async fn certificate(st: &AppState, who: &Principal, id: &str) -> Result<CertRow, AdminError> {
    let row = cert_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("certificate"))?;
    lookup(st, who, &row.account_id).await?;
    Ok(row)
}

/// What a certificate says about itself, checked as binding checks it (path validation to the
/// trust anchors, validity, key usage), for the confirmation before the binding. Nothing is
/// stored.
pub fn check_certificate(st: &AppState, pem: &str, now: i64) -> Result<crate::certs::Checked, crate::certs::CertError> {
    crate::certs::check(pem, &st.cert_trust, now)
}
