//! Binding a certificate to an account: the one-time challenge, the holder's proof of
//! possession, the name or e-mail match, administrators' bindings and the second
//! administrator's approval.
//!
//! A binding is in force only when the holder proved possession of the key (or a second
//! administrator approved it) and the certificate names the holder (or an administrator who is
//! not the holder approved the mismatch). No administrator binds a certificate to their own
//! account, and the one who bound a certificate cannot also approve it (four eyes).

use std::time::Duration;

use serde_json::json;

use super::checks::{self, CheckAnswer};
use super::{CertRow, HeldCert};
use crate::audit::{self, Event};
use crate::certs::possession::{self, PossessionError};
use crate::certs::{names, CertError, Checked};
use crate::identity::accounts::Account;
use crate::ids::AccountId;
use crate::ops::account::SignedIn;
use crate::ops::accounts::{account, lookup};
use crate::ops::{forbidden, internal, AdminError, Principal};
use crate::state::AppState;
use crate::store::certs as cert_store;
use crate::store::StoreError;

/// How long a challenge may be signed and sent back.
pub const CHALLENGE_SECONDS: u64 = 600;

const SELF_BINDING: &str = "no administrator binds a certificate to their own account: \
     the holder binds it on the account page with proof of possession";

/// A one-time text for the holder to sign. `nonce` goes back with the signature.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub nonce: String,
    pub text: String,
    pub expires_at: i64,
}

fn challenge_key(account_id: &str, nonce: &str) -> String {
    format!("cb-challenge:{account_id}:{nonce}")
}

/// Issues a challenge for the account, kept in the cache for [`CHALLENGE_SECONDS`].
pub async fn issue_challenge(st: &AppState, account_id: &str, now: i64) -> Result<Challenge, BindRefusal> {
    let bytes = crate::crypto::random_bytes::<16>().map_err(internal_refusal)?;
    let nonce: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let when = chrono::DateTime::from_timestamp(now, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    // ASCII only, so copying it into a file never changes its bytes.
    let text =
        format!("Gerbang: bukti kepemilikan sertifikat untuk {account_id} - {nonce} - {}", when.unwrap_or_default());
    st.cache
        .put(&challenge_key(account_id, &nonce), text.as_bytes(), Duration::from_secs(CHALLENGE_SECONDS))
        .await
        .map_err(internal_refusal)?;
    Ok(Challenge { nonce, text, expires_at: now + CHALLENGE_SECONDS as i64 })
}

/// Takes the challenge atomically: whatever the attempt's outcome, it is used.
async fn take_challenge(st: &AppState, account_id: &str, nonce: &str) -> Result<Vec<u8>, BindRefusal> {
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BindRefusal::ChallengeUsed);
    }
    st.cache.take(&challenge_key(account_id, nonce)).await.map_err(internal_refusal)?.ok_or(BindRefusal::ChallengeUsed)
}

/// Why the holder's binding was not made; each shown with its own translated reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindRefusal {
    #[error("binding certificates is not offered: no trusted certificate authorities are configured")]
    NotOffered,
    #[error("the challenge was used or expired; sign the new one")]
    ChallengeUsed,
    #[error("certificate: {0}")]
    Certificate(CertError),
    #[error("proof of possession: {0}")]
    Possession(PossessionError),
    #[error("revocation check: {0}")]
    Check(String),
    #[error("no such certificate waiting for your proof")]
    NotFound,
    #[error("internal error")]
    Internal,
}

impl BindRefusal {
    /// Translation key for pages.
    pub fn message_key(&self) -> &'static str {
        match self {
            BindRefusal::NotOffered => "cb_err_not_offered",
            BindRefusal::ChallengeUsed => "cb_err_challenge_used",
            BindRefusal::Certificate(e) => e.message_key(),
            BindRefusal::Possession(e) => e.message_key(),
            BindRefusal::Check(_) => "cb_err_check",
            BindRefusal::NotFound => "cb_err_not_found",
            BindRefusal::Internal => "cb_err_internal",
        }
    }
}

fn internal_refusal(e: impl std::fmt::Display) -> BindRefusal {
    tracing::error!(error = %e, "certificate binding failed");
    BindRefusal::Internal
}

impl From<StoreError> for BindRefusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => BindRefusal::Certificate(CertError::AlreadyBound),
            other => internal_refusal(other),
        }
    }
}

/// `name`, `email` or `none`: how the certificate names the account holder.
pub fn name_match(checked: &Checked, a: &Account) -> &'static str {
    if names::names_match(&checked.common_name, &a.name) {
        "name"
    } else if names::email_matches(&checked.emails, a.verified_email()) {
        "email"
    } else {
        "none"
    }
}

