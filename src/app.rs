//! The route table (every route is listed here), the middleware around it, and the server's
//! run loop with background upkeep and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, Request, StatusCode};
use axum::routing::{any, delete, get, post, put};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::set_header::{SetRequestHeaderLayer, SetResponseHeaderLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::http::{
    account, account_certs, admin, connected, console, contact, demo, health, login, metrics, oidc, register, reset,
    scim, upstream,
};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'";

pub fn build_router(state: Arc<AppState>) -> Router {
    // Endpoints that browsers' JavaScript (single-page apps with PKCE) call directly. No
    // cookies are involved there, so any origin may read the answers.
    let api_cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let api = Router::new()
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/jwks", get(oidc::jwks))
        .route("/token", post(oidc::token))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/revoke", post(oidc::revoke))
        .layer(api_cors);
    let pages = Router::new()
        .route("/authorize", get(oidc::authorize).post(oidc::authorize))
        .route("/login", post(login::login))
        .route("/login/otp", post(login::second_factor))
        .route("/login/otp/passkey-options", post(login::passkey_factor_options))
        .route("/login/passkey", post(login::passkey_login))
        .route("/login/passkey/options", post(login::passkey_login_options))
        .route("/consent", post(login::consent))
        .route("/logout", get(oidc::logout).post(oidc::logout))
        .route("/logout/confirm", post(oidc::logout_confirm))
        .route("/introspect", post(oidc::introspect))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", any(metrics::scrape))
        .route("/static/{name}", get(health::static_file))
        .route("/register", get(register::form).post(register::submit))
        .route("/register/confirm/{token}", get(register::confirm_form).post(register::confirm))
        .route("/account", get(account::overview))
        .route("/account/password", get(account::password_form).post(account::password_change))
        .route("/account/totp", get(account::totp_form).post(account::totp_confirm))
        .route("/account/totp/remove", get(account::totp_remove_form).post(account::totp_remove))
        .route("/account/recovery", get(account::recovery_form).post(account::recovery_new))
        .route("/account/enrol", post(account::enrol_redeem))
        .route("/account/contact", get(contact::contact_form).post(contact::contact_save))
        .route("/verify-email/{token}", get(contact::verify_form).post(contact::verify_submit))
        .route("/enrol/{token}", get(account::enrol_link))
        .route("/reset/{token}", get(reset::reset_form).post(reset::reset_submit))
        .route("/activate/{token}", get(reset::activate_form).post(reset::activate_submit))
        .route("/login/forgot", get(reset::forgot_form).post(reset::forgot))
        .route("/account/passkeys", post(account::passkey_add))
        .route("/account/passkeys/options", post(account::passkey_options))
        .route("/account/passkeys/{id}/remove", get(account::passkey_remove_form).post(account::passkey_remove))
        .route("/account/sessions/{sid}/end", get(account::session_end_form).post(account::session_end))
        .route("/account/certificates", get(account_certs::overview).post(account_certs::submit))
        .route("/account/applications", get(connected::list))
        .route("/account/applications/{client_id}/withdraw", get(connected::withdraw_form).post(connected::withdraw))
        .route("/demo", get(demo::home))
        .route("/demo/start", get(demo::start))
        .route("/demo/callback", get(demo::callback))
        .route("/upstream/{id}/start", post(upstream::start))
        .route("/upstream/{id}/callback", get(upstream::callback))
        .route("/account/upstream/{id}/remove", get(upstream::remove_form).post(upstream::remove));
    let console_pages = Router::new()
        .route("/console", get(console::dashboard))
        .route("/console/login", get(console::login))
        .route("/console/callback", get(console::callback))
        .route("/console/logout", post(console::logout))
        .route("/console/accounts", get(console::accounts))
        .route("/console/accounts/new", get(console::account_new_form).post(console::account_new))
        .route("/console/accounts/{id}", get(console::account))
        .route("/console/accounts/{id}/edit", post(console::account_edit))
        .route("/console/accounts/{id}/roles/add", post(console::account_role_add))
        .route("/console/accounts/{id}/roles/remove", post(console::account_role_remove))
        .route("/console/accounts/{id}/sessions/end", post(console::account_session_end))
        .route("/console/accounts/{id}/status", post(console::account_status))
        .route("/console/accounts/{id}/factor-reset", post(console::account_factor_reset))
        .route("/console/accounts/{id}/enrolment-link", post(console::account_enrolment_link))
        .route("/console/accounts/{id}/reset-link", post(console::account_reset_link))
        .route("/console/accounts/{id}/identity-verification", post(console::account_identity_verification))
        .route("/console/sessions", get(console::sessions))
        .route("/console/certificates", get(console::certificates))
        .route("/console/certificates/signers.csv", get(console::signers_csv))
        .route("/console/verification", get(console::verification).post(console::verification_submit))
        .route("/console/accounts/{id}/certificates", post(console::certificate_bind))
        .route("/console/certificates/{id}/revoke", post(console::certificate_revoke))
        .route("/console/certificates/{id}/approve", post(console::certificate_approve))
        .route("/console/opd", get(console::opd).post(console::opd_create))
        .route("/console/roles", get(console::roles))
        .route("/console/roles/new", post(console::role_create))
        .route("/console/roles/bulk", post(console::roles_bulk))
        .route("/console/applications", get(console::applications))
        .route("/console/applications/{id}", get(console::application))
        .route("/console/applications/{id}/edit", post(console::application_edit))
        .route("/console/applications/{id}/secret", post(console::application_secret))
        .route("/console/applications/{id}/enabled", post(console::application_enabled))
        .route("/console/requests", get(console::requests).post(console::request_submit))
        .route("/console/requests/{id}", get(console::request))
        .route("/console/requests/{id}/decide", post(console::request_decide))
        .route("/console/requests/{id}/credentials", post(console::request_credentials))
        .route("/console/audit", get(console::audit_view))
        .route("/console/audit/export", get(console::audit_export));
    let admin_api = Router::new()
        .route("/admin/api/openapi.json", get(admin::openapi))
        .route("/admin/api/v1/accounts", get(admin::search_accounts).post(admin::create_account))
        .route("/admin/api/v1/accounts/{id}", get(admin::get_account).patch(admin::edit_account))
        .route("/admin/api/v1/accounts/{id}/status", put(admin::set_status))
        .route("/admin/api/v1/accounts/{id}/factor-reset", post(admin::reset_factors))
        .route("/admin/api/v1/accounts/{id}/enrolment-link", post(admin::enrolment_link))
        .route("/admin/api/v1/accounts/{id}/password-reset", post(admin::password_reset))
        .route("/admin/api/v1/accounts/{id}/identity-verification", post(admin::verify_identity))
        .route("/admin/api/v1/accounts/{id}/roles", get(admin::account_roles))
        .route("/admin/api/v1/accounts/{id}/sessions", get(admin::list_sessions))
        .route("/admin/api/v1/accounts/{id}/sessions/{sid}", delete(admin::end_session))
        .route(
            "/admin/api/v1/accounts/{id}/certificates",
            get(admin::account_certificates).post(admin::bind_certificate),
        )
        .route("/admin/api/v1/certificates", get(admin::list_certificates))
        .route("/admin/api/v1/certificates/signers.csv", get(admin::signers_csv))
        .route("/admin/api/v1/certificates/{id}/revocation", post(admin::revoke_certificate))
        .route("/admin/api/v1/certificates/{id}/approval", post(admin::approve_certificate))
        .route("/admin/api/v1/certificate-crls", post(admin::upload_crl))
        .route("/admin/api/v1/certificates/{id}/check", post(admin::check_certificate))
        .route("/admin/api/v1/opd", get(admin::list_opd).post(admin::create_opd))
        .route("/admin/api/v1/roles", get(admin::list_roles).post(admin::create_role))
        .route("/admin/api/v1/role-assignments", post(admin::assign_role).delete(admin::unassign_role))
        .route("/admin/api/v1/role-assignments/bulk", post(admin::bulk_assignments))
        .route("/admin/api/v1/audit", get(admin::list_audit))
        .route("/admin/api/v1/audit/export", get(admin::export_audit))
        .route("/admin/api/v1/app-requests", get(admin::list_requests).post(admin::submit_request))
        .route("/admin/api/v1/app-requests/{id}/decision", post(admin::decide_request))
        .route("/admin/api/v1/app-requests/{id}/credentials", post(admin::fetch_credentials))
        .route("/admin/api/v1/applications", get(admin::list_applications).post(admin::register_application))
        .route("/admin/api/v1/applications/{id}", get(admin::get_application).patch(admin::edit_application))
        .route("/admin/api/v1/applications/{id}/secret", post(admin::rotate_secret))
        .route("/admin/api/v1/applications/{id}/enabled", put(admin::set_enabled))
        .route("/admin/api/v1/applications/{id}/logout-deliveries", get(admin::logout_deliveries));
    let scim_api = Router::new()
        .route("/scim/v2/ServiceProviderConfig", get(scim::service_provider_config).fallback(scim::method_not_allowed))
        .route("/scim/v2/ResourceTypes", get(scim::resource_types).fallback(scim::method_not_allowed))
        .route("/scim/v2/ResourceTypes/{id}", get(scim::resource_type).fallback(scim::method_not_allowed))
        .route("/scim/v2/Schemas", get(scim::schemas).fallback(scim::method_not_allowed))
        .route("/scim/v2/Schemas/{id}", get(scim::schema).fallback(scim::method_not_allowed))
        .route("/scim/v2/Users", get(scim::list_users).post(scim::create_user).fallback(scim::method_not_allowed))
        .route(
            "/scim/v2/Users/{id}",
            get(scim::get_user)
                .put(scim::replace_user)
                .patch(scim::patch_user)
                .delete(scim::delete_user)
                .fallback(scim::method_not_allowed),
        )
        .route("/scim/v2/Groups", get(scim::list_groups).post(scim::create_group).fallback(scim::method_not_allowed))
        .route(
            "/scim/v2/Groups/{id}",
            get(scim::get_group)
                .put(scim::replace_group)
                .patch(scim::patch_group)
                .delete(scim::delete_group)
                .fallback(scim::method_not_allowed),
        )
        .route("/scim/v2", any(scim::not_found))
        .route("/scim/v2/{*rest}", any(scim::not_found));
    let hsts = state.config.secure_cookies().then(|| HeaderValue::from_static("max-age=31536000"));
    let body_limit = state.config.max_body_bytes;
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    let limits = axum::middleware::from_fn_with_state(state.clone(), crate::http::limits::by_address);
    let outage = axum::middleware::from_fn_with_state(state.clone(), crate::http::outage::guard);
    let nul = axum::middleware::from_fn_with_state(state.clone(), crate::http::nul::refuse);
    api.merge(pages)
        .merge(admin_api)
        .merge(console_pages)
        .merge(scim_api)
        .fallback(health::not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(nul)
        // Inside the limiter, which lets requests through when Redis fails.
        .layer(outage)
        .layer(limits)
        // A slow client (or a stuck dependency) holds a connection for at most this long.
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &axum::http::Response<_>| hsts.clone(),
        ))
        .layer(CatchPanicLayer::new())
        // Outside the timeout and panic layers, so their 503s and 500s are timed and counted too.
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(
            // Only the path is logged: queries can carry personal data (login_hint) or state.
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // Always our own id, never the client's: a chosen id would be echoed and logged.
        .layer(SetRequestHeaderLayer::overriding(REQUEST_ID, |_: &Request<_>| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok()
        }))
}

