//! Who may enrol a second factor, and the one-time enrolment links through which an
//! administrator enrols their first one. A password alone must never become level 3: a phished
//! administrator's password would otherwise be a console takeover. So an account that holds an
//! administrative role (directly or through its unit) enrols from a level-1 session only after
//! redeeming a link another administrator (or the operator) issued; everyone else may, and the
//! level it was done at is recorded, audited and shown on their account page.

use serde_json::json;

use super::account::{Recent, SelfServiceError, SignedIn};
use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::crypto;
use crate::identity::accounts::Account;
use crate::identity::admin::Admin;
use crate::identity::levels;
use crate::ids::AccountId;
use crate::state::AppState;
use crate::store::enrolment::{self as store, LinkRow};

/// How long an issued link may wait to be opened.
pub const LINK_LIFETIME: i64 = 24 * 3600;
/// How long after opening the link its one factor may be enrolled.
pub const ENROLMENT_WINDOW: i64 = 15 * 60;
/// Path under the issuer where links are opened; the secret follows.
pub const LINK_PATH: &str = "/enrol/";

/// A freshly issued link, shown once: only a hash of its secret is kept.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedLink {
    pub url: String,
    pub expires_at: i64,
    pub account_id: String,
}

/// The form a link's secret has; anything else is not looked up and never echoed.
pub use crate::auth::links::plausible as plausible_token;
use crate::auth::links::token_hash;

/// A link for `account_id`'s next factor, by an administrator who manages the account (never
/// for themselves: the point is a second person) or by the operator.
pub async fn issue_link(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
    now: i64,
) -> Result<IssuedLink, AdminError> {
    let a = super::accounts::account(st, who, account_id).await?;
    if who.account().is_some_and(|me| me.id == a.id) {
        return Err(forbidden("an enrolment link for your own account is issued by another administrator"));
    }
    // As for password links: the link enrols the factor that opens an administrator's console,
    // so an OPD admin who knows a fellow administrator's password must not be able to add one.
    if !who.diskominfo() && Admin::load(&st.db, a.clone()).await?.is_some() {
        return Err(forbidden(
            "an enrolment link for an account holding an administrative role is issued by diskominfo-admin",
        ));
    }
    issue_for(st, &a, &who.actor(), now).await
}

/// The link printed for the first administrator at set-up.
pub(super) async fn issue_for(st: &AppState, a: &Account, issuer: &str, now: i64) -> Result<IssuedLink, AdminError> {
    let token = crypto::random_token(32).map_err(internal)?;
    let row = LinkRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: a.id.clone(),
        issued_by: issuer.to_string(),
        created_at: now,
        expires_at: now + LINK_LIFETIME,
        redeemed_at: None,
        redeemed_sid: None,
        completed_at: None,
    };
    store::insert(&st.db, &row, &token_hash(&token)).await?;
    let detail = json!({ "link": row.id, "expires_at": row.expires_at });
    audit::record(&st.db, Event::new("enrolment_link.issued").actor(issuer).subject(&a.id).detail(detail), now).await;
    Ok(IssuedLink {
        url: format!("{}{LINK_PATH}{token}", st.config.issuer),
        expires_at: row.expires_at,
        account_id: a.id.clone(),
    })
}

/// The signed-in person opens a link issued for them; from now on, for [`ENROLMENT_WINDOW`],
/// this session may enrol one factor. A link that is unknown, someone else's, used or expired
/// is refused with one answer.
pub async fn redeem_link(st: &AppState, me: &Recent, token: &str, now: i64) -> Result<(), SelfServiceError> {
    if !plausible_token(token) {
        return Err(SelfServiceError::LinkInvalid);
    }
    let taken = store::redeem(&st.db, &token_hash(token), &me.account.id, &me.session.sid, now)
        .await
        .map_err(|e| super::account::internal("enrolment link could not be redeemed", e))?;
    let Some(link) = taken else {
        tracing::info!(account = %me.account.id, "enrolment link refused");
        return Err(SelfServiceError::LinkInvalid);
    };
    let detail = json!({ "link": link.id, "issued_by": link.issued_by });
    let event = Event::new("enrolment_link.redeemed").actor(&me.account.id).subject(&me.account.id).detail(detail);
    audit::record(&st.db, event, now).await;
    Ok(())
}

/// How a factor about to be enrolled gets its standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Through the link with this id, redeemed by this session.
    Link(String),
    /// From the signed-in session, at the level it was opened with.
    Session(u8),
}

impl Route {
    pub fn via(&self) -> &'static str {
        match self {
            Route::Link(_) => "link",
            Route::Session(_) => "session",
        }
    }
}

fn session_level(me: &SignedIn) -> u8 {
    levels::from_acr(&me.session.acr).unwrap_or(1)
}

/// Whether this session may enrol a factor now, and on what standing.
pub async fn route(st: &AppState, me: &SignedIn, now: i64) -> Result<Route, SelfServiceError> {
    let unreadable = |e| super::account::internal("enrolment standing could not be read", e);
    let open = store::open_for_session(&st.db, &me.account.id, &me.session.sid, now - ENROLMENT_WINDOW)
        .await
        .map_err(unreadable)?;
    if let Some(link) = open {
        return Ok(Route::Link(link.id));
    }
    let level = session_level(me);
    if level < 2 && is_administrator(st, &me.account).await? {
        return Err(SelfServiceError::EnrolmentLinkRequired);
    }
    Ok(Route::Session(level))
}

/// Any administrative role, held directly or through the unit, counts: the unit path is how
/// the role would be handed out unnoticed.
pub async fn is_administrator(st: &AppState, a: &Account) -> Result<bool, SelfServiceError> {
    Admin::load(&st.db, a.clone())
        .await
        .map(|admin| admin.is_some())
        .map_err(|e| super::account::internal("roles could not be read", e))
}

/// Takes the link's one factor before the factor is stored, so two enrolments racing in one
/// window (a passkey and an authenticator app, say) cannot both ride on it.
pub async fn claim(st: &AppState, route: &Route, now: i64) -> Result<(), SelfServiceError> {
    let Route::Link(id) = route else { return Ok(()) };
    match store::complete(&st.db, id, now).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(SelfServiceError::LinkInvalid),
        Err(e) => Err(super::account::internal("the enrolment link could not be closed", e)),
    }
}

/// Gives a claimed link back when its factor was not stored (a refused authenticator answer),
/// so the person can try again within the window.
pub async fn release(st: &AppState, route: &Route) {
    if let Route::Link(id) = route {
        if let Err(e) = store::reopen(&st.db, id).await {
            tracing::warn!(error = %e, "the enrolment link could not be reopened");
        }
    }
}

/// Records how a factor was enrolled, for the account page and the console.
pub async fn enrolled(st: &AppState, me: &SignedIn, route: &Route, factor: Factor<'_>) {
    let level = session_level(me) as i64;
    let marked = match factor {
        Factor::Passkey(id) => store::mark_passkey(&st.db, id, route.via(), level).await,
        Factor::Totp => store::mark_totp(&st.db, &me.account.id, route.via(), level).await,
    };
    if let Err(e) = marked {
        tracing::warn!(error = %e, "how a factor was enrolled could not be recorded");
    }
}

/// What the audit record of an enrolment says about its standing.
pub fn detail(me: &SignedIn, route: &Route) -> serde_json::Value {
    match route {
        Route::Link(id) => json!({ "via": "link", "link": id, "session_level": session_level(me) }),
        Route::Session(level) => json!({ "via": "session", "session_level": level }),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Factor<'a> {
    Passkey(&'a str),
    Totp,
}