fn new_row(account_id: &str, c: &Checked, bound_by: &str, answer: CheckAnswer, now: i64) -> CertRow {
    CertRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.to_string(),
        fingerprint: c.fingerprint.clone(),
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        serial: c.serial.clone(),
        not_before: c.not_before,
        not_after: c.not_after,
        status: "active".into(),
        pem: crate::certs::to_pem(&c.der),
        bound_by: bound_by.to_string(),
        created_at: now,
        possession: "none".into(),
        check_status: answer.status,
        check_source: answer.source,
        check_detail: answer.detail,
        checked_at: answer.checked_at,
        check_valid_until: answer.valid_until,
        ocsp_url: c.ocsp_url.clone().unwrap_or_default(),
        crl_urls: c.crl_urls.join(" "),
        issuer_pem: if c.issuer_der.is_empty() { String::new() } else { crate::certs::to_pem(&c.issuer_der) },
        ..CertRow::default()
    }
}

async fn refused(st: &AppState, actor: &str, subject: &str, reason: &str, now: i64) {
    let e = Event::new("certificate.refused").actor(actor).subject(subject).detail(json!({ "reason": reason }));
    audit::record(&st.db, e, now).await;
}

/// The certificates bound to the signed-in person, newest first.
pub async fn own_certificates(st: &AppState, me: &SignedIn) -> Result<Vec<CertRow>, BindRefusal> {
    Ok(cert_store::of_account(&st.db, &me.account.id).await?)
}

/// Whether the account page offers binding: only with trusted certificate authorities.
pub fn offered(st: &AppState) -> bool {
    st.cert_trust.is_configured()
}

/// The holder binds their own certificate (`pem`), or completes an administrator's binding
/// waiting for their proof (`pending_id`, the certificate already known), with a signature
/// over the challenge `nonce` names. The challenge is used by any attempt. The binding is in
/// force when the certificate names the holder; otherwise it waits for an administrator's
/// approval (`pending` = `approval`).
pub async fn bind_own(
    st: &AppState,
    me: &SignedIn,
    pem: &str,
    pending_id: Option<&str>,
    nonce: &str,
    proof: &str,
    now: i64,
) -> Result<CertRow, BindRefusal> {
    let a = &me.account;
    let outcome = bind_own_inner(st, a, pem, pending_id, nonce, proof, now).await;
    if let Err(e) = &outcome {
        if !matches!(e, BindRefusal::Internal | BindRefusal::NotOffered) {
            refused(st, &a.id, &a.id, &e.to_string(), now).await;
        }
    }
    outcome
}

async fn bind_own_inner(
    st: &AppState,
    a: &Account,
    pem: &str,
    pending_id: Option<&str>,
    nonce: &str,
    proof: &str,
    now: i64,
) -> Result<CertRow, BindRefusal> {
    if !offered(st) {
        return Err(BindRefusal::NotOffered);
    }
    let challenge = take_challenge(st, &a.id, nonce).await?;
    let waiting = match pending_id {
        Some(id) => {
            let row = cert_store::get(&st.db, id).await?.filter(|r| r.account_id == a.id && r.pending == "proof");
            Some(row.ok_or(BindRefusal::NotFound)?)
        }
        None => None,
    };
    let pem = waiting.as_ref().map(|r| r.pem.as_str()).unwrap_or(pem);
    let checked = super::check_certificate(st, pem, now).map_err(BindRefusal::Certificate)?;
    let kind = possession::verify(&checked.der, &challenge, proof).map_err(BindRefusal::Possession)?;
    let matched = name_match(&checked, a);
    let pending = if matched == "none" { "approval" } else { "" };
    // A certificate an administrator bound to this account is completed, not bound again.
    let waiting = match waiting {
        Some(r) => Some(r),
        None => cert_store::by_fingerprint(&st.db, &checked.fingerprint).await?,
    };
    if let Some(row) = waiting {
        if row.account_id != a.id || row.pending != "proof" {
            return Err(BindRefusal::Certificate(CertError::AlreadyBound));
        }
        if !cert_store::prove_possession(&st.db, &row.id, &a.id, kind.as_str(), pending, matched, now).await? {
            return Err(BindRefusal::NotFound);
        }
        let detail =
            json!({ "certificate": row.id, "possession": kind.as_str(), "name_match": matched, "pending": pending });
        let e = Event::new("certificate.possession_proven").actor(&a.id).subject(&a.id).detail(detail);
        audit::record(&st.db, e, now).await;
        return cert_store::get(&st.db, &row.id).await?.ok_or(BindRefusal::NotFound);
    }
    let answer = checks::at_binding(st, &checked, a.nik.as_deref(), now).await.map_err(BindRefusal::Check)?;
    let mut row = new_row(&a.id, &checked, &a.id, answer, now);
    row.pending = pending.into();
    row.possession = kind.as_str().into();
    row.possession_at = Some(now);
    row.name_match = matched.into();
    cert_store::insert(&st.db, &row).await?;
    let detail = json!({
        "certificate": row.id, "fingerprint": row.fingerprint, "subject": row.subject, "issuer": row.issuer,
        "serial": row.serial, "not_after": row.not_after, "pending": row.pending, "possession": row.possession,
        "name_match": row.name_match, "check_status": row.check_status,
    });
    audit::record(&st.db, Event::new("certificate.bound").actor(&a.id).subject(&a.id).detail(detail), now).await;
    Ok(row)
}