/// The separate metrics listener's routes (`metrics_listen`): `/metrics` and nothing else.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::scrape_private))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// Serves [`metrics_router`] on `listener` until the task is aborted.
pub fn spawn_metrics(state: Arc<AppState>, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, metrics_router(state)).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    })
}

/// Runs the upkeep rounds of `ops::upkeep` once a minute, and the audit-chain verification for
/// the metrics on a task of its own (see `ops::metrics::audit_chain_every`).
pub fn spawn_upkeep(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let verifier = crate::ops::metrics::audit_chain_every(&state).map(|every| {
            let state = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    crate::ops::metrics::verify_audit_chain(&state, state.now()).await;
                }
            })
        });
        // Dropped with this task (aborted at shutdown), the verifier stops too.
        let _stop = verifier.map(AbortOnDrop);
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            n += 1;
            crate::ops::upkeep::round(&state, n, state.now()).await;
        }
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
pub async fn serve(state: Arc<AppState>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    // Bound first: a busy port stops start-up before any worker runs.
    let metrics = match state.config.metrics.listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (setting `metrics_listen`): {e}"))?;
            tracing::info!(bind = %addr, "metrics are served at /metrics");
            Some(spawn_metrics(state.clone(), l))
        }
        None => None,
    };
    let upkeep = spawn_upkeep(state.clone());
    let logout_worker = crate::ops::backchannel::spawn_worker(state.clone());
    let cert_worker = crate::ops::certificates::checks::spawn_worker(state.clone());
    let app = build_router(state.clone());
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    upkeep.abort();
    logout_worker.abort();
    cert_worker.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
