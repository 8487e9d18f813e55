//! Counter verification: an officer who saw a citizen's identity document marks the account
//! identity-verified. This is the one way `verified` becomes true, so every such change names
//! the officer and the document in the audit trail.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{forbidden, AdminError, Principal};
use crate::audit::{self, Event};
use crate::identity::accounts::{self, Account, AccountKind};
use crate::ids::AccountId;
use crate::state::AppState;

/// The profile attribute the verification sets; the generic profile edit refuses it.
pub const ATTRIBUTE: &str = "verified";

/// What the generic edit answers when asked to set `verified`.
pub const USE_VERIFICATION: &str = "`verified` is set only by the identity verification action \
     (console account page, POST /admin/api/v1/accounts/{id}/identity-verification, \
     `gerbang account verify-identity`)";

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct IdentityCheck {
    /// The document the officer checked, e.g. `KTP-el`.
    pub document: String,
    /// Anything worth keeping (counter, reference number); optional.
    #[serde(default)]
    pub note: String,
}

pub fn is_verified(a: &Account) -> bool {
    a.identity_verified()
}

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String, AdminError> {
    let v = value.trim();
    if (required && v.is_empty()) || v.chars().count() > max || v.chars().any(char::is_control) {
        let need = if required { "1 to" } else { "at most" };
        return Err(AdminError::Invalid(format!("{field}: {need} {max} characters without control characters")));
    }
    Ok(v.to_string())
}

const OFFICERS_REACH: &str = "identity officers reach citizens' accounts only";

/// The citizen a counter officer looks up by the NIK on the card in front of them: only by a
/// whole, well-formed NIK (no browsing), only citizens, and only for those who verify citizens.
pub async fn citizen(st: &AppState, who: &Principal, nik: &str) -> Result<Account, AdminError> {
    if !who.verifies_citizens() {
        return Err(forbidden("finding citizens needs diskominfo-admin or identity-officer"));
    }
    let digits: String = nik.chars().filter(|c| !matches!(c, ' ' | '.' | '-')).collect();
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AdminError::Invalid("a NIK is 16 digits".into()));
    }
    match crate::store::accounts::find_by_nik(&st.db, &digits).await? {
        Some(row) => match accounts::get(&st.db, &row.id).await? {
            Some(a) if a.kind == AccountKind::Citizen => Ok(a),
            _ => Err(AdminError::NotFound("citizen")),
        },
        None => Err(AdminError::NotFound("citizen")),
    }
}

/// The account to verify: a counter officer (or Diskominfo) reaches any citizen; anyone else
/// only what they manage, with the usual refusals.
async fn target(st: &AppState, who: &Principal, id: &AccountId) -> Result<Account, AdminError> {
    if !who.verifies_citizens() {
        return super::accounts::account(st, who, id).await;
    }
    let found = accounts::get(&st.db, id.as_str()).await?;
    if who.sees_accounts() {
        return found.ok_or_else(|| who.no_such_account());
    }
    // An officer learns nothing about other accounts, not even whether an id exists.
    found.filter(|a| a.kind == AccountKind::Citizen).ok_or_else(|| forbidden(OFFICERS_REACH))
}

/// Marks a citizen identity-verified, by a counter officer, Diskominfo, or an administrator who
/// manages the account; never for themselves.
pub async fn verify_identity(
    st: &AppState,
    who: &Principal,
    id: &AccountId,
    check: IdentityCheck,
    now: i64,
) -> Result<Account, AdminError> {
    let mut a = target(st, who, id).await?;
    if who.is_account(&a.id) {
        return Err(forbidden("your own identity is verified by another officer"));
    }
    if a.kind != AccountKind::Citizen {
        return Err(AdminError::Invalid("only citizen accounts are identity-verified".into()));
    }
    let document = text("document", &check.document, 100, true)?;
    let note = text("note", &check.note, 500, false)?;
    let already = || AdminError::Conflict("this citizen's identity is already verified".into());
    if is_verified(&a) {
        return Err(already());
    }
    // Decided again on the held row: of two officers at once, one verifies and one is told.
    match accounts::mark_identity_verified(&st.db, &a.id, now).await? {
        Some(true) => {}
        Some(false) => return Err(already()),
        None => return Err(AdminError::NotFound("account")),
    }
    a.profile.insert(ATTRIBUTE.into(), true.into());
    let detail = json!({ "document": document, "note": note });
    let event = Event::new("account.identity_verified").actor(&who.actor()).subject(&a.id).detail(detail);
    audit::record(&st.db, event, now).await;
    Ok(a)
}
