//! Electronic certificates: monitoring, binding to accounts and recording revocations.

pub mod binding;
pub mod checks;
pub mod crls;
pub mod monitor;
pub mod signer;

use serde_json::json;

use super::accounts::{account, lookup};
use super::{forbidden, AdminError, Principal};
use crate::audit::{self, Event};
use crate::ids::AccountId;
use crate::state::AppState;
pub use crate::store::cert_monitor::CertState;
use crate::store::cert_monitor::{self as monitor_store};
use crate::store::certs::{self as cert_store};
pub use crate::store::certs::{CertRow, HeldCert};
pub use binding::{approve, bind_certificate};

/// The default of `certificate_warn_days`; the lists and notices read the setting
/// (`st.config.certs.warn_days`).
pub const CERT_WARN_DAYS: i64 = 30;

/// What a monitoring list asks for: a state, an OPD unit (with the units below it) and a page.
#[derive(Debug, Clone, Default)]
pub struct CertFilter {
    pub state: CertState,
    /// An OPD unit's id; `None`: every unit the principal may see.
    pub opd: Option<String>,
    /// At most 1000 (default 100).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The page size a list gets when it names none, and the most it may ask for.
pub const DEFAULT_PAGE: i64 = 100;
pub const MAX_PAGE: i64 = 1000;

/// Whose certificates a principal monitors, as the query restricts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The whole region, citizens included.
    Region,
    /// Holders in this unit or any unit below it.
    Unit(String),
    /// Nobody (an OPD admin who belongs to no unit).
    Nobody,
}

impl Reach {
    pub(crate) fn unit(&self) -> Option<&str> {
        match self {
            Reach::Unit(u) => Some(u),
            _ => None,
        }
    }
}

/// Checks the power to monitor certificates and turns the asked-for OPD into what the query
/// filters by: Diskominfo and auditors any unit or the whole region, an OPD admin their own
/// unit's subtree (or a unit within it).
pub(crate) async fn monitoring_reach(st: &AppState, who: &Principal, opd: Option<&str>) -> Result<Reach, AdminError> {
    if !(who.sees_accounts() || who.auditor()) {
        return Err(forbidden("monitoring certificates needs diskominfo-admin, opd-admin or auditor"));
    }
    let region_wide = who.diskominfo() || who.auditor() || who.region_wide();
    match opd.map(str::trim).filter(|o| !o.is_empty()) {
        Some(unit) => {
            if !region_wide && !who.manages_unit(Some(unit)) {
                return Err(forbidden("the OPD unit is outside the units you manage"));
            }
            if crate::store::opd::get(&st.db, unit).await?.is_none() {
                return Err(AdminError::NotFound("OPD unit"));
            }
            Ok(Reach::Unit(unit.to_string()))
        }
        None if region_wide => Ok(Reach::Region),
        None => {
            let own = match who {
                Principal::Provisioner(p) => p.root.clone(),
                _ => who.account().and_then(|a| a.opd_id.clone()),
            };
            Ok(own.map_or(Reach::Nobody, Reach::Unit))
        }
    }
}

/// Certificates as monitoring sees them: Diskominfo and auditors the whole region, an OPD admin
/// its own staff's; by state and OPD, soonest expiry first, one page. The OPD restriction is
/// part of the query, so a page is full of the caller's rows however many others there are.
pub async fn certificates(
    st: &AppState,
    who: &Principal,
    filter: &CertFilter,
    now: i64,
) -> Result<Vec<HeldCert>, AdminError> {
    let reach = monitoring_reach(st, who, filter.opd.as_deref()).await?;
    if reach == Reach::Nobody {
        return Ok(Vec::new());
    }
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let offset = filter.offset.unwrap_or(0).clamp(0, 10_000_000);
    let warn_until = now + st.config.certs.warn_days * monitor::DAY;
    Ok(monitor_store::list(&st.db, filter.state, reach.unit(), now, warn_until, limit, offset).await?)
}

pub async fn certificates_of(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
) -> Result<Vec<CertRow>, AdminError> {
    let a = account(st, who, account_id).await?;
    Ok(cert_store::of_account(&st.db, &a.id).await?)
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
