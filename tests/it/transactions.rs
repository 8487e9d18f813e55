//! Multi-step writes are all or nothing: a database failure injected half-way (a trigger that
//! refuses one account's row) leaves no part of the change behind and no audit record of it.

use gerbang::auth::{recovery, Factors};
use gerbang::identity::roles::{self, Holder};
use gerbang::state::now;
use gerbang::store::grants::{self as grant_store, GrantRow};
use gerbang::store::passkeys::{self as passkey_store, PasskeyRow};
use gerbang::store::{factors as factor_store, roles as role_store, Db};
use serde_json::{json, Value};

use crate::common::*;

const BULK: &str = "/admin/api/v1/role-assignments/bulk";

async fn call(app: &TestApp, token: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let res = http_client().request(method, app.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn internal_error() -> Value {
    json!({
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "the server could not complete the request",
    })
}

async fn run(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Makes the database refuse `op` (INSERT, UPDATE or DELETE) of `table`'s rows belonging to one
/// account, as a full disk or a lost connection would half-way through a change.
pub(crate) async fn refuse(db: &Db, name: &str, op: &str, table: &str, account: &str) {
    let row = if op == "DELETE" { "OLD" } else { "NEW" };
    let sql = match db {
        Db::Sqlite(_) => format!(
            "CREATE TRIGGER {name} BEFORE {op} ON {table} FOR EACH ROW WHEN {row}.account_id = '{account}' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ),
        Db::Postgres(_) => format!(
            "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF {row}.account_id = '{account}' THEN RAISE EXCEPTION 'injected failure'; END IF; \
               IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; \
             END $$; \
             CREATE TRIGGER {name} BEFORE {op} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();"
        ),
    };
    run(db, &sql).await;
}

pub(crate) async fn allow(db: &Db, name: &str, table: &str) {
    let sql = match db {
        Db::Sqlite(_) => format!("DROP TRIGGER {name};"),
        Db::Postgres(_) => format!("DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}();"),
    };
    run(db, &sql).await;
}

async fn direct_roles(db: &Db, account: &str) -> Vec<String> {
    role_store::direct_of_account(db, account).await.unwrap().into_iter().map(|r| r.name).collect()
}

async fn audit_kinds(db: &Db, account: &str) -> Vec<String> {
    gerbang::audit::list(db, 1000, Some(account)).await.unwrap().into_iter().map(|e| e.kind).collect()
}

/// A live grant of the account whose tokens carry the role.
async fn grant_with_role(db: &Db, account: &str, role_id: &str) -> String {
    let t = now();
    let g = GrantRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account.into(),
        client_id: "gerbang-console".into(),
        scope: "openid roles".into(),
        sid: uuid::Uuid::new_v4().to_string(),
        auth_time: t,
        acr: "1".into(),
        amr: "pwd".into(),
        created_at: t,
        expires_at: t + 3600,
        revoked_at: None,
        roles: role_id.into(),
        rp_sid: None,
    };
    grant_store::insert_grant(db, &g).await.unwrap();
    g.id
}

async fn revoked(db: &Db, grant: &str) -> bool {
    grant_store::get_grant(db, grant).await.unwrap().unwrap().revoked_at.is_some()
}

#[tokio::test]
async fn a_bulk_assignment_failing_half_way_leaves_nothing_behind() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let (super_nip, _) = staff(&app, "Admin Diskominfo", None, Some("diskominfo-admin")).await;
    let sup = console_token(&app, &super_nip).await;
    roles::create(db, None, "pelapor", "", now()).await.unwrap();
    let mut people = Vec::new();
    for _ in 0..3 {
        people.push(staff(&app, "Pegawai Uji", None, None).await.1);
    }
    let items: Vec<Value> =
        people.iter().map(|id| json!({ "role": "pelapor", "client_id": null, "account_id": id })).collect();
    let body = json!({ "action": "assign", "assignments": items });

    // The first item is written, the second fails: the first must not stay.
    refuse(db, "refuse_assignment", "INSERT", "role_assignments", &people[1]).await;
    let (s, v) = call(&app, &sup, reqwest::Method::POST, BULK, body.clone()).await;
    assert_eq!((s, v), (500, internal_error()));
    for id in &people {
        assert_eq!(direct_roles(db, id).await, Vec::<String>::new(), "nothing applied");
        assert!(!audit_kinds(db, id).await.contains(&"role.assigned".to_string()), "nothing recorded");
    }

    // The same request goes through once the database accepts it again.
    allow(db, "refuse_assignment", "role_assignments").await;
    let (s, v) = call(&app, &sup, reqwest::Method::POST, BULK, body).await;
    assert_eq!((s, v), (200, json!({ "changed": 3, "unchanged": 0, "revoked_grants": 0 })));
    for id in &people {
        assert_eq!(direct_roles(db, id).await, vec!["pelapor".to_string()]);
        assert_eq!(audit_kinds(db, id).await, vec!["role.assigned".to_string()]);
    }
}

#[tokio::test]
async fn a_role_or_status_change_whose_revocation_fails_changes_nothing() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let (super_nip, _) = staff(&app, "Admin Diskominfo", None, Some("diskominfo-admin")).await;
    let sup = console_token(&app, &super_nip).await;
    let role = roles::create(db, None, "pelapor", "", now()).await.unwrap();
    let (_, id) = staff(&app, "Pegawai Uji", None, None).await;
    roles::assign(db, &role, &Holder::Account(id.clone()), now()).await.unwrap();
    let grant = grant_with_role(db, &id, &role.id).await;
    let assignment = json!({ "role": "pelapor", "client_id": null, "account_id": id });
    let status = format!("/admin/api/v1/accounts/{id}/status");

    refuse(db, "refuse_revocation", "UPDATE", "grants", &id).await;
    let (s, v) = call(&app, &sup, reqwest::Method::DELETE, "/admin/api/v1/role-assignments", assignment.clone()).await;
    assert_eq!((s, v), (500, internal_error()));
    assert_eq!(direct_roles(db, &id).await, vec!["pelapor".to_string()], "the role stays with its tokens");
    let (s, v) = call(&app, &sup, reqwest::Method::PUT, &status, json!({ "status": "suspended" })).await;
    assert_eq!((s, v), (500, internal_error()));
    let a = gerbang::identity::accounts::get(db, &id).await.unwrap().unwrap();
    assert_eq!(a.status.as_str(), "active", "the status stays with its tokens");
    assert!(!revoked(db, &grant).await);
    assert_eq!(audit_kinds(db, &id).await, Vec::<String>::new());

    allow(db, "refuse_revocation", "grants").await;
    let (s, _) = call(&app, &sup, reqwest::Method::DELETE, "/admin/api/v1/role-assignments", assignment).await;
    assert_eq!(s, 204);
    assert_eq!(direct_roles(db, &id).await, Vec::<String>::new());
    assert!(revoked(db, &grant).await, "the grant that carried the role is revoked with it");
    let (s, v) = call(&app, &sup, reqwest::Method::PUT, &status, json!({ "status": "suspended" })).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("suspended")), "{v}");
    assert_eq!(audit_kinds(db, &id).await, vec!["account.status_changed".to_string(), "role.unassigned".to_string()]);
}

