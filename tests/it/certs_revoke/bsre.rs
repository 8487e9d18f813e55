//! The BSrE status connector against a local server speaking its format: issued, revoked,
//! not registered, wrong agency credentials, and a service that does not answer.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::*;
use crate::pki::PersonOpts;
use gerbang::certs::bsre::{self, BsreError, BsreStatus};

const NIK_ISSUED: &str = "3509014203900001";
const NIK_REVOKED: &str = "3509014203900002";
const NIK_UNKNOWN: &str = "3509014203900003";
const NIK_SLOW: &str = "3509014203900004";

async fn bsre_server() -> String {
    let handler = |headers: HeaderMap, Json(body): Json<Value>| async move {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let good = format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "pemda-uji:rahasia")
        );
        if auth != good {
            return (StatusCode::UNAUTHORIZED, Json(json!({ "status_code": 401, "message": "Unauthorized" })));
        }
        let (code, status) = match body["nik"].as_str().unwrap_or("") {
            NIK_ISSUED => (1111, "ISSUE"),
            NIK_REVOKED => (2031, "REVOKE"),
            NIK_SLOW => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                (1111, "ISSUE")
            }
            _ => (1110, "NOT_REGISTERED"),
        };
        (StatusCode::OK, Json(json!({ "status_code": code, "message": format!("status {status}"), "status": status })))
    };
    serve(axum::Router::new().route("/api/v2/user/check/status", axum::routing::post(handler))).await
}

#[tokio::test]
async fn cr_bsre_status_by_nik_refuses_revoked_and_unregistered_holders() {
    let url = bsre_server().await;
    let http = gerbang::state::outbound_http().unwrap();
    let t = Duration::from_millis(800);
    let ask = |nik: &'static str, pass: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move { bsre::check_status(&http, &url, "pemda-uji", pass, nik, t).await }
    };
    assert_eq!(ask(NIK_ISSUED, "rahasia").await.unwrap(), BsreStatus::Issued);
    assert!(ask(NIK_REVOKED, "rahasia").await.unwrap().revokes());
    assert!(
        matches!(ask(NIK_UNKNOWN, "rahasia").await.unwrap(), BsreStatus::Refused { status, .. } if status == "NOT_REGISTERED")
    );
    assert_eq!(ask(NIK_ISSUED, "salah").await.unwrap_err(), BsreError::Unauthorized(401));
    assert!(matches!(ask(NIK_SLOW, "rahasia").await.unwrap_err(), BsreError::Timeout(_)));
    assert_eq!(ask("123", "rahasia").await.unwrap_err(), BsreError::BadNik);

    // At binding (through the operations the binding flow calls).
    let pki = Pki::new();
    let cfg = [
        ("GERBANG_CERTIFICATE_BSRE_URL", url.as_str()),
        ("GERBANG_CERTIFICATE_BSRE_USERNAME", "pemda-uji"),
        ("GERBANG_CERTIFICATE_BSRE_PASSWORD", "rahasia"),
    ];
    let app = app_with(&pki, &cfg).await;
    let now = app.state.now();
    let p = pki.ca.person(PersonOpts::new("Siti"));
    let checked = gerbang::ops::certificates::check_certificate(&app.state, &p.cert_pem, now).unwrap();
    let ok = checks::at_binding(&app.state, &checked, Some(NIK_ISSUED), now).await.unwrap();
    assert!(ok.detail.contains("BSrE: ISSUE"), "{ok:?}");
    let err = checks::at_binding(&app.state, &checked, Some(NIK_REVOKED), now).await.unwrap_err();
    assert!(err.contains("REVOKE"), "{err}");
    let err = checks::at_binding(&app.state, &checked, Some(NIK_UNKNOWN), now).await.unwrap_err();
    assert!(err.contains("NOT_REGISTERED"), "{err}");
    let slow = checks::at_binding(&app.state, &checked, Some(NIK_SLOW), now).await.unwrap();
    assert!(slow.detail.contains("did not answer"), "{slow:?}");
    // No NIK (a civil servant known by NIP only): BSrE is not asked.
    assert!(!checks::at_binding(&app.state, &checked, None, now).await.unwrap().detail.contains("BSrE"));
    // Wrong agency credentials: a failed check, not the holder's refusal.
    let cfg_bad = [
        ("GERBANG_CERTIFICATE_BSRE_URL", url.as_str()),
        ("GERBANG_CERTIFICATE_BSRE_USERNAME", "pemda-uji"),
        ("GERBANG_CERTIFICATE_BSRE_PASSWORD", "salah"),
    ];
    let bad = app_with(&pki, &cfg_bad).await;
    let a = checks::at_binding(&bad.state, &checked, Some(NIK_REVOKED), now).await.unwrap();
    assert!(a.detail.contains("credentials"), "{a:?}");

    // A re-check finds the holder's certificate revoked at BSrE: the signer role goes.
    let holder = app.citizen(NIK_REVOKED, "Siti").await;
    let b = bind(&app, &holder.id, &p).await;
    assert!(is_signer(&app, &holder.id).await);
    let r = checks::check_now(&app.state, b, now).await.unwrap();
    assert_eq!((r.check_status.as_str(), r.check_source.as_str()), ("revoked", "bsre"), "{r:?}");
    assert!(!is_signer(&app, &holder.id).await);
}
