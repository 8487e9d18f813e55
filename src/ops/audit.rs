//! Reading, exporting and checking the audit trail, and signing checkpoints of its head.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, AuditRow, Event};
use crate::oidc::keys::{Alg, TokenType};
use crate::state::AppState;

/// The kind of the record that keeps a signed checkpoint in the trail itself.
pub const CHECKPOINT: &str = "audit.checkpoint";

/// The claims of a checkpoint: this issuer's audit trail had this head at `iat`.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointClaims {
    iss: String,
    sub: String,
    iat: i64,
    seq: i64,
    hash: String,
}

const CHECKPOINT_SUBJECT: &str = "audit-trail";

/// A signed checkpoint as exported: the JWS is what counts; the other fields repeat its claims
/// for people reading the file.
#[derive(Debug, Serialize)]
pub struct SignedCheckpoint {
    pub issuer: String,
    pub seq: i64,
    pub hash: String,
    pub signed_at: i64,
    pub kid: String,
    pub checkpoint: String,
}

pub async fn audit_events(st: &AppState, who: &Principal, filter: &audit::Filter) -> Result<Vec<AuditRow>, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("reading the audit trail needs diskominfo-admin or auditor"));
    }
    Ok(audit::search(&st.db, filter).await?)
}

/// CSV of the trail between two instants, for the region's SPBE reporting; the export itself is
/// recorded.
pub async fn export_audit(
    st: &AppState,
    who: &Principal,
    since: i64,
    until: i64,
    now: i64,
) -> Result<String, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("exporting the audit trail needs diskominfo-admin or auditor"));
    }
    if until <= since {
        return Err(AdminError::Invalid("until: must be after since".into()));
    }
    let rows = audit::range(&st.db, since, until).await?;
    let detail = json!({ "since": since, "until": until, "records": rows.len() });
    audit::record(&st.db, Event::new("audit.exported").actor(&who.actor()).detail(detail), now).await;
    Ok(audit::to_csv(&rows))
}

/// Checks the chain of the whole trail and, given an exported checkpoint (the file's text: the
/// JSON `checkpoint` prints, or the bare JWS), that the trail still holds what it vouches for.
pub async fn verify_audit(
    st: &AppState,
    who: &Principal,
    checkpoint: Option<&str>,
) -> Result<audit::Verification, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("checking the audit trail needs diskominfo-admin or auditor"));
    }
    let checkpoint = match checkpoint {
        Some(text) => Some(read_checkpoint(st, text).await?),
        None => None,
    };
    Ok(audit::verify_against(&st.db, checkpoint.as_ref()).await?)
}

async fn read_checkpoint(st: &AppState, text: &str) -> Result<audit::Checkpoint, AdminError> {
    let text = text.trim();
    let jws = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v.get("checkpoint").and_then(|c| c.as_str()).map(str::to_string),
        Err(_) => Some(text.to_string()),
    }
    .ok_or_else(|| AdminError::Invalid("checkpoint: the file holds no `checkpoint` field".into()))?;
    let (kid, c) = st
        .keys
        .verify_archived::<CheckpointClaims>(&st.db, &jws, TokenType::AuditCheckpoint, &st.config.issuer)
        .await
        .map_err(|e| AdminError::Invalid(format!("checkpoint: not a valid checkpoint of this issuer's trail ({e})")))?;
    if c.sub != CHECKPOINT_SUBJECT {
        return Err(AdminError::Invalid("checkpoint: not a checkpoint of the audit trail".into()));
    }
    Ok(audit::Checkpoint { seq: c.seq, hash: c.hash, at: c.iat, kid })
}

/// Signs the trail's current head as a checkpoint, records it in the trail and returns it for
/// export: kept away from the server, it later shows whether the trail still holds that head.
pub async fn checkpoint(st: &AppState, who: &Principal, now: i64) -> Result<SignedCheckpoint, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("signing a checkpoint of the audit trail needs diskominfo-admin or auditor"));
    }
    write_checkpoint(st, &who.actor(), now).await
}

/// The upkeep's checkpoint, unless the newest record is already one (nothing happened since).
pub(super) async fn routine_checkpoint(st: &AppState, now: i64) -> Result<Option<SignedCheckpoint>, AdminError> {
    let newest = audit::list(&st.db, 1, None).await?;
    if newest.first().is_some_and(|r| r.kind == CHECKPOINT) {
        return Ok(None);
    }
    Ok(Some(write_checkpoint(st, "", now).await?))
}

async fn write_checkpoint(st: &AppState, actor: &str, now: i64) -> Result<SignedCheckpoint, AdminError> {
    let Some((seq, hash)) = audit::head(&st.db).await? else {
        return Err(AdminError::Conflict(
            "the audit trail's head is damaged; `gerbang audit verify` says how, and no checkpoint vouches for it"
                .into(),
        ));
    };
    let claims =
        CheckpointClaims { iss: st.config.issuer.clone(), sub: CHECKPOINT_SUBJECT.into(), iat: now, seq, hash };
    let token = st.keys.sign(Alg::RS256, TokenType::AuditCheckpoint, &claims).map_err(internal)?;
    let kid = jsonwebtoken::decode_header(&token).ok().and_then(|h| h.kid).unwrap_or_default();
    let detail = json!({ "seq": seq, "hash": claims.hash, "kid": kid, "checkpoint": token });
    audit::append(&st.db, Event::new(CHECKPOINT).actor(actor).detail(detail), now).await?;
    Ok(SignedCheckpoint { issuer: claims.iss, seq, hash: claims.hash, signed_at: now, kid, checkpoint: token })
}

/// The latest records, newest first, optionally only those about one account.
pub async fn latest_events(
    st: &AppState,
    who: &Principal,
    limit: i64,
    subject: Option<&str>,
) -> Result<Vec<AuditRow>, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("reading the audit trail needs diskominfo-admin or auditor"));
    }
    Ok(audit::list(&st.db, limit, subject).await?)
}

/// The records between two instants, oldest first, for an export in any format (the command
/// line's CSV or JSON); the export is recorded as with `export_audit`.
pub async fn export_records(
    st: &AppState,
    who: &Principal,
    since: i64,
    until: i64,
    now: i64,
) -> Result<Vec<AuditRow>, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("exporting the audit trail needs diskominfo-admin or auditor"));
    }
    // An empty range is an empty export, as the command line has always answered.
    let rows = audit::range(&st.db, since, until).await?;
    let detail = json!({ "since": since, "until": until, "records": rows.len() });
    audit::record(&st.db, Event::new("audit.exported").actor(&who.actor()).detail(detail), now).await;
    Ok(rows)
}