#[tokio::test]
async fn a_factor_reset_failing_half_way_keeps_every_factor() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let (super_nip, _) = staff(&app, "Admin Diskominfo", None, Some("diskominfo-admin")).await;
    let sup = console_token(&app, &super_nip).await;
    let (_, id) = staff(&app, "Pegawai Uji", None, None).await;
    assert!(factor_store::put_pending_totp(db, &id, b"sealed-secret", now()).await.unwrap());
    assert!(factor_store::confirm_totp(db, &id, b"sealed-secret", 1).await.unwrap());
    let key = PasskeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: id.clone(),
        cred_id: format!("cred-{}", uuid::Uuid::new_v4().simple()),
        name: "Kunci keamanan".into(),
        credential: "{}".into(),
        created_at: now(),
        last_used_at: None,
        enrolled_via: None,
        enrolled_level: None,
    };
    passkey_store::insert(db, &key).await.unwrap();
    recovery::generate(db, &app.state.recovery, &id, now()).await.unwrap();
    let reset = format!("/admin/api/v1/accounts/{id}/factor-reset");

    // The authenticator and the recovery codes go first; the passkeys' removal then fails.
    refuse(db, "refuse_passkey_removal", "DELETE", "passkeys", &id).await;
    let (s, v) = call(&app, &sup, reqwest::Method::POST, &reset, Value::Null).await;
    assert_eq!((s, v), (500, internal_error()));
    assert_eq!(Factors::of(db, &id).await.unwrap(), Factors { totp: true, passkeys: true });
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), recovery::COUNT as i64);
    assert_eq!(audit_kinds(db, &id).await, Vec::<String>::new());

    allow(db, "refuse_passkey_removal", "passkeys").await;
    let (s, v) = call(&app, &sup, reqwest::Method::POST, &reset, Value::Null).await;
    assert_eq!((s, v), (200, json!({ "sessions_ended": 0 })));
    assert_eq!(Factors::of(db, &id).await.unwrap(), Factors::default());
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), 0);
    assert_eq!(audit_kinds(db, &id).await, vec!["account.factors_reset".to_string()]);
}
