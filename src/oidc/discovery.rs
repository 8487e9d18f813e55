//! The OpenID Provider metadata (OpenID Connect Discovery 1.0, RFC 8414), built once.

use serde_json::{json, Value};

use crate::config::Config;

pub const ACR_LEVEL_1: &str = crate::identity::levels::LEVELS[0].acr;

pub fn document(config: &Config) -> Value {
    let i = &config.issuer;
    json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "introspection_endpoint": format!("{i}/introspect"),
        "revocation_endpoint": format!("{i}/revoke"),
        "end_session_endpoint": format!("{i}/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": crate::oidc::USER_SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
                             "security_level", "name", "account_type", "nip", "nik", "opd", "roles", "app_roles",
                             "jabatan", "golongan", "pangkat", "eselon", "jenis_pegawai", "region", "verified",
                             "email", "email_verified", "phone_number", "phone_number_verified", "cert"],
        "acr_values_supported": crate::identity::levels::acr_values(),
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["id", "en"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
    })
}
