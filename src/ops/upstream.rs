//! Logins through upstream identity providers (`[[upstream]]`): sending the browser there from
//! the login page, taking it back, deciding which account the verified login is (its link, or
//! the account with the asserted NIP/NIK, or a new one when the upstream may create accounts),
//! and handing the login flow on to the same session and step-up as a local login. Also the
//! person's and the administrators' view of links, and removing one.

use serde::Serialize;

use crate::audit::{self, Event};
use crate::federation::fresh::Freshness;
use crate::federation::link::{self, ClaimError, Identifier};
use crate::federation::{self, FederationError, Verified};
use crate::identity::accounts::{self, Account, AccountKind};
use crate::metrics::{self, LoginResult};
use crate::oidc::authorize::{self, Flow, FlowError};
use crate::ops::account::{SelfServiceError, SignedIn};
use crate::ops::login::{Browser, Step};
use crate::state::AppState;
use crate::store::upstream::{self as store, LinkRow};
use crate::store::StoreError;

/// Why an upstream login was refused; each has its own explaining page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No upstream with this id is configured.
    UnknownUpstream,
    /// The login flow or the upstream round trip expired, was used, or belongs to another browser.
    Expired,
    /// The upstream did not answer.
    Unreachable,
    /// The upstream's discovery document or keys (or our settings for it) are unusable.
    Misconfigured,
    /// The person cancelled there, or the upstream refused the login or the code.
    UpstreamRefused,
    /// The upstream's ID token failed verification.
    InvalidToken,
    /// The token carries no NIP/NIK claim.
    MissingIdentifier,
    /// The NIP/NIK claim fails validation.
    InvalidIdentifier,
    /// The matching account is suspended, retired or dismissed.
    AccountDisabled,
    /// No account has this NIP/NIK and the upstream may not create accounts.
    NoAccount,
    /// An account would be created, but the upstream gave no usable name.
    MissingName,
    /// The account is already linked to another identity at this upstream.
    LinkConflict,
    /// The account with this NIK was self-registered and its holder not yet verified: whoever
    /// registered it may not be the person the upstream vouches for, so it is not linked.
    UnverifiedAccount,
    /// The link was made with another issuer under this upstream id (the id since pointed at
    /// another provider, whose subjects are another namespace): it is not followed.
    IssuerChanged,
    /// The application asked for a new login (`prompt=login`, `max_age`) and the upstream
    /// answered with an older one, or did not say when it was.
    NotFresh,
    Internal,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownUpstream => "unknown_upstream",
            Refusal::Expired => "expired",
            Refusal::Unreachable => "upstream_unreachable",
            Refusal::Misconfigured => "upstream_misconfigured",
            Refusal::UpstreamRefused => "upstream_refused",
            Refusal::InvalidToken => "invalid_id_token",
            Refusal::MissingIdentifier => "missing_identifier",
            Refusal::InvalidIdentifier => "invalid_identifier",
            Refusal::AccountDisabled => "account_disabled",
            Refusal::NoAccount => "no_account",
            Refusal::MissingName => "missing_name",
            Refusal::LinkConflict => "link_conflict",
            Refusal::UnverifiedAccount => "unverified_account",
            Refusal::IssuerChanged => "issuer_changed",
            Refusal::NotFresh => "login_not_fresh",
            Refusal::Internal => "server_error",
        }
    }
}

/// The query the upstream sends the browser back with.
#[derive(Debug, Default)]
pub struct Callback<'a> {
    pub state: &'a str,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    /// RFC 9207: when the upstream names itself, it must be the one this round trip went to.
    pub iss: Option<&'a str>,
}

/// A link as the account page and the console show it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub upstream_id: String,
    /// The button label of the upstream, or its id when it is no longer configured.
    pub name: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// From the login page to the upstream: the URL to send the browser to.
pub async fn start(st: &AppState, flow: &Flow, upstream_id: &str, now: i64) -> Result<String, Refusal> {
    let p = st.upstreams.get(upstream_id).ok_or(Refusal::UnknownUpstream)?;
    let (issuer, ttl) = (&st.config.issuer, st.config.login_ttl);
    let fresh = Freshness::of(&flow.request.prompt, flow.request.max_age);
    p.begin(&st.http, &st.cache, issuer, &flow.id, &flow.browser_id, fresh, ttl, now).await.map_err(|e| {
        let r = refusal_of(&e);
        tracing::warn!(upstream = %upstream_id, error = %e, "upstream login could not start");
        r
    })
}

