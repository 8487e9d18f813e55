//! What checking a person's access token reads, in one statement: the grant it was issued under,
//! the grant's account, whether the token itself was revoked, the roles assigned to the account
//! itself and whether it may hold a signer binding. Userinfo and introspection ask this on every
//! request, so it is one round trip instead of up to six; nothing in it is cached, so a
//! revocation, a logout or a suspension counts at the very next request. Also the whole-table
//! reads behind `identity::directory`.

use super::accounts::AccountRow;
use super::certs::SIGNER_WHERE;
use super::grants::GrantRow;
use super::{dispatch, Db, Exec, StoreError};

/// The grant, its account (`None` when the account is gone) and the token's own revocation.
#[derive(Debug, Clone)]
pub struct LiveGrant {
    pub grant: GrantRow,
    pub account: Option<AccountRow>,
    pub jti_revoked: bool,
    /// Ids of the roles assigned to the account itself (not through its unit).
    pub direct_roles: Vec<String>,
    /// The account has a certificate binding that makes it a signer at `now` unless its
    /// revocation answer is stale; false means it is certainly no signer.
    pub signer_candidate: bool,
}

/// The account's columns under an `a_` prefix, so they cannot clash with the grant's.
#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    grant: GrantRow,
    jti_revoked: bool,
    direct_roles: Option<String>,
    signer_candidate: bool,
    a_id: Option<String>,
    a_kind: Option<String>,
    a_nip: Option<String>,
    a_nik: Option<String>,
    a_name: Option<String>,
    a_is_admin: Option<bool>,
    a_status: Option<String>,
    a_created_at: Option<i64>,
    a_updated_at: Option<i64>,
    a_opd_id: Option<String>,
    a_profile: Option<String>,
    a_email: Option<String>,
    a_email_verified: Option<bool>,
    a_phone_number: Option<String>,
    a_locale: Option<String>,
}

/// `$1` is now (as `SIGNER_WHERE` wants it), `$2` the grant, `$3` the token's id; `{agg}` the
/// dialect's string aggregate.
const SQL: &str = "SELECT g.id, g.account_id, g.client_id, g.scope, g.sid, g.auth_time, g.acr, g.amr, g.created_at, \
       g.expires_at, g.revoked_at, g.roles, g.rp_sid, \
       EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $3) AS jti_revoked, \
       (SELECT {agg} FROM role_assignments ra WHERE ra.account_id = g.account_id) AS direct_roles, \
       EXISTS (SELECT 1 FROM certificates c WHERE c.account_id = g.account_id AND {signer}) AS signer_candidate, \
       a.id AS a_id, a.kind AS a_kind, a.nip AS a_nip, a.nik AS a_nik, a.name AS a_name, \
       a.is_admin AS a_is_admin, a.status AS a_status, \
       a.created_at AS a_created_at, a.updated_at AS a_updated_at, a.opd_id AS a_opd_id, a.profile AS a_profile, \
       a.email AS a_email, a.email_verified AS a_email_verified, a.phone_number AS a_phone_number, \
       a.locale AS a_locale \
     FROM grants g LEFT JOIN accounts a ON a.id = g.account_id WHERE g.id = $2";

/// For introspection, which needs neither the roles nor the signer binding: the statement without
/// those two sub-queries (`$1` the grant, `$2` the token's id).
fn light(sql: &str, db: &Db) -> String {
    let none = if matches!(db, Db::Sqlite(_)) { "0" } else { "false" };
    let start = sql.find("(SELECT {agg}").unwrap_or(0);
    let end = sql.find("AS signer_candidate").unwrap_or(0);
    let mut out = sql.to_string();
    if start < end {
        out.replace_range(start..end, &format!("NULL AS direct_roles, {none} "));
    }
    out.replace("$2", "$1").replace("$3", "$2")
}

