//! Replacements and removals run at the same moment, on the database itself: SQLite runs writing
//! transactions one at a time, PostgreSQL (READ COMMITTED) lets them interleave, so these guard
//! the PostgreSQL run. Each race is run for several rounds; before the row locks, each failed on
//! PostgreSQL within a few rounds.

use gerbang::identity::roles::{self, Holder};
use gerbang::oidc::clients::GrantType;
use gerbang::state::now;
use gerbang::store::grants::GrantRow;
use gerbang::store::links::{ActionLinkRow, Replaces::Every};
use gerbang::store::Db;

use crate::common::*;

const ROUNDS: usize = 12;

async fn count(db: &Db, sql: &str, id: &str) -> i64 {
    let row: (i64,) = match db {
        Db::Sqlite(p) => sqlx::query_as(sql).bind(id).fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_as(sql).bind(id).fetch_one(p).await,
    }
    .expect("count");
    row.0
}

/// A person holds a role twice, directly and through their unit; both are removed at the same
/// moment. Each removal checks whether the person still holds the role another way: on
/// PostgreSQL each still saw the other's assignment, and neither revoked the tokens carrying it.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_removed_two_ways_at_once_takes_the_tokens_with_it() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    for round in 0..ROUNDS {
        let code = format!("9.{}.{round}", uuid::Uuid::new_v4().simple().to_string().get(..6).unwrap_or("x"));
        let unit = opd_unit(&app, &code, None).await;
        let (_, person) = staff(&app, "Pemegang Ganda", Some(&unit), None).await;
        let role = roles::create(db, None, &format!("penyetuju-{round}-{code}"), "", now()).await.unwrap();
        roles::assign(db, &role, &Holder::Account(person.clone()), now()).await.unwrap();
        roles::assign(db, &role, &Holder::Opd(unit.clone()), now()).await.unwrap();
        let grant = GrantRow {
            id: uuid::Uuid::new_v4().to_string(),
            account_id: person.clone(),
            client_id: c.id.clone(),
            scope: "openid roles".into(),
            sid: uuid::Uuid::new_v4().to_string(),
            auth_time: now(),
            acr: "urn:gerbang:loa:1".into(),
            amr: "[\"pwd\"]".into(),
            created_at: now(),
            expires_at: now() + 3600,
            revoked_at: None,
            roles: role.id.clone(),
            rp_sid: None,
        };
        gerbang::store::grants::insert_grant(db, &grant).await.unwrap();
        let (direct, through_unit) = tokio::join!(
            tokio::spawn({
                let (db, role, person) = (db.clone(), role.clone(), person.clone());
                async move { roles::unassign(&db, &role, &Holder::Account(person), now()).await.unwrap() }
            }),
            tokio::spawn({
                let (db, role, unit) = (db.clone(), role.clone(), unit.clone());
                async move { roles::unassign(&db, &role, &Holder::Opd(unit), now()).await.unwrap() }
            }),
        );
        assert_eq!(direct.unwrap() + through_unit.unwrap(), 1, "round {round}: the second removal revokes");
        let live = count(db, "SELECT COUNT(*) FROM grants WHERE id = $1 AND revoked_at IS NULL", &grant.id).await;
        assert_eq!(live, 0, "round {round}: no live grant carries a role the person no longer holds");
    }
}

/// New recovery codes asked for twice at once (a double submit, two tabs): one set survives, not
/// both (on PostgreSQL each replacement's delete missed the other's new codes).
#[tokio::test(flavor = "multi_thread")]
async fn recovery_codes_replaced_twice_at_once_leave_one_set() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    for round in 0..ROUNDS {
        let person = app.asn(&unique_nip(), "Dua Tab").await.id;
        let set = |tag: &str| (0..10).map(|i| format!("{tag}-{round}-{i}")).collect::<Vec<_>>();
        let (a, b) = (set("a"), set("b"));
        let (x, y) = tokio::join!(
            tokio::spawn({
                let (db, person) = (db.clone(), person.clone());
                async move { gerbang::store::factors::replace_recovery_codes(&db, &person, &a, now()).await }
            }),
            tokio::spawn({
                let (db, person) = (db.clone(), person.clone());
                async move { gerbang::store::factors::replace_recovery_codes(&db, &person, &b, now()).await }
            }),
        );
        x.unwrap().unwrap();
        y.unwrap().unwrap();
        let n = gerbang::store::factors::unused_recovery_codes(db, &person).await.unwrap();
        assert_eq!(n, 10, "round {round}: one set of ten");
    }
}

