//! The application registration workflow: an OPD developer or OPD admin requests an
//! application; a Diskominfo admin reviews, corrects, approves or rejects it with a reason; on
//! approval the requester fetches the client credentials exactly once.

use serde::{Deserialize, Serialize};

use super::clients::{self, Category, ClientError, GrantType, NewClient};
use super::Provider;
use crate::config::Secret;
use crate::crypto::MasterKey;
use crate::identity::accounts::Account;
use crate::store::app_requests::{self as store, RequestRow};
use crate::store::StoreError;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AppRequest {
    pub name: String,
    pub category: Category,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub min_level: u8,
    /// A browser or mobile application (no secret, PKCE).
    #[serde(default)]
    pub public: bool,
}

impl AppRequest {
    fn to_client(&self, owner_opd: &str) -> NewClient {
        let grants = if self.public {
            vec![GrantType::AuthorizationCode]
        } else {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        };
        let mut c = NewClient::web(&self.name, self.redirect_uris.clone(), self.scopes.clone(), grants);
        c.public = self.public;
        // A regional application is not Gerbang's own: people are asked before their data
        // (a NIK, say) goes to it.
        c.first_party = false;
        c.category = self.category;
        c.min_level = self.min_level;
        c.owner_opd_id = Some(owner_opd.to_string());
        c
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Invalid(#[from] ClientError),
    #[error("the requester belongs to no OPD unit")]
    NoUnit,
    #[error("no such request")]
    NotFound,
    #[error("the request was already decided")]
    AlreadyDecided,
    #[error("a rejection needs a reason")]
    ReasonRequired,
    #[error("the credentials were already fetched")]
    AlreadyFetched,
    #[error("only the requester may fetch the credentials")]
    NotRequester,
    #[error("the request is not approved")]
    NotApproved,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing failed")]
    Seal,
}

/// The registration rules a request must meet, checked before anything is stored, so a form can
/// say what is wrong before asking for confirmation.
pub fn check(st: &Provider<'_>, req: &AppRequest) -> Result<(), ClientError> {
    clients::validate(&req.to_client("check"), st.redirect_policy).map(|_| ())
}

pub async fn submit(
    st: &Provider<'_>,
    requester: &Account,
    req: AppRequest,
    now: i64,
) -> Result<RequestRow, WorkflowError> {
    let unit = requester.opd_id.clone().ok_or(WorkflowError::NoUnit)?;
    let (name, scopes) = clients::validate(&req.to_client(&unit), st.redirect_policy)?;
    let row = RequestRow {
        id: uuid::Uuid::new_v4().to_string(),
        requester_id: requester.id.clone(),
        opd_id: unit,
        name,
        category: req.category.as_str().into(),
        redirect_uris: serde_json::to_string(&req.redirect_uris).map_err(|_| WorkflowError::Seal)?,
        scopes: scopes.join(" "),
        min_level: i64::from(req.min_level),
        public_client: req.public,
        status: "pending".into(),
        reason: String::new(),
        client_id: None,
        sealed_secret: None,
        reviewed_by: None,
        created_at: now,
        reviewed_at: None,
        fetched_at: None,
    };
    store::insert(st.db, &row).await?;
    Ok(row)
}

/// The request as it was asked (or corrected); a category the code does not know is damage.
pub fn request_of(row: &RequestRow) -> Result<AppRequest, StoreError> {
    let category = Category::parse(&row.category)
        .ok_or_else(|| StoreError::Corrupt(format!("app request {}: category `{}`", row.id, row.category)))?;
    Ok(AppRequest {
        name: row.name.clone(),
        category,
        redirect_uris: serde_json::from_str(&row.redirect_uris).unwrap_or_default(),
        scopes: row.scopes.split(' ').filter(|s| !s.is_empty()).map(String::from).collect(),
        min_level: u8::try_from(row.min_level).unwrap_or(1),
        public: row.public_client,
    })
}

/// Approves, optionally with the reviewer's corrections, and registers the application.
pub async fn approve(
    st: &Provider<'_>,
    id: &str,
    reviewer: &Account,
    corrected: Option<AppRequest>,
    now: i64,
) -> Result<RequestRow, WorkflowError> {
    let row = store::get(st.db, id).await?.ok_or(WorkflowError::NotFound)?;
    if row.status != "pending" {
        return Err(WorkflowError::AlreadyDecided);
    }
    // A correction is checked now and written with the decision below: of two reviewers
    // approving at once with different corrections, the stored request is the winner's.
    let (req, correction) = match corrected {
        Some(c) => {
            let (name, scopes) = clients::validate(&c.to_client(&row.opd_id), st.redirect_policy)?;
            let uris = serde_json::to_string(&c.redirect_uris).map_err(|_| WorkflowError::Seal)?;
            (c, Some((name, uris, scopes.join(" "))))
        }
        None => (request_of(&row)?, None),
    };
    let (client, secret) = clients::prepare(req.to_client(&row.opd_id), st.redirect_policy, now)?;
    let sealed = match &secret {
        Some(s) => Some(seal(st.sealer, id, s)?),
        None => None,
    };
    // The decision and the registration stand or fall together: of two reviewers approving at
    // once, one wins and the other's application is never stored.
    let mut tx = st.db.begin().await?;
    if let Some((name, uris, scopes)) = &correction {
        let (category, level) = (req.category.as_str(), i64::from(req.min_level));
        store::correct(&mut tx, id, name, category, uris, scopes, level, req.public).await?;
    }
    if !store::decide(&mut tx, id, "approved", "", Some(&client.id), sealed.as_deref(), &reviewer.id, now).await? {
        return Err(WorkflowError::AlreadyDecided);
    }
    crate::store::clients::insert(&mut tx, &client).await?;
    tx.commit().await?;
    store::get(st.db, id).await?.ok_or(WorkflowError::NotFound)
}

fn seal(master: &MasterKey, id: &str, secret: &Secret<String>) -> Result<Vec<u8>, WorkflowError> {
    master.seal(&format!("app-request:{id}"), secret.expose().as_bytes()).map_err(|_| WorkflowError::Seal)
}

pub async fn reject(
    st: &Provider<'_>,
    id: &str,
    reviewer: &Account,
    reason: &str,
    now: i64,
) -> Result<RequestRow, WorkflowError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(WorkflowError::ReasonRequired);
    }
    let row = store::get(st.db, id).await?.ok_or(WorkflowError::NotFound)?;
    if row.status != "pending" || !store::decide(st.db, id, "rejected", reason, None, None, &reviewer.id, now).await? {
        return Err(WorkflowError::AlreadyDecided);
    }
    store::get(st.db, id).await?.ok_or(WorkflowError::NotFound)
}

/// The client id, and the secret for a confidential client — once.
pub async fn fetch_credentials(
    st: &Provider<'_>,
    id: &str,
    requester: &Account,
    now: i64,
) -> Result<(String, Option<Secret<String>>), WorkflowError> {
    let row = store::get(st.db, id).await?.ok_or(WorkflowError::NotFound)?;
    if row.requester_id != requester.id {
        return Err(WorkflowError::NotRequester);
    }
    if row.status != "approved" {
        return Err(WorkflowError::NotApproved);
    }
    let client_id = row.client_id.clone().ok_or(WorkflowError::NotApproved)?;
    if row.fetched_at.is_some() || !store::take_secret(st.db, id, now).await? {
        return Err(WorkflowError::AlreadyFetched);
    }
    let secret = match &row.sealed_secret {
        Some(sealed) => {
            let plain = st.sealer.open(&format!("app-request:{id}"), sealed).map_err(|_| WorkflowError::Seal)?;
            Some(Secret::new(String::from_utf8(plain).map_err(|_| WorkflowError::Seal)?))
        }
        None => None,
    };
    Ok((client_id, secret))
}