fn sql(db: &Db, full: bool) -> &'static str {
    use std::sync::OnceLock;
    static CELLS: [OnceLock<String>; 4] = [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let (i, agg) = match db {
        Db::Sqlite(_) => (0, "group_concat(ra.role_id, ' ')"),
        Db::Postgres(_) => (2, "string_agg(ra.role_id, ' ')"),
    };
    let i = i + usize::from(!full);
    CELLS[i].get_or_init(|| {
        let sql = if full { SQL.to_string() } else { light(SQL, db) };
        sql.replace("{agg}", agg).replace("{signer}", SIGNER_WHERE)
    })
}

/// The grant `grant_id` with its account, and whether the token `jti` was revoked; `None` when
/// there is no such grant. Without `full` (introspection) the account's own roles are left empty
/// and `signer_candidate` false, unread.
pub async fn live_grant(
    db: &Db,
    grant_id: &str,
    jti: &str,
    now: i64,
    full: bool,
) -> Result<Option<LiveGrant>, StoreError> {
    live_grant_on(db.into(), db, grant_id, jti, now, full).await
}

/// [`live_grant`] run on `on` (a connection of `db`'s, see [`super::hot`]).
pub(super) async fn live_grant_on(
    on: Exec<'_>,
    db: &Db,
    grant_id: &str,
    jti: &str,
    now: i64,
    full: bool,
) -> Result<Option<LiveGrant>, StoreError> {
    let found = if full {
        dispatch!(on, sql(db, true), [now, grant_id, jti], fetch_optional(Row))?
    } else {
        dispatch!(on, sql(db, false), [grant_id, jti], fetch_optional(Row))?
    };
    Ok(found.map(into_live))
}

/// A refresh token to spend and the one that replaces it.
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    /// Hash of the presented token.
    pub spent: &'a str,
    pub client_id: &'a str,
    /// Hash of its successor.
    pub next: &'a str,
    /// When the successor expires, unless its grant ends sooner.
    pub next_expires_at: i64,
}

/// Spends a refresh token (unused, unexpired, of this client, under a live grant) and stores its
/// successor under the same grant, returning the grant as [`live_grant`] does with `full`; `None`
/// when the token could not be spent (nothing is written then). Of two requests racing with one
/// token, exactly one gets `Some`.
///
/// Refresh is the hottest write path, so on PostgreSQL the three steps are one statement (one
/// round trip, one commit) with data-modifying CTEs; SQLite has none, so there they are three
/// statements.
pub async fn rotate_refresh(db: &Db, r: Rotation<'_>, now: i64) -> Result<Option<LiveGrant>, StoreError> {
    match db {
        Db::Postgres(_) => {
            let found = dispatch!(
                db,
                rotate_sql(),
                [now, r.spent, r.client_id, r.next, r.next_expires_at],
                fetch_optional(Row)
            )?;
            Ok(found.map(into_live))
        }
        Db::Sqlite(_) => {
            // Not one transaction: it would hold SQLite's only write lock across three trips to
            // the database thread, and concurrent refreshes would queue on it (p99 ×6 in the
            // bench). A failure after the spend leaves the token spent with no successor, so the
            // application signs the person in again; nothing is handed out twice.
            let spent = dispatch!(db, SPEND, [now, r.spent, r.client_id], fetch_optional((String,)))?;
            let Some((grant_id,)) = spent else { return Ok(None) };
            dispatch!(
                db,
                "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, used_at) \
                 SELECT $1, id, $2, MIN($3, expires_at), NULL FROM grants WHERE id = $4",
                [r.next, now, r.next_expires_at, &grant_id],
                execute
            )?;
            let found = dispatch!(db, sql(db, true), [now, &grant_id, ""], fetch_optional(Row))?;
            Ok(found.map(into_live))
        }
    }
}

/// Takes back a rotation whose response was never sent (a failure after the spend): the
/// successor is deleted and the presented token is live again, so the client's retry is served
/// rather than taken for reuse. Only the spend made at `now` is undone; a grant revoked in
/// between (a real reuse raced it) stays revoked.
pub async fn undo_rotation(db: &Db, r: Rotation<'_>, now: i64) -> Result<(), StoreError> {
    dispatch!(db, "DELETE FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NULL", [r.next], execute)?;
    dispatch!(
        db,
        "UPDATE refresh_tokens SET used_at = NULL WHERE token_hash = $1 AND used_at = $2",
        [r.spent, now],
        execute
    )?;
    Ok(())
}

