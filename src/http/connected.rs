//! The account page's connected applications: the list of applications holding the person's
//! consent or tokens, and withdrawing one (a confirmation page, then a CSRF-checked POST).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::account::Person;
use super::{browser_id, page, see_other, PageError, SignedInForm};
use crate::ids::ClientId;
use crate::ops::account::SelfServiceError;
use crate::ops::connected::{self as ops, ConnectedApp};

/// Outcome messages shown once on the list; only these keys are accepted from the URL.
const DONE: &[&str] = &["withdrawn"];

impl Person {
    /// Unknown, malformed and other people's applications all get the same page.
    fn not_connected(&self) -> PageError {
        PageError::new(&self.st, self.locale, StatusCode::NOT_FOUND, "apps_not_connected", "not_found")
    }

    fn connected_error(&self, e: SelfServiceError) -> PageError {
        match e {
            SelfServiceError::NotFound => self.not_connected(),
            e => self.error(e),
        }
    }

    /// The plain description of a scope: the account page's own wording, else the consent
    /// page's, else the scope's name.
    fn scope_text(&self, scope: &str) -> String {
        [format!("apps_scope_{scope}"), format!("scope_{scope}")]
            .into_iter()
            .map(|k| (self.text(&k), k))
            .find(|(text, key)| text != key)
            .map_or_else(|| scope.to_string(), |(text, _)| text)
    }

    fn app_context(&self, a: &ConnectedApp) -> minijinja::Value {
        let scopes: Vec<minijinja::Value> =
            a.scopes.iter().map(|s| minijinja::context! { name => s, description => self.scope_text(s) }).collect();
        // In the region's zone (WIB, WITA or WIT), like the rest of the account page.
        let when = |t: i64| crate::clock::local_time(t, self.st.config.utc_offset_minutes);
        minijinja::context! {
            client_id => a.client_id, name => a.name, owner => a.owner_opd, first_party => a.first_party,
            scopes => scopes, consented => a.consented_at.map(when), last_used => a.last_used.map(when),
            offline => a.offline,
        }
    }
}

fn client_id(p: &Person, raw: &str) -> Result<ClientId, PageError> {
    ClientId::parse(raw).map_err(|_| p.not_connected())
}

pub async fn list(p: Person, Query(q): Query<HashMap<String, String>>) -> Result<Response, PageError> {
    let apps = ops::list(&p.st, &p.me, p.st.now()).await.map_err(|e| p.connected_error(e))?;
    let apps: Vec<minijinja::Value> = apps.iter().map(|a| p.app_context(a)).collect();
    let done = q.get("done").filter(|d| DONE.contains(&d.as_str())).map(|d| p.text(&format!("apps_done_{d}")));
    let ctx = minijinja::context! { apps => apps, done => done };
    Ok(page(&p.st, StatusCode::OK, "account_applications.html", p.locale, ctx))
}

/// Shows what withdrawing will do; changes nothing.
pub async fn withdraw_form(Path(raw): Path<String>, p: Person, jar: CookieJar) -> Result<Response, PageError> {
    let id = client_id(&p, &raw)?;
    let app = ops::find(&p.st, &p.me, &id, p.st.now()).await.map_err(|e| p.connected_error(e))?;
    let (jar, bid) = browser_id(&p.st, jar);
    let ctx = minijinja::context! {
        app => p.app_context(&app),
        csrf => p.st.csrf.token(&bid, "account"),
        action => format!("/account/applications/{id}/withdraw"),
    };
    Ok((jar, page(&p.st, StatusCode::OK, "account_withdraw.html", p.locale, ctx)).into_response())
}

pub async fn withdraw(
    Path(raw): Path<String>,
    SignedInForm { who: p, .. }: SignedInForm<Person>,
) -> Result<Response, PageError> {
    let id = client_id(&p, &raw)?;
    ops::withdraw(&p.st, &p.me, &id, p.st.now()).await.map_err(|e| p.connected_error(e))?;
    Ok(see_other("/account/applications?done=withdrawn"))
}
