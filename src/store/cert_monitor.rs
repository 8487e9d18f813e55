//! Queries of certificate monitoring: the list by state and OPD subtree (filtered in the query,
//! so a page is never emptied by rows the caller may not see), the notices owed and their
//! webhook leg, the administrators to tell, and the signers per OPD for the CSV.

use super::certs::{HeldCert, HELD, SIGNER_WHERE};
use super::{dispatch, Db, StoreError};

/// Which certificates a monitoring list shows. `$1` is `now` and `$2` the end of the warning
/// window (`now + warn_days`) in every fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertState {
    /// Revoked, expired, expiring or failing checks: what Diskominfo should look at.
    #[default]
    Attention,
    /// In force and ending within the warning window.
    Expiring,
    /// Past its end, not revoked.
    Expired,
    /// Revoked by an administrator or found revoked by the last check.
    Revoked,
    /// The last revocation check failed or the authority did not know the certificate.
    Failing,
    /// Waiting for the holder's proof of possession or a second administrator's approval.
    Pending,
    /// Making its holder a signer now (`SIGNER_WHERE`).
    Signers,
    All,
}

/// Not revoked, by an administrator or by the authority.
const NOT_REVOKED: &str = "c.status = 'active' AND c.check_status <> 'revoked'";

impl CertState {
    pub const ALL: [CertState; 8] = [
        CertState::Attention,
        CertState::Expiring,
        CertState::Expired,
        CertState::Revoked,
        CertState::Failing,
        CertState::Pending,
        CertState::Signers,
        CertState::All,
    ];

    pub fn parse(s: &str) -> Option<CertState> {
        CertState::ALL.into_iter().find(|c| c.as_str() == s.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertState::Attention => "attention",
            CertState::Expiring => "expiring",
            CertState::Expired => "expired",
            CertState::Revoked => "revoked",
            CertState::Failing => "failing",
            CertState::Pending => "pending",
            CertState::Signers => "signers",
            CertState::All => "all",
        }
    }

    /// The condition over `certificates c`, from fixed text only.
    fn condition(self) -> String {
        match self {
            CertState::Attention => "(c.status = 'revoked' OR c.check_status IN ('revoked', 'failed', 'unknown') \
                                     OR c.not_after <= $2)"
                .into(),
            CertState::Expiring => format!("({NOT_REVOKED} AND c.not_after > $1 AND c.not_after <= $2)"),
            CertState::Expired => format!("({NOT_REVOKED} AND c.not_after <= $1)"),
            CertState::Revoked => "(c.status = 'revoked' OR c.check_status = 'revoked')".into(),
            CertState::Failing => {
                format!("({NOT_REVOKED} AND c.not_after > $1 AND c.check_status IN ('failed', 'unknown'))")
            }
            CertState::Pending => "(c.pending <> '')".into(),
            CertState::Signers => format!("({SIGNER_WHERE})"),
            CertState::All => "(1 = 1)".into(),
        }
    }
}

/// `sub`: the unit the placeholder `param` names and every unit below it (as an OPD admin's
/// powers reach); queries pass '' for the whole region and test `(param = '' OR ... IN sub)`.
fn subtree(param: &str) -> String {
    format!(
        "WITH RECURSIVE sub (id, depth) AS ( \
           SELECT id, 0 FROM opd_units WHERE id = {param} \
           UNION ALL \
           SELECT o.id, s.depth + 1 FROM opd_units o JOIN sub s ON o.parent_id = s.id WHERE s.depth < 32) "
    )
}

