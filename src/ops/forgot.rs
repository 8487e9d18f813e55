//! "Forgot password": a person names their NIP or NIK and, when the account has a verified
//! address, a reset link is mailed to it. The answer never says whether an account exists or
//! has an address, and does not take longer when it does: the work happens after answering.
//! Mails are counted per account, not per identifier typed: a civil servant has a NIP and a NIK,
//! and typing each in turn must not double what their mailbox receives.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::links::{self, Purpose};
use crate::identity::accounts::{self, Account};
use crate::state::AppState;

/// Links mailed per account per hour, whichever of its identifiers was typed; beyond that
/// nothing is sent (and nothing said).
pub const PER_ACCOUNT: u64 = 3;
/// Requests one client address may make per hour.
pub const PER_ADDRESS: u64 = 10;
const WINDOW: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Taken (whatever happens next, the person sees the same page).
    Accepted,
    /// Reset by e-mail is not possible on this server: the help desk does it.
    Unavailable,
    TooMany {
        retry_after: u64,
    },
}

/// Counts the request against its address, then hands the lookup and mailing to a task of its
/// own, so the answer is the same, and as fast, for every identifier.
pub async fn request(st: &Arc<AppState>, identifier: &str, ip: &str, now: i64) -> Requested {
    if !st.mailer.configured() {
        return Requested::Unavailable;
    }
    // IPv6 counts per /64 (see `limits::address_key`).
    let address = crate::limits::address_key(ip);
    match st.cache.incr_window(&format!("forgot:address:{address}"), WINDOW).await {
        Ok((n, _)) if n <= PER_ADDRESS => {}
        Ok((_, left)) => return Requested::TooMany { retry_after: left.as_secs().max(1) },
        Err(e) => {
            // Fail closed: an uncounted request could be one of thousands.
            tracing::error!(error = %e, "a forgotten-password request could not be counted");
            return Requested::TooMany { retry_after: 60 };
        }
    }
    let identifier: String = identifier.chars().filter(|c| !c.is_whitespace() && *c != '.').take(64).collect();
    let st = st.clone();
    tokio::spawn(async move { send(&st, &identifier, now).await });
    Requested::Accepted
}

/// Whether one more link may be mailed to the account this hour. Counted only when a mail
/// would go out, keyed by the account (not by what was typed), and never beyond the limit, so
/// requests past it do not push the window on. A count the cache cannot take sends nothing.
async fn within_account_limit(st: &AppState, a: &Account) -> bool {
    match st.cache.count_below(&format!("forgot:account:{}", a.id), PER_ACCOUNT, WINDOW).await {
        Ok(Some(_)) => true,
        Ok(None) => {
            tracing::info!("forgotten-password request not answered: the account's hourly limit is reached");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "a forgotten-password request could not be counted");
            false
        }
    }
}

async fn send(st: &AppState, identifier: &str, now: i64) {
    let account = match accounts::find_for_login(&st.db, identifier).await {
        Ok(found) => found.map(|(a, _)| a),
        Err(e) => {
            tracing::error!(error = %e, "a forgotten-password request could not look up its account");
            return;
        }
    };
    let Some(a) = account.filter(|a| a.is_active()) else { return };
    let Some(to) = a.verified_email().map(String::from) else { return };
    if !within_account_limit(st, &a).await {
        return;
    }
    let purpose = match crate::store::accounts::get(&st.db, &a.id).await {
        Ok(Some(row)) if row.password_hash.is_none() => Purpose::Activation,
        Ok(Some(_)) => Purpose::Reset,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "a forgotten-password request could not read its account");
            return;
        }
    };
    let link = match links::issue_self_service(&st.db, &st.config.issuer, purpose, &a.id, now).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "a forgotten-password link could not be issued");
            return;
        }
    };
    if let Err(e) = super::reset::mail_link(st, &a, &to, purpose, &link) {
        tracing::error!(error = %e, "a forgotten-password link could not be mailed");
        return;
    }
    let detail =
        json!({ "link": link.id, "purpose": purpose.as_str(), "delivery": "email", "expires_at": link.expires_at });
    let event = Event::new("password.reset_link_issued").actor(&a.id).subject(&a.id).detail(detail);
    audit::record(&st.db, event, now).await;
}
