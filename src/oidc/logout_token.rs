//! Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4): a signed statement to one
//! application that a person's session with it ended. Made at each delivery attempt, so a retry
//! never carries a token that expired while the application was unreachable.

use serde::{Deserialize, Serialize};

use super::claims::Subjects;
use super::clients::Client;
use super::keys::{KeyError, Keys, TokenType};

/// The one event a logout token carries (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is accepted: long enough for the POST, short enough that a token
/// caught in transit is of no later use (§2.4 recommends at most two minutes).
pub const LIFETIME: i64 = 120;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogoutClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub events: serde_json::Value,
}

/// The logout token for `client` about `account_id` and, when known, the session `sid` (the
/// provider's own id; the application is told its own pairwise one where it has those). Never
/// a `nonce` (§2.4: that is what tells it apart from an ID token). Signed with the current key
/// of the algorithm the application verifies ID tokens with.
pub fn make(
    keys: &Keys,
    subjects: &Subjects,
    issuer: &str,
    client: &Client,
    account_id: &str,
    sid: Option<&str>,
    now: i64,
) -> Result<String, KeyError> {
    let jti = crate::crypto::random_token(16).map_err(|_| KeyError::Sign)?;
    let claims = LogoutClaims {
        iss: issuer.to_string(),
        aud: client.id.clone(),
        iat: now,
        exp: now + LIFETIME,
        jti,
        sub: subjects.for_client(client, account_id),
        sid: sid.map(|s| subjects.sid_for_client(client, s)),
        events: serde_json::json!({ EVENT: {} }),
    };
    keys.sign(client.token_alg, TokenType::LogoutToken, &claims)
}

/// Attempts made before a delivery is given up and shown to administrators as failed.
pub const MAX_ATTEMPTS: i64 = 8;

/// Seconds before the attempt after `attempts` failed ones: 30 s doubling, at most an hour, so
/// eight attempts span about two hours (an application restarting or briefly down still gets
/// its notice; one gone for a day is reported instead of being tried for ever).
pub fn backoff(attempts: i64) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    30_i64.saturating_mul(1_i64 << doublings).min(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_up_to_an_hour() {
        assert_eq!(backoff(1), 30);
        assert_eq!(backoff(2), 60);
        assert_eq!(backoff(3), 120);
        assert_eq!(backoff(7), 1920);
        assert_eq!(backoff(8), 3600);
        assert_eq!(backoff(100), 3600);
    }
}