/// Two links of one purpose issued at once for one account: only one stays open ("only the
/// newest link sent works"; on PostgreSQL both did).
#[tokio::test(flavor = "multi_thread")]
async fn links_issued_twice_at_once_leave_one_open() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    for round in 0..ROUNDS {
        let person = app.asn(&unique_nip(), "Dua Tautan").await.id;
        let link = |n: u32| {
            let row = ActionLinkRow {
                id: uuid::Uuid::new_v4().to_string(),
                purpose: "reset".into(),
                account_id: Some(person.clone()),
                target: String::new(),
                issued_by: "uji".into(),
                created_at: now(),
                expires_at: now() + 3600,
                used_at: None,
            };
            let hash = gerbang::crypto::sha256_hex(format!("{}-{n}", row.id).as_bytes());
            (row, hash)
        };
        let ((first, h1), (second, h2)) = (link(1), link(2));
        let (x, y) = tokio::join!(
            tokio::spawn({
                let db = db.clone();
                async move { gerbang::store::links::insert(&db, &first, &h1, Every).await }
            }),
            tokio::spawn({
                let db = db.clone();
                async move { gerbang::store::links::insert(&db, &second, &h2, Every).await }
            }),
        );
        x.unwrap().unwrap();
        y.unwrap().unwrap();
        let open =
            count(db, "SELECT COUNT(*) FROM action_links WHERE account_id = $1 AND used_at IS NULL", &person).await;
        assert_eq!(open, 1, "round {round}: one open link");
    }
}

/// Two Diskominfo administrators taking the role from each other, or suspending each other, at
/// the same moment: one of them succeeds, and the region keeps an administrator.
#[tokio::test]
async fn two_diskominfo_admins_removing_each_other_at_once_leave_one() {
    use gerbang::identity::accounts::{self, AccountError, AccountStatus};
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let (_, a) = staff(&app, "Admin Satu", None, Some("diskominfo-admin")).await;
    let (_, b) = staff(&app, "Admin Dua", None, Some("diskominfo-admin")).await;
    let role = roles::find(db, None, "diskominfo-admin").await.unwrap();
    let holders = || async {
        let mut tx = db.begin().await.unwrap();
        gerbang::store::roles::active_holders_of_global(&mut tx, "diskominfo-admin").await.unwrap()
    };
    assert_eq!(holders().await, 2);

    let (ha, hb) = (Holder::Account(a.clone()), Holder::Account(b.clone()));
    let (x, y) = tokio::join!(roles::unassign(db, &role, &ha, now()), roles::unassign(db, &role, &hb, now()));
    assert_eq!([x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(), 1, "{x:?} {y:?}");
    assert!(matches!(x.err().or(y.err()), Some(roles::RoleError::LastAdmin)));
    assert_eq!(holders().await, 1);

    for id in [&a, &b] {
        let _ = roles::assign(db, &role, &Holder::Account(id.clone()), now()).await;
    }
    assert_eq!(holders().await, 2);
    let (x, y) = tokio::join!(
        accounts::set_status(db, &a, AccountStatus::Suspended, now()),
        accounts::set_status(db, &b, AccountStatus::Suspended, now())
    );
    assert_eq!([x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(), 1, "{x:?} {y:?}");
    assert!(matches!(x.err().or(y.err()), Some(AccountError::LastAdmin)));
    assert_eq!(holders().await, 1);
}