/// Refuses, and records, an administrator's binding to their own account (whatever face asks,
/// and before anything about the certificate is shown).
pub async fn not_to_oneself(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
    now: i64,
) -> Result<(), AdminError> {
    if who.is_account(account_id.as_str()) {
        refused(st, &who.actor(), account_id.as_str(), SELF_BINDING, now).await;
        return Err(forbidden(SELF_BINDING));
    }
    Ok(())
}

/// An administrator binds a person's signing certificate after checking it. The binding waits
/// for the holder's proof of possession on the account page (`pending` = `proof`), or for a
/// second administrator's approval. Never to the administrator's own account.
pub async fn bind_certificate(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
    pem: &str,
    now: i64,
) -> Result<HeldCert, AdminError> {
    not_to_oneself(st, who, account_id, now).await?;
    let a = account(st, who, account_id).await?;
    let checked =
        super::check_certificate(st, pem, now).map_err(|e| AdminError::Invalid(format!("certificate: {e}")))?;
    let answer = checks::at_binding(st, &checked, a.nik.as_deref(), now)
        .await
        .map_err(|e| AdminError::Invalid(format!("certificate: {e}")))?;
    let mut row = new_row(&a.id, &checked, &who.actor(), answer, now);
    row.pending = "proof".into();
    row.name_match = name_match(&checked, &a).into();
    cert_store::insert(&st.db, &row).await.map_err(|e| match e {
        StoreError::Conflict(_) => AdminError::Conflict(CertError::AlreadyBound.to_string()),
        other => internal(other),
    })?;
    let detail = json!({
        "certificate": row.id, "fingerprint": row.fingerprint, "subject": row.subject, "issuer": row.issuer,
        "serial": row.serial, "not_after": row.not_after, "pending": row.pending, "name_match": row.name_match,
        "name_matches": row.name_match == "name",
    });
    audit::record(&st.db, Event::new("certificate.bound").actor(&who.actor()).subject(&a.id).detail(detail), now).await;
    Ok(HeldCert { cert: row, holder_name: a.name, holder_opd_id: a.opd_id })
}

/// A second administrator puts a pending binding in force: one waiting for the holder's proof
/// (possession becomes `approved`) or for a name mismatch to be accepted. The approver manages
/// the holder, is not the holder, and did not bind it; concurrent approvals make one.
pub async fn approve(st: &AppState, who: &Principal, id: &str, now: i64) -> Result<HeldCert, AdminError> {
    let row = cert_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("certificate"))?;
    let a = lookup(st, who, &row.account_id).await?;
    if who.is_account(&row.account_id) {
        return Err(forbidden("nobody approves the binding of their own certificate"));
    }
    if row.bound_by == who.actor() {
        return Err(forbidden("the administrator who bound the certificate cannot also approve it (four eyes)"));
    }
    if row.pending.is_empty() {
        return Err(AdminError::Conflict("the binding is not waiting for an approval".into()));
    }
    if !cert_store::approve(&st.db, &row.id, &who.actor(), now).await? {
        return Err(AdminError::Conflict("the binding is not waiting for an approval (any more)".into()));
    }
    let detail = json!({ "certificate": row.id, "pending_was": row.pending, "possession_was": row.possession, "bound_by": row.bound_by });
    audit::record(&st.db, Event::new("certificate.approved").actor(&who.actor()).subject(&a.id).detail(detail), now)
        .await;
    let cert = cert_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("certificate"))?;
    Ok(HeldCert { cert, holder_name: a.name, holder_opd_id: a.opd_id })
}
