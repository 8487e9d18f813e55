//! The checks of one authorization request's parameters (RFC 6749 §4.1.1, RFC 7636, OpenID
//! Connect Core §3.1.2.1 and §5.5.1.1), before any login page is shown.

use std::collections::HashMap;

use super::authorize::AuthRequest;
use super::clients::{Client, GrantType};
use super::{parse_scope, ErrorCode, OAuthError};
use crate::identity::levels;

pub(crate) fn check_request(
    client: &Client,
    map: &HashMap<&str, &str>,
    redirect_uri: &str,
    state: Option<&str>,
) -> Result<AuthRequest, OAuthError> {
    if map.contains_key("request") {
        return Err(OAuthError::new(ErrorCode::RequestNotSupported, "request objects are not supported"));
    }
    if map.contains_key("request_uri") {
        return Err(OAuthError::new(ErrorCode::RequestUriNotSupported, "request_uri is not supported"));
    }
    match map.get("response_type") {
        None => return Err(OAuthError::invalid_request("response_type is missing")),
        Some(&"code") => {}
        Some(_) => {
            return Err(OAuthError::new(ErrorCode::UnsupportedResponseType, "only response_type=code is supported"))
        }
    }
    if let Some(m) = map.get("response_mode") {
        if *m != "query" {
            return Err(OAuthError::invalid_request("only response_mode=query is supported"));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    let requested = parse_scope(map.get("scope").copied().unwrap_or(""))?;
    let granted: Vec<String> = requested.into_iter().filter(|s| client.allows_scope(s)).collect();

    let method = map.get("code_challenge_method").copied();
    let challenge = map.get("code_challenge").copied().filter(|s| !s.is_empty());
    match (challenge, method) {
        (None, Some(_)) => return Err(OAuthError::invalid_request("code_challenge_method without code_challenge")),
        (Some(_), Some(m)) if m != "S256" => {
            return Err(OAuthError::invalid_request("only code_challenge_method=S256 is supported"))
        }
        (Some(_), None) => return Err(OAuthError::invalid_request("code_challenge_method=S256 is required")),
        (Some(c), _) if !is_pkce_value(c) || c.len() != 43 => {
            return Err(OAuthError::invalid_request("code_challenge must be a base64url SHA-256 (43 characters)"))
        }
        (None, None) if client.public => {
            return Err(OAuthError::invalid_request("PKCE (code_challenge with S256) is required for public clients"))
        }
        _ => {}
    }
    let prompt: Vec<String> = map
        .get("prompt")
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    for p in &prompt {
        if !matches!(p.as_str(), "none" | "login" | "consent" | "select_account") {
            return Err(OAuthError::invalid_request(format!("unsupported prompt value `{}`", truncate(p, 32))));
        }
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(OAuthError::invalid_request("prompt=none cannot be combined with other values"));
    }
    let max_age = match map.get("max_age") {
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| OAuthError::invalid_request("max_age must be a non-negative integer"))?,
        ),
        None => None,
    };
    let bounded = |name: &str, max: usize| -> Result<Option<String>, OAuthError> {
        match map.get(name).filter(|s| !s.is_empty()) {
            Some(v) if v.len() > max => Err(OAuthError::invalid_request(format!("{name} is too long"))),
            Some(v) => Ok(Some((*v).to_string())),
            None => Ok(None),
        }
    };
    Ok(AuthRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope: granted.join(" "),
        state: state.map(String::from),
        nonce: bounded("nonce", 512)?,
        code_challenge: challenge.map(String::from),
        prompt,
        max_age,
        login_hint: bounded("login_hint", 64)?,
        ui_locales: bounded("ui_locales", 64)?,
        id_token_hint: bounded("id_token_hint", 4096)?,
        acr_level: requested_level(map)?,
    })
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// RFC 7636 §4.1: unreserved characters only.
pub fn is_pkce_value(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The level a request asks for: `acr_values` (any listed level is acceptable, so the lowest
/// known one counts) and an `acr` request in the `claims` parameter (OIDC Core §5.5.1.1).
fn requested_level(map: &HashMap<&str, &str>) -> Result<u8, OAuthError> {
    let mut level = 0u8;
    if let Some(v) = map.get("acr_values") {
        if let Some(l) = v.split(' ').filter_map(levels::from_acr).min() {
            level = level.max(l);
        }
    }
    if let Some(c) = map.get("claims") {
        let v: serde_json::Value =
            serde_json::from_str(c).map_err(|_| OAuthError::invalid_request("claims is not valid JSON"))?;
        for target in ["id_token", "userinfo"] {
            let Some(acr) = v.get(target).and_then(|t| t.get("acr")) else { continue };
            let mut wanted: Vec<u8> = Vec::new();
            if let Some(one) = acr.get("value").and_then(|x| x.as_str()) {
                wanted.extend(levels::from_acr(one));
            }
            if let Some(many) = acr.get("values").and_then(|x| x.as_array()) {
                wanted.extend(many.iter().filter_map(|x| x.as_str()).filter_map(levels::from_acr));
            }
            if let Some(l) = wanted.into_iter().min() {
                level = level.max(l);
            }
        }
    }
    Ok(level)
}
