//! The BSrE (BSSN) user-status connector: asks whether the person with a NIK holds an issued
//! electronic certificate.
//!
//! Assumed exchange (BSrE's e-sign API v2; its published documentation was not available, so
//! this is the format Gerbang speaks and its tests' local server answers):
//!
//! ```text
//! POST {url}/api/v2/user/check/status
//! Authorization: Basic base64(username:password)      (one account per agency)
//! Content-Type: application/json
//! {"nik": "3509011234560001"}
//!
//! 200 {"status_code": 1111, "message": "...", "status": "ISSUE"}
//! ```
//!
//! `status` `ISSUE` means an issued, usable certificate; anything else (`EXPIRED`, `REVOKE`,
//! `SUSPEND`, `NOT_REGISTERED`, …) is a refusal named by that status. HTTP 401/403 means the
//! agency's credentials were refused, which is a failed check, never the person's fault.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BsreError {
    #[error("the NIK is not 16 digits")]
    BadNik,
    #[error("BSrE could not be reached: {0}")]
    Unreachable(String),
    #[error("BSrE did not answer within {0} ms")]
    Timeout(u128),
    #[error("BSrE refused the agency's credentials (HTTP {0})")]
    Unauthorized(u16),
    #[error("BSrE answered HTTP {0}")]
    Http(u16),
    #[error("BSrE's answer could not be read")]
    Malformed,
}

/// What BSrE says of the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BsreStatus {
    /// `ISSUE`: the person holds an issued certificate.
    Issued,
    /// Any other status, as BSrE named it, with its message.
    Refused { status: String, message: String },
}

impl BsreStatus {
    /// Refusals that mean the certificate may not be used (rather than the person having none
    /// registered at BSrE).
    pub fn revokes(&self) -> bool {
        matches!(self, BsreStatus::Refused { status, .. } if status == "REVOKE" || status == "SUSPEND")
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    message: String,
    status: String,
}

/// Reads BSrE's JSON answer.
pub fn parse(body: &[u8]) -> Result<BsreStatus, BsreError> {
    let a: Answer = serde_json::from_slice(body).map_err(|_| BsreError::Malformed)?;
    let status = a.status.trim().to_ascii_uppercase();
    if status.is_empty() || status.len() > 40 {
        return Err(BsreError::Malformed);
    }
    let message: String = a.message.chars().take(200).collect();
    Ok(if status == "ISSUE" { BsreStatus::Issued } else { BsreStatus::Refused { status, message } })
}

/// Asks BSrE at `base_url` about `nik`, waiting at most `timeout`.
pub async fn check_status(
    http: &reqwest::Client,
    base_url: &str,
    username: &str,
    password: &str,
    nik: &str,
    timeout: Duration,
) -> Result<BsreStatus, BsreError> {
    if nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BsreError::BadNik);
    }
    let url = format!("{}/api/v2/user/check/status", base_url.trim_end_matches('/'));
    let exchange = async {
        let res = http
            .post(url)
            .basic_auth(username, Some(password))
            .timeout(timeout)
            .json(&serde_json::json!({ "nik": nik }))
            .send()
            .await
            .map_err(|e| unreachable(e, timeout))?;
        let code = res.status().as_u16();
        if code == 401 || code == 403 {
            return Err(BsreError::Unauthorized(code));
        }
        if !res.status().is_success() {
            return Err(BsreError::Http(code));
        }
        let body = res.bytes().await.map_err(|e| unreachable(e, timeout))?;
        if body.len() > 64 * 1024 {
            return Err(BsreError::Malformed);
        }
        parse(&body)
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| BsreError::Timeout(timeout.as_millis()))?
}

fn unreachable(e: reqwest::Error, timeout: Duration) -> BsreError {
    if e.is_timeout() {
        BsreError::Timeout(timeout.as_millis())
    } else {
        BsreError::Unreachable(e.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_and_odd_ones_refused() {
        assert_eq!(parse(br#"{"status_code":1111,"message":"ok","status":"ISSUE"}"#).unwrap(), BsreStatus::Issued);
        let r = parse(br#"{"status_code":2021,"message":"Sertifikat dicabut","status":"REVOKE"}"#).unwrap();
        assert!(r.revokes());
        let n = parse(br#"{"status":"not_registered"}"#).unwrap();
        assert_eq!(n, BsreStatus::Refused { status: "NOT_REGISTERED".into(), message: String::new() });
        assert!(!n.revokes());
        for bad in [&b""[..], b"{}", b"[]", br#"{"status":""}"#, br#"{"status":1}"#, b"\xff"] {
            assert_eq!(parse(bad).unwrap_err(), BsreError::Malformed);
        }
    }
}