/// Spends token `$2` of client `$3` at `$1`, returning its grant. `None` leaves the reason to
/// `grants::get_refresh` and `get_grant` (unknown, another client's, revoked, expired, or already
/// used: reuse).
const SPEND: &str = "UPDATE refresh_tokens SET used_at = $1 \
     WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 AND grant_id IN \
       (SELECT id FROM grants WHERE client_id = $3 AND revoked_at IS NULL AND expires_at > $1) \
     RETURNING grant_id";

/// PostgreSQL's one-statement rotation: `$1` now, `$2` the spent token's hash, `$3` the client,
/// `$4` the successor's hash, `$5` its expiry. The final SELECT sees the tables as they were
/// before the statement, which is what it needs: the grant and account are not changed by it.
fn rotate_sql() -> &'static str {
    use std::sync::OnceLock;
    static CELL: OnceLock<String> = OnceLock::new();
    CELL.get_or_init(|| {
        let select = SQL
            .replace("{agg}", "string_agg(ra.role_id, ' ')")
            .replace("{signer}", SIGNER_WHERE)
            .replace("WHERE jti = $3", "WHERE false")
            .replace("WHERE g.id = $2", "WHERE g.id IN (SELECT grant_id FROM spent)");
        format!(
            "WITH spent AS ({SPEND}), \
             fresh AS (INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, used_at) \
               SELECT $4, g.id, $1, LEAST($5, g.expires_at), NULL FROM spent JOIN grants g ON g.id = spent.grant_id) \
             {select}"
        )
    })
}

fn into_live(r: Row) -> LiveGrant {
    let account = match (r.a_id, r.a_kind, r.a_name, r.a_status) {
        (Some(id), Some(kind), Some(name), Some(status)) => Some(AccountRow {
            id,
            kind,
            nip: r.a_nip,
            nik: r.a_nik,
            name,
            // Not read: nothing that checks a token needs it.
            password_hash: None,
            is_admin: r.a_is_admin.unwrap_or(false),
            status,
            created_at: r.a_created_at.unwrap_or(0),
            updated_at: r.a_updated_at.unwrap_or(0),
            opd_id: r.a_opd_id,
            profile: r.a_profile.unwrap_or_default(),
            email: r.a_email,
            email_verified: r.a_email_verified.unwrap_or(false),
            phone_number: r.a_phone_number,
            locale: r.a_locale,
        }),
        _ => None,
    };
    let direct_roles = r.direct_roles.unwrap_or_default().split_whitespace().map(String::from).collect();
    LiveGrant {
        grant: r.grant,
        account,
        jti_revoked: r.jti_revoked,
        direct_roles,
        signer_candidate: r.signer_candidate,
    }
}

/// Every (unit, role) pair of roles given to units.
pub async fn unit_role_assignments(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT opd_id, role_id FROM role_assignments WHERE opd_id IS NOT NULL ORDER BY opd_id, role_id",
        [],
        fetch_all((String, String))
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn introspection_reads_neither_roles_nor_certificates() {
        let db = Db::connect("sqlite::memory:", 1).await.expect("db");
        let light = sql(&db, false);
        assert!(!light.contains("role_assignments") && !light.contains("certificates"), "{light}");
        assert!(light.contains("NULL AS direct_roles, 0 AS signer_candidate"), "{light}");
        assert!(light.contains("g.id = $1") && light.contains("jti = $2") && !light.contains("$3"), "{light}");
        let rotate = rotate_sql();
        assert!(rotate.contains("g.id IN (SELECT grant_id FROM spent)") && rotate.contains("WHERE false"), "{rotate}");
        assert!(rotate.contains("string_agg") && !rotate.contains("{") && !rotate.contains("$6"), "{rotate}");
        let full = sql(&db, true);
        assert!(full.contains("group_concat(ra.role_id, ' ')") && full.contains("c.not_before <= $1"), "{full}");
    }
}
