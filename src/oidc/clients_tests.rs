//! Unit tests of application registration rules (kept apart so `clients.rs` stays short).
use super::*;

#[test]
fn redirect_uris_stay_inside_the_region() {
    let p = RedirectPolicy {
        domains: vec!["jemberkab.go.id".into(), "*.jemberkab.go.id".into()],
        issuer_host: "sso.jemberkab.go.id".into(),
    };
    assert!(check_redirect_uri("r", "https://jemberkab.go.id/cb", false, &p).is_ok());
    assert!(check_redirect_uri("r", "https://simpeg.jemberkab.go.id/cb", false, &p).is_ok());
    assert!(check_redirect_uri("r", "https://evil-jemberkab.go.id/cb", false, &p).is_err());
    assert!(check_redirect_uri("r", "https://jemberkab.go.id.evil.com/cb", false, &p).is_err());
    assert!(check_redirect_uri("r", "http://simpeg.jemberkab.go.id/cb", false, &p).is_err());
    assert!(check_redirect_uri("r", "http://localhost:3000/cb", false, &p).is_err());
    assert!(check_redirect_uri("r", "http://localhost:3000/cb", true, &p).is_ok());
    assert!(check_redirect_uri("r", "https://simpeg.jemberkab.go.id/cb#x", false, &p).is_err());
    let open = RedirectPolicy { domains: vec![], issuer_host: "x".into() };
    assert!(check_redirect_uri("r", "https://anything.example/cb", false, &open).is_ok());
}

#[test]
fn an_unknown_stored_category_is_damage() {
    let row = |category: &str| ClientRow {
        id: "simpeg".into(),
        name: "SIMPEG".into(),
        secret_hash: None,
        public_client: true,
        first_party: true,
        redirect_uris: "[]".into(),
        post_logout_redirect_uris: "[]".into(),
        scopes: "openid".into(),
        grant_types: "authorization_code".into(),
        token_alg: "RS256".into(),
        created_at: 0,
        updated_at: 0,
        category: category.into(),
        owner_opd_id: None,
        account_types: "asn".into(),
        required_roles: String::new(),
        min_level: 1,
        development: false,
        subject_type: "public".into(),
        disabled: false,
        require_verified: false,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
    };
    assert_eq!(Client::from_row(row("khusus")).unwrap().category, Category::Khusus);
    assert!(matches!(Client::from_row(row("semua")), Err(StoreError::Corrupt(m)) if m.contains("category")));
}
