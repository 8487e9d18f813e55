//! WebAuthn (passkeys and security keys) through webauthn-rs: registration, use as a second
//! factor for a known account, and passwordless login with discoverable credentials. The
//! relying-party id is the issuer's host. Ceremony state waits in the cache, so any replica can
//! finish what another started.

use std::time::Duration;

use webauthn_rs::prelude::*;

use crate::cache::{Cache, CacheError};
use crate::crypto;
use crate::store::passkeys::{self as store, PasskeyRow};
use crate::store::{Db, StoreError};

/// What a passkey login adds to `amr` (RFC 8176). Attestation is not verified, and synced
/// passkeys are welcome at level 3 (WebAuthn with user verification), so how the key is kept is
/// unknown: neither `hwk` nor `swk` is claimed. A passkey with user verification is itself
/// possession plus a PIN or biometric: `mfa`.
pub const AMR: &str = "mfa";

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ceremony expired or was never started")]
    Expired,
    #[error("the authenticator's answer was refused: {0}")]
    Refused(String),
    /// A security event the caller records: two authenticators answering for one credential.
    #[error("the credential's signature counter went backwards: the authenticator may have been cloned")]
    PossibleClone { account_id: String },
    #[error("user verification was not performed")]
    NoUserVerification,
    #[error("unknown credential")]
    UnknownCredential,
    /// The ceremony's state could not be kept or read (the cache failed, or held a damaged
    /// value): no answer of the authenticator was looked at.
    #[error("the ceremony state is out of reach: {0}")]
    Cache(#[from] CacheError),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("passkeys are not available for this issuer")]
    Unavailable,
}

fn available(wa: Option<&Webauthn>) -> Result<&Webauthn, PasskeyError> {
    wa.ok_or(PasskeyError::Unavailable)
}

const CEREMONY_TTL: Duration = Duration::from_secs(300);

pub fn build(issuer: &str) -> anyhow::Result<Webauthn> {
    let origin = Url::parse(issuer)?;
    let rp_id = origin.host_str().ok_or_else(|| anyhow::anyhow!("the issuer has no host"))?.to_string();
    Ok(WebauthnBuilder::new(&rp_id, &origin)?.rp_name("Gerbang").build()?)
}

fn load(row: &PasskeyRow) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(&row.credential).map_err(|e| PasskeyError::Internal(format!("stored passkey {}: {e}", row.id)))
}

pub async fn list(db: &Db, account_id: &str) -> Result<Vec<PasskeyRow>, StoreError> {
    store::list(db, account_id).await
}

/// Creation options for the browser. Passkeys are requested as discoverable credentials so
/// they also work for passwordless login.
pub async fn start_registration(
    wa: Option<&Webauthn>,
    cache: &Cache,
    db: &Db,
    account_id: &str,
    user_name: &str,
    display_name: &str,
) -> Result<serde_json::Value, PasskeyError> {
    let wa = available(wa)?;
    let uid = Uuid::parse_str(account_id).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let existing = store::list(db, account_id).await?;
    let exclude: Vec<CredentialID> =
        existing.iter().filter_map(|r| load(r).ok()).map(|p| p.cred_id().clone()).collect();
    let (options, state) = wa
        .start_passkey_registration(uid, user_name, display_name, Some(exclude))
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    cache.put_json(&format!("webauthn-reg:{account_id}"), &state, CEREMONY_TTL).await?;
    let mut v = serde_json::to_value(&options).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    if let Some(sel) = v.pointer_mut("/publicKey/authenticatorSelection").and_then(|s| s.as_object_mut()) {
        sel.insert("residentKey".into(), "required".into());
        sel.insert("requireResidentKey".into(), true.into());
    }
    Ok(v)
}

pub async fn finish_registration(
    wa: Option<&Webauthn>,
    cache: &Cache,
    db: &Db,
    account_id: &str,
    name: &str,
    credential: &RegisterPublicKeyCredential,
    now: i64,
) -> Result<PasskeyRow, PasskeyError> {
    let wa = available(wa)?;
    let state: PasskeyRegistration =
        cache.take_json(&format!("webauthn-reg:{account_id}")).await?.ok_or(PasskeyError::Expired)?;
    let passkey =
        wa.finish_passkey_registration(credential, &state).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let name = name.trim();
    let name = if name.is_empty() { "Passkey".to_string() } else { name.chars().take(60).collect() };
    let row = PasskeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.to_string(),
        cred_id: crypto::b64url(passkey.cred_id().as_ref()),
        name,
        credential: serde_json::to_string(&passkey).map_err(|e| PasskeyError::Internal(e.to_string()))?,
        created_at: now,
        last_used_at: None,
        enrolled_via: None,
        enrolled_level: None,
    };
    store::insert(db, &row).await?;
    Ok(row)
}