/// A page of the monitoring list: certificates in `state` whose holders are in the subtree of
/// `unit` (`None`: anywhere, citizens included), soonest expiry first.
pub async fn list(
    db: &Db,
    state: CertState,
    unit: Option<&str>,
    now: i64,
    warn_until: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<HeldCert>, StoreError> {
    let sql = format!(
        "{}SELECT {HELD} FROM certificates c JOIN accounts a ON a.id = c.account_id \
         WHERE {} AND ($3 = '' OR a.opd_id IN (SELECT id FROM sub)) \
         ORDER BY c.not_after, c.id LIMIT $4 OFFSET $5",
        subtree("$3"),
        state.condition()
    );
    let unit = unit.unwrap_or("");
    Ok(dispatch!(db, &sql, [now, warn_until, unit, limit, offset], fetch_all(HeldCert))?)
}

/// The kinds of notice, each sent once per certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Expiring,
    Expired,
    Revoked,
    Failing,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 4] =
        [NoticeKind::Revoked, NoticeKind::Expired, NoticeKind::Expiring, NoticeKind::Failing];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Expiring => "expiring",
            NoticeKind::Expired => "expired",
            NoticeKind::Revoked => "revoked",
            NoticeKind::Failing => "failing",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Which certificates owe this notice, over `certificates c` with `$1` now, `$2` the end of
    /// the warning window and `$3` the oldest event still worth telling (so a first round after
    /// an upgrade does not announce years-old expiries and revocations).
    fn condition(self) -> String {
        // A newer binding of the same holder in force beyond this one: renewed, nothing to say.
        let renewed = "NOT EXISTS (SELECT 1 FROM certificates n WHERE n.account_id = c.account_id AND n.id <> c.id \
                       AND n.status = 'active' AND n.pending = '' AND n.check_status <> 'revoked' \
                       AND n.not_after > c.not_after)";
        match self {
            NoticeKind::Expiring => format!(
                "{NOT_REVOKED} AND c.pending = '' AND c.not_after > $1 AND c.not_after <= $2 AND {renewed}"
            ),
            NoticeKind::Expired => format!(
                "{NOT_REVOKED} AND c.pending = '' AND c.not_after <= $1 AND c.not_after > $3 AND {renewed}"
            ),
            // A revocation of unknown time counts as recent: told late rather than never.
            NoticeKind::Revoked => "((c.status = 'revoked' AND COALESCE(c.revoked_at, $1) > $3) \
                                    OR (c.status = 'active' AND c.check_status = 'revoked' AND COALESCE(c.checked_at, $1) > $3))"
                .into(),
            NoticeKind::Failing => format!(
                "{NOT_REVOKED} AND c.pending = '' AND c.not_after > $1 AND c.check_status IN ('failed', 'unknown')"
            ),
        }
    }
}

/// Certificates that owe a notice of `kind` (none recorded yet), oldest end first.
pub async fn owing_notice(
    db: &Db,
    kind: NoticeKind,
    now: i64,
    warn_until: i64,
    since: i64,
    limit: i64,
) -> Result<Vec<HeldCert>, StoreError> {
    let sql = format!(
        "SELECT {HELD} FROM certificates c JOIN accounts a ON a.id = c.account_id WHERE {} \
         AND NOT EXISTS (SELECT 1 FROM certificate_notices cn WHERE cn.certificate_id = c.id AND cn.kind = $4) \
         ORDER BY c.not_after, c.id LIMIT $5",
        kind.condition()
    );
    Ok(dispatch!(db, &sql, [now, warn_until, since, kind.as_str(), limit], fetch_all(HeldCert))?)
}

/// Takes the notice for this replica: true when this call recorded it (and so must send it),
/// false when another round already had. `webhook`: whether a webhook post is owed.
pub async fn claim_notice(
    db: &Db,
    certificate_id: &str,
    kind: NoticeKind,
    webhook: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let state = if webhook { "due" } else { "" };
    let n = dispatch!(
        db,
        "INSERT INTO certificate_notices (certificate_id, kind, sent_at, webhook, webhook_next_at) \
         VALUES ($1, $2, $3, $4, $3) ON CONFLICT (certificate_id, kind) DO NOTHING",
        [certificate_id, kind.as_str(), now, state],
        execute
    )?;
    Ok(n == 1)
}

/// A failing-check notice is forgotten once the check is good again, so a later failure is told.
pub async fn forget_recovered(db: &Db) -> Result<u64, StoreError> {
    Ok(dispatch!(
        db,
        "DELETE FROM certificate_notices WHERE kind = 'failing' AND certificate_id IN \
         (SELECT id FROM certificates WHERE check_status = 'good')",
        [],
        execute
    )?)
}

/// A notice whose webhook post is owed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueWebhook {
    pub certificate_id: String,
    pub kind: String,
    pub sent_at: i64,
    pub webhook_attempts: i64,
}

pub async fn due_webhooks(db: &Db, now: i64, limit: i64) -> Result<Vec<DueWebhook>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT certificate_id, kind, sent_at, webhook_attempts FROM certificate_notices \
         WHERE webhook = 'due' AND webhook_next_at <= $1 ORDER BY sent_at, certificate_id LIMIT $2",
        [now, limit],
        fetch_all(DueWebhook)
    )?)
}

/// Takes a due webhook post for `lease` seconds: true for the one round that got it.
pub async fn claim_webhook(db: &Db, w: &DueWebhook, now: i64, lease: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE certificate_notices SET webhook_next_at = $1, webhook_attempts = webhook_attempts + 1 \
         WHERE certificate_id = $2 AND kind = $3 AND webhook = 'due' AND webhook_next_at <= $4 AND webhook_attempts = $5",
        [now + lease, &w.certificate_id, &w.kind, now, w.webhook_attempts],
        execute
    )?;
    Ok(n == 1)
}