fn refusal_of(e: &FederationError) -> Refusal {
    match e {
        FederationError::Unreachable(_) => Refusal::Unreachable,
        FederationError::Misconfigured(_) => Refusal::Misconfigured,
        FederationError::Refused(_) => Refusal::UpstreamRefused,
        FederationError::InvalidToken(_) => Refusal::InvalidToken,
        FederationError::Cache(_) => Refusal::Internal,
    }
}

async fn refused(st: &AppState, upstream_id: &str, subject: Option<&str>, r: Refusal, ip: &str, now: i64) -> Refusal {
    let detail = serde_json::json!({ "upstream": upstream_id, "reason": r.code() });
    let mut event = Event::new("upstream.refused").ip(ip).detail(detail);
    if let Some(s) = subject {
        event = event.subject(s);
    }
    audit::record(&st.db, event, now).await;
    r
}

/// The browser is back from the upstream. The round trip must be this browser's own and unused;
/// then the code is redeemed, the ID token verified, the account found, and the login flow goes
/// on as after any login (which counts the success in `gerbang_logins_total`; a refusal is
/// counted here).
pub async fn callback(
    st: &AppState,
    upstream_id: &str,
    cb: &Callback<'_>,
    browser: &Browser<'_>,
    browser_id: &str,
    now: i64,
) -> Result<Step, Refusal> {
    let outcome = judge(st, upstream_id, cb, browser, browser_id, now).await;
    if let (Err(r), Some(p)) = (&outcome, st.upstreams.get(upstream_id)) {
        let result = match r {
            // No login was judged: a stale or foreign round trip.
            Refusal::UnknownUpstream | Refusal::Expired => None,
            Refusal::Internal | Refusal::Unreachable | Refusal::Misconfigured => Some(LoginResult::Error),
            _ => Some(LoginResult::Failure),
        };
        if let Some(result) = result {
            // A refusal is counted at the most the upstream could have given.
            metrics::login(result, "upstream", p.config.level);
        }
    }
    outcome
}

async fn judge(
    st: &AppState,
    upstream_id: &str,
    cb: &Callback<'_>,
    browser: &Browser<'_>,
    browser_id: &str,
    now: i64,
) -> Result<Step, Refusal> {
    let p = st.upstreams.get(upstream_id).ok_or(Refusal::UnknownUpstream)?;
    let pending = match federation::take_pending(&st.cache, cb.state).await {
        Ok(Some(x)) => x,
        Ok(None) => return Err(Refusal::Expired),
        Err(e) => {
            tracing::error!(error = %e, "upstream login state unreadable");
            return Err(Refusal::Internal);
        }
    };
    let own = pending.upstream_id == upstream_id
        && crate::crypto::constant_time_eq(pending.browser_id.as_bytes(), browser_id.as_bytes());
    if !own {
        // Someone else's round trip arriving in this browser: a planted login (login CSRF).
        tracing::warn!(upstream = %upstream_id, "upstream callback from another browser refused");
        return Err(refused(st, upstream_id, None, Refusal::Expired, browser.ip, now).await);
    }
    let flow = match authorize::load_flow(&st.provider(), &pending.flow_id, browser_id).await {
        Ok(f) => f,
        Err(FlowError::Expired) => return Err(Refusal::Expired),
        Err(FlowError::Internal) => return Err(Refusal::Internal),
    };
    if cb.iss.is_some_and(|i| i.trim_end_matches('/') != p.config.issuer) {
        tracing::warn!(upstream = %upstream_id, "callback names another issuer (mix-up)");
        return Err(refused(st, upstream_id, None, Refusal::UpstreamRefused, browser.ip, now).await);
    }
    if let Some(error) = cb.error {
        tracing::info!(upstream = %upstream_id, error = %error.chars().take(64).collect::<String>(), "the upstream refused the login");
        return Err(refused(st, upstream_id, None, Refusal::UpstreamRefused, browser.ip, now).await);
    }
    let Some(code) = cb.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Err(refused(st, upstream_id, None, Refusal::UpstreamRefused, browser.ip, now).await);
    };
    let verified = match p.finish(&st.http, &st.config.issuer, code, &pending, now).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(upstream = %upstream_id, error = %e, "upstream login failed");
            return Err(refused(st, upstream_id, None, refusal_of(&e), browser.ip, now).await);
        }
    };
    // What the application asked of freshness was asked of the upstream: an upstream that
    // answered from an older session (or says nothing of when) does not satisfy it.
    let fresh = Freshness::of(&flow.request.prompt, flow.request.max_age);
    if pending.started_at > 0 && !fresh.answered_by(verified.auth_time, pending.started_at, now) {
        return Err(refused(st, upstream_id, None, Refusal::NotFresh, browser.ip, now).await);
    }
    let account = match account_for(st, &p.config, &verified, now).await {
        Ok(a) => a,
        Err((r, subject)) => return Err(refused(st, upstream_id, subject.as_deref(), r, browser.ip, now).await),
    };
    if let Err(e) = store::touch(&st.db, upstream_id, &verified.subject, now).await {
        tracing::warn!(error = %e, "could not record the link's last login");
    }
    let level = p.config.level_for(verified.acr.as_deref());
    tracing::info!(account = %account.id, upstream = %upstream_id, level, "upstream login succeeded");
    Ok(crate::ops::login::federated(st, flow, browser, &account.id, level, now).await)
}