/// Request options for a known account (second factor or step-up). `key` names the ceremony.
pub async fn start_authentication(
    wa: Option<&Webauthn>,
    cache: &Cache,
    db: &Db,
    account_id: &str,
    key: &str,
) -> Result<serde_json::Value, PasskeyError> {
    let wa = available(wa)?;
    let rows = store::list(db, account_id).await?;
    let keys: Vec<Passkey> = rows.iter().filter_map(|r| load(r).ok()).collect();
    if keys.is_empty() {
        return Err(PasskeyError::UnknownCredential);
    }
    let (options, state) = wa.start_passkey_authentication(&keys).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    cache.put_json(&format!("webauthn-auth:{key}"), &state, CEREMONY_TTL).await?;
    serde_json::to_value(&options).map_err(|e| PasskeyError::Internal(e.to_string()))
}

/// Request options for passwordless login: any discoverable credential of this site.
pub async fn start_discoverable(
    wa: Option<&Webauthn>,
    cache: &Cache,
    key: &str,
) -> Result<serde_json::Value, PasskeyError> {
    let wa = available(wa)?;
    let (options, state) = wa.start_discoverable_authentication().map_err(|e| PasskeyError::Refused(e.to_string()))?;
    cache.put_json(&format!("webauthn-disc:{key}"), &state, CEREMONY_TTL).await?;
    serde_json::to_value(&options).map_err(|e| PasskeyError::Internal(e.to_string()))
}

/// Counter regressions are refused and logged: two authenticators answering for one credential
/// means it was copied.
async fn record_use(
    db: &Db,
    row: &PasskeyRow,
    mut passkey: Passkey,
    result: &AuthenticationResult,
    now: i64,
) -> Result<(), PasskeyError> {
    if !result.user_verified() {
        return Err(PasskeyError::NoUserVerification);
    }
    passkey.update_credential(result);
    let json = serde_json::to_string(&passkey).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    store::update_after_use(db, &row.id, &json, now).await?;
    Ok(())
}

fn refused(e: WebauthnError, account: &str) -> PasskeyError {
    if matches!(e, WebauthnError::CredentialPossibleCompromise) {
        tracing::warn!(account = %account, "passkey counter went backwards: possible cloned authenticator");
        return PasskeyError::PossibleClone { account_id: account.to_string() };
    }
    PasskeyError::Refused(e.to_string())
}

pub async fn finish_authentication(
    wa: Option<&Webauthn>,
    cache: &Cache,
    db: &Db,
    account_id: &str,
    key: &str,
    credential: &PublicKeyCredential,
    now: i64,
) -> Result<(), PasskeyError> {
    let wa = available(wa)?;
    let state: PasskeyAuthentication =
        cache.take_json(&format!("webauthn-auth:{key}")).await?.ok_or(PasskeyError::Expired)?;
    let result = wa.finish_passkey_authentication(credential, &state).map_err(|e| refused(e, account_id))?;
    let rows = store::list(db, account_id).await?;
    let cred = crypto::b64url(result.cred_id().as_ref());
    let row = rows.into_iter().find(|r| r.cred_id == cred).ok_or(PasskeyError::UnknownCredential)?;
    let passkey = load(&row)?;
    record_use(db, &row, passkey, &result, now).await
}

/// Passwordless: finds the account from the credential's user handle. Returns the account id.
pub async fn finish_discoverable(
    wa: Option<&Webauthn>,
    cache: &Cache,
    db: &Db,
    key: &str,
    credential: &PublicKeyCredential,
    now: i64,
) -> Result<String, PasskeyError> {
    let wa = available(wa)?;
    let state: DiscoverableAuthentication =
        cache.take_json(&format!("webauthn-disc:{key}")).await?.ok_or(PasskeyError::Expired)?;
    let (uid, _) =
        wa.identify_discoverable_authentication(credential).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let account_id = uid.to_string();
    let rows = store::list(db, &account_id).await?;
    let keys: Vec<(PasskeyRow, Passkey)> = rows.into_iter().filter_map(|r| load(&r).ok().map(|p| (r, p))).collect();
    if keys.is_empty() {
        return Err(PasskeyError::UnknownCredential);
    }
    let discoverable: Vec<DiscoverableKey> = keys.iter().map(|(_, p)| p.into()).collect();
    let result =
        wa.finish_discoverable_authentication(credential, state, &discoverable).map_err(|e| refused(e, &account_id))?;
    let cred = crypto::b64url(result.cred_id().as_ref());
    let (row, passkey) = keys.into_iter().find(|(r, _)| r.cred_id == cred).ok_or(PasskeyError::UnknownCredential)?;
    record_use(db, &row, passkey, &result, now).await?;
    Ok(account_id)
}

pub async fn remove(db: &Db, account_id: &str, id: &str) -> Result<bool, StoreError> {
    store::delete(db, account_id, id).await
}