/// Records the post's outcome: `Ok` sent; `Err(reason)` tried again from `retry_at`, or given
/// up (`failed`) when `give_up`.
pub async fn webhook_done(
    db: &Db,
    w: &DueWebhook,
    outcome: Result<(), String>,
    retry_at: i64,
    give_up: bool,
) -> Result<(), StoreError> {
    let (state, error) = match outcome {
        Ok(()) => ("sent", String::new()),
        Err(e) if give_up => ("failed", e),
        Err(e) => ("due", e),
    };
    dispatch!(
        db,
        "UPDATE certificate_notices SET webhook = $1, webhook_error = $2, webhook_next_at = $3 \
         WHERE certificate_id = $4 AND kind = $5",
        [state, &error, retry_at, &w.certificate_id, &w.kind],
        execute
    )?;
    Ok(())
}

/// One certificate with its holder, for a webhook retried after the round that claimed it.
pub async fn held(db: &Db, id: &str) -> Result<Option<HeldCert>, StoreError> {
    let sql = format!("SELECT {HELD} FROM certificates c JOIN accounts a ON a.id = c.account_id WHERE c.id = $1");
    Ok(dispatch!(db, &sql, [id], fetch_optional(HeldCert))?)
}

/// An administrator to tell about a certificate.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub email: String,
    pub locale: Option<String>,
}

/// Active administrators with a verified address who answer for a holder in `unit`: holders of
/// `diskominfo-admin`, and of `opd-admin` in the unit or a unit above it (whose subtree holds
/// it). Roles count directly or through the administrator's unit or one above, as everywhere.
pub async fn responsible_admins(db: &Db, unit: Option<&str>) -> Result<Vec<Contact>, StoreError> {
    let sql = "WITH RECURSIVE anc (unit, ancestor, depth) AS ( \
                 SELECT id, id, 0 FROM opd_units \
                 UNION ALL \
                 SELECT anc.unit, o.parent_id, anc.depth + 1 FROM anc JOIN opd_units o ON o.id = anc.ancestor \
                 WHERE o.parent_id IS NOT NULL AND anc.depth < 32) \
               SELECT DISTINCT a.id, a.name, a.email, a.locale FROM accounts a \
               JOIN role_assignments ra ON ra.account_id = a.id \
                 OR ra.opd_id IN (SELECT ancestor FROM anc WHERE anc.unit = a.opd_id) \
               JOIN roles r ON r.id = ra.role_id AND r.client_id = '' \
               WHERE a.status = 'active' AND a.email_verified AND a.email IS NOT NULL \
               AND (r.name = 'diskominfo-admin' \
                 OR (r.name = 'opd-admin' AND a.opd_id IN (SELECT ancestor FROM anc WHERE anc.unit = $1))) \
               ORDER BY a.id";
    Ok(dispatch!(db, sql, [unit.unwrap_or("")], fetch_all(Contact))?)
}

/// A signer as the CSV lists them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignerRow {
    pub opd_code: Option<String>,
    pub opd_name: Option<String>,
    pub nip: Option<String>,
    pub nik: Option<String>,
    pub name: String,
    pub subject: String,
    pub serial: String,
    pub issuer: String,
    pub not_after: i64,
    pub check_status: String,
    pub checked_at: Option<i64>,
}

/// Every binding making its holder a signer at `now`, holders in the subtree of `unit` (`None`:
/// the whole region), by OPD and name.
pub async fn signers(db: &Db, unit: Option<&str>, now: i64) -> Result<Vec<SignerRow>, StoreError> {
    let sql = format!(
        "{}SELECT o.code AS opd_code, o.name AS opd_name, a.nip, a.nik, a.name, c.subject, c.serial, c.issuer, \
         c.not_after, c.check_status, c.checked_at \
         FROM certificates c JOIN accounts a ON a.id = c.account_id LEFT JOIN opd_units o ON o.id = a.opd_id \
         WHERE {SIGNER_WHERE} AND ($2 = '' OR a.opd_id IN (SELECT id FROM sub)) \
         ORDER BY o.code, a.name, c.not_after, c.id",
        subtree("$2")
    );
    Ok(dispatch!(db, &sql, [now, unit.unwrap_or("")], fetch_all(SignerRow))?)
}

/// Every binding not revoked by an administrator and not yet expired: what a full re-check asks
/// the authorities about, soonest end first.
pub async fn in_force(db: &Db, now: i64) -> Result<Vec<HeldCert>, StoreError> {
    let sql = format!(
        "SELECT {HELD} FROM certificates c JOIN accounts a ON a.id = c.account_id \
         WHERE c.status = 'active' AND c.not_after > $1 ORDER BY c.not_after, c.id"
    );
    Ok(dispatch!(db, &sql, [now], fetch_all(HeldCert))?)
}