type Refused = (Refusal, Option<String>);

fn internal(e: StoreError) -> Refused {
    tracing::error!(error = %e, "upstream login: storage failed");
    (Refusal::Internal, None)
}

/// The account behind a verified login: through its link, else by the asserted NIP/NIK
/// (linking it), else a new account when allowed. Never by name or e-mail.
async fn account_for(
    st: &AppState,
    config: &crate::config::upstream::Upstream,
    v: &Verified,
    now: i64,
) -> Result<Account, Refused> {
    if let Some(l) = store::find(&st.db, &config.id, &v.subject).await.map_err(internal)? {
        // The same `sub` at another provider is another person.
        if l.issuer != v.issuer {
            return Err((Refusal::IssuerChanged, Some(l.account_id)));
        }
        return active(st, &l.account_id).await;
    }
    let id = link::identifier(config, &v.claims, now).map_err(|e| match e {
        ClaimError::Missing => (Refusal::MissingIdentifier, None),
        ClaimError::Invalid => (Refusal::InvalidIdentifier, None),
    })?;
    let row = LinkRow {
        upstream_id: config.id.clone(),
        subject: v.subject.clone(),
        account_id: String::new(),
        issuer: v.issuer.clone(),
        created_at: now,
        last_login_at: Some(now),
    };
    let found = accounts::find_for_login(&st.db, id.as_str()).await.map_err(internal)?.map(|(a, _)| a);
    match found {
        Some(a) if !a.is_active() => Err((Refusal::AccountDisabled, Some(a.id))),
        Some(a) => {
            linkable(st, &a).await?;
            let row = LinkRow { account_id: a.id.clone(), ..row };
            link_existing(st, &row, now).await?;
            Ok(a)
        }
        None if !config.create_accounts => Err((Refusal::NoAccount, None)),
        None => create(st, config, v, &id, row, now).await,
    }
}

async fn active(st: &AppState, account_id: &str) -> Result<Account, Refused> {
    match accounts::get(&st.db, account_id).await.map_err(internal)? {
        Some(a) if a.is_active() => Ok(a),
        Some(a) => Err((Refusal::AccountDisabled, Some(a.id))),
        None => Err((Refusal::Internal, None)),
    }
}

/// Whether an existing account found by the asserted NIP/NIK may be linked. A self-registered
/// citizen not yet verified at a counter holds the NIK on the registrant's word only: linking
/// would hand the NIK's real holder, vouched for by the upstream, to an account whoever
/// registered it controls (password, e-mail, second factors). Verified, it links as any other.
async fn linkable(st: &AppState, a: &Account) -> Result<(), Refused> {
    if a.kind != AccountKind::Citizen || a.identity_verified() {
        return Ok(());
    }
    match crate::store::accounts::is_self_registered(&st.db, &a.id).await {
        Ok(false) => Ok(()),
        Ok(true) => Err((Refusal::UnverifiedAccount, Some(a.id.clone()))),
        Err(e) => Err(internal(e)),
    }
}

