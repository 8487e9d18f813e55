//! What a token or the userinfo endpoint says about a person, decided by the granted scopes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::has_scope;
use crate::identity::accounts::Account;

/// Claims of our JWT access tokens (RFC 9068 profile).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant the token was issued under; revoking the grant revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// Claims about the person released under `scope`; `nip` and `nik` only with their own scopes.
pub fn person_claims(account: &Account, scope: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), account.id.clone().into());
    if has_scope(scope, "profile") {
        m.insert("name".into(), account.name.clone().into());
        m.insert("account_type".into(), account.kind.as_str().into());
    }
    if has_scope(scope, "nip") {
        if let Some(nip) = &account.nip {
            m.insert("nip".into(), nip.clone().into());
        }
    }
    if has_scope(scope, "nik") {
        if let Some(nik) = &account.nik {
            m.insert("nik".into(), nik.clone().into());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::accounts::AccountKind;

    #[test]
    fn identifiers_need_their_own_scope() {
        let a = Account {
            id: "u1".into(),
            kind: AccountKind::Asn,
            nip: Some("198001012006041001".into()),
            nik: Some("3509014101800001".into()),
            name: "Budi".into(),
            is_admin: false,
            status: "active".into(),
        };
        let c = person_claims(&a, "openid");
        assert_eq!(c.len(), 1);
        let c = person_claims(&a, "openid profile nip");
        assert_eq!(c["name"], "Budi");
        assert_eq!(c["account_type"], "asn");
        assert_eq!(c["nip"], "198001012006041001");
        assert!(!c.contains_key("nik"));
    }
}