/// Links an existing account. Two first logins racing: the loser finds the winner's link.
async fn link_existing(st: &AppState, row: &LinkRow, now: i64) -> Result<(), Refused> {
    match store::insert(&st.db, row).await {
        Ok(()) => {
            record_link(st, row, "upstream.linked", now).await;
            Ok(())
        }
        Err(StoreError::Conflict(_)) => match store::find(&st.db, &row.upstream_id, &row.subject).await {
            Ok(Some(l)) if l.account_id == row.account_id => Ok(()),
            // The account is linked to another person at this upstream: never overwritten.
            Ok(_) => Err((Refusal::LinkConflict, Some(row.account_id.clone()))),
            Err(e) => Err(internal(e)),
        },
        Err(e) => Err(internal(e)),
    }
}

async fn create(
    st: &AppState,
    config: &crate::config::upstream::Upstream,
    v: &Verified,
    id: &Identifier,
    row: LinkRow,
    now: i64,
) -> Result<Account, Refused> {
    let account = link::new_account(config, id, &v.claims, now).ok_or((Refusal::MissingName, None))?;
    let row = LinkRow { account_id: account.id.clone(), ..row };
    match store::create_account_linked(&st.db, &account, &row).await {
        Ok(()) => {}
        // Created meanwhile by a racing first login (or another way in): link that one instead.
        Err(StoreError::Conflict(_)) => {
            let found = accounts::find_for_login(&st.db, id.as_str()).await.map_err(internal)?;
            let Some((a, _)) = found else { return Err((Refusal::Internal, None)) };
            if !a.is_active() {
                return Err((Refusal::AccountDisabled, Some(a.id)));
            }
            linkable(st, &a).await?;
            link_existing(st, &LinkRow { account_id: a.id.clone(), ..row }, now).await?;
            return Ok(a);
        }
        Err(e) => return Err(internal(e)),
    }
    let kind = if matches!(id, Identifier::Nip(_)) { "asn" } else { "citizen" };
    let detail = serde_json::json!({ "upstream": config.id, "kind": kind });
    let event = Event::new("account.created").actor(&format!("upstream:{}", config.id)).subject(&account.id);
    audit::record(&st.db, event.detail(detail), now).await;
    record_link(st, &row, "upstream.linked", now).await;
    active(st, &account.id).await
}

async fn record_link(st: &AppState, row: &LinkRow, kind: &'static str, now: i64) {
    let detail = serde_json::json!({ "upstream": row.upstream_id, "issuer": row.issuer });
    audit::record(&st.db, Event::new(kind).actor(&row.account_id).subject(&row.account_id).detail(detail), now).await;
}

/// The account's links, for its own page and for administrators (whose power over the account
/// the caller has checked).
pub(crate) async fn links_of(st: &AppState, account_id: &str) -> Result<Vec<LinkView>, StoreError> {
    Ok(store::of_account(&st.db, account_id)
        .await?
        .into_iter()
        .map(|l| LinkView {
            name: st.upstreams.name_of(&l.upstream_id).unwrap_or_else(|| l.upstream_id.clone()),
            upstream_id: l.upstream_id,
            created_at: l.created_at,
            last_login_at: l.last_login_at,
        })
        .collect())
}

/// The person removes their link to an upstream: logging in there no longer reaches this
/// account (until a new first login links it again by NIP/NIK).
pub async fn unlink(st: &AppState, me: &SignedIn, upstream_id: &str, now: i64) -> Result<(), SelfServiceError> {
    let removed = store::remove(&st.db, &me.account.id, upstream_id).await.map_err(|e| {
        tracing::error!(error = %e, "could not remove an upstream link");
        SelfServiceError::Internal
    })?;
    let Some(row) = removed else { return Err(SelfServiceError::NotFound) };
    record_link(st, &row, "upstream.unlinked", now).await;
    Ok(())
}
