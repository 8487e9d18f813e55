//! "Forgot password" against mail bombing and against the help desk's links: the mails one
//! account receives are limited per account, whichever of its identifiers is typed (a civil
//! servant has a NIP and a NIK), with the same answer for every identifier; and a request, which
//! anyone who knows a NIP or NIK can make, never closes a link the help desk handed out.

use std::time::Duration;

use gerbang::config::Secret;
use gerbang::identity::accounts::{self, NewAccount};
use gerbang::ops::reset::Delivery;
use gerbang::ops::{Operator, Principal};
use gerbang::state::now;

use crate::common::*;
use crate::mailbox::{mailbox, smtp_settings};
use crate::reset::{follow, forgot, logs_in, open, verified};

const NEW_PASSWORD: &str = "tautan-baru-rahasia-77";
const THIRD_PASSWORD: &str = "serahan-helpdesk-rahasia-88";

async fn spawn() -> TestApp {
    let settings = smtp_settings();
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_with(&pairs).await
}

/// A civil servant with both a NIP and a NIK: (NIP, NIK, account id).
async fn with_two_identifiers(app: &TestApp) -> (String, String, String) {
    let (nip, nik) = (unique_nip(), unique_nik());
    let new = NewAccount {
        nip: Some(nip.clone()),
        nik: Some(nik.clone()),
        name: "Dua Pengenal".into(),
        password: Some(Secret::new(PASSWORD.into())),
        is_admin: false,
    };
    let st = &app.state;
    let id = accounts::create(&st.db, &st.hasher, new, now()).await.unwrap().0.id;
    (nip, nik, id)
}

/// A reset link the help desk hands over in person (shown once, not mailed).
async fn help_desk_link(app: &TestApp, id: &str) -> String {
    let op = Principal::Operator(Operator::local());
    let account = op.parse_account_id(id).unwrap();
    let link = gerbang::ops::reset::issue(&app.state, &op, &account, Some(Delivery::Link), now()).await.unwrap();
    link.url.expect("a link to hand over")
}

#[tokio::test]
async fn typing_each_identifier_in_turn_mails_an_account_no_more_than_its_hourly_limit() {
    let app = spawn().await;
    let (nip, nik, id) = with_two_identifiers(&app).await;
    let address = verified(&app, &id).await;
    let unknown = forgot(&app, &unique_nip()).await;
    assert_eq!(unknown.0, 200);
    // The NIP, the NIK, and the NIP as printed on a card: one account, one budget.
    let spaced = format!("{} {} {} {}", &nip[..8], &nip[8..14], &nip[14..15], &nip[15..]);
    for typed in [&nip, &nik, &spaced, &nik, &nip, &nik] {
        assert_eq!(forgot(&app, typed).await, unknown, "the same answer for every identifier");
    }
    let limit = gerbang::ops::forgot::PER_ACCOUNT as usize;
    mailbox().wait_for(&address, limit).await;
    let mails = mailbox().after(&address, Duration::from_millis(700)).await;
    assert_eq!(mails.len(), limit, "{limit} mails an hour to one account, not {limit} per identifier");
    // The next hour the account is mailed again, whichever identifier is typed.
    app.advance(3601);
    assert_eq!(forgot(&app, &nik).await, unknown);
    mailbox().wait_for(&address, limit + 1).await;
}

#[tokio::test]
async fn a_forgot_password_request_leaves_the_help_desks_link_open() {
    let app = spawn().await;
    let (nip, nik, id) = with_two_identifiers(&app).await;
    let address = verified(&app, &id).await;
    let handed_over = help_desk_link(&app, &id).await;

    // Someone who knows the NIK asks for links, twice: each is mailed to the person's address.
    forgot(&app, &nik).await;
    let first = mailbox().wait_for(&address, 1).await[0].link(&app.url("/reset/")).expect("a reset link");
    forgot(&app, &nip).await;
    let second = mailbox().wait_for(&address, 2).await[1].link(&app.url("/reset/")).expect("a reset link");
    assert_ne!(first, second);
    assert_eq!(open(&browser(), &first).await.0, 410, "a requested link replaces the one requested before");
    assert_eq!(open(&browser(), &second).await.0, 200);
    assert_eq!(open(&browser(), &handed_over).await.0, 200, "the help desk's link stays open");

    // The help desk's newest link replaces every earlier one, its own and the requested ones.
    let newest = help_desk_link(&app, &id).await;
    assert_eq!(open(&browser(), &handed_over).await.0, 410);
    assert_eq!(open(&browser(), &second).await.0, 410);
    assert_eq!(follow(&browser(), &newest, NEW_PASSWORD, NEW_PASSWORD).await.0, 200);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await);

    // And the person can still set their password with a handed-over link after a request.
    let handed_over = help_desk_link(&app, &id).await;
    forgot(&app, &nik).await;
    // The notice of the password change, then the third requested link.
    let mails = mailbox().wait_for(&address, 4).await;
    let requested = mails
        .iter()
        .filter_map(|m| m.link(&app.url("/reset/")))
        .find(|l| *l != first && *l != second)
        .expect("the third requested link");
    assert_eq!(follow(&browser(), &handed_over, THIRD_PASSWORD, THIRD_PASSWORD).await.0, 200);
    assert!(logs_in(&app, &nip, THIRD_PASSWORD).await);
    assert_eq!(open(&browser(), &requested).await.0, 410, "a password set closes every link");
}

/// A password set through a link closes the account's other password links in the same
/// transaction: where they cannot be closed, nothing changes (never the new password with a
/// requested link still able to set another).
#[tokio::test]
async fn a_password_set_through_a_link_closes_the_other_links_or_changes_nothing() {
    let app = spawn().await;
    let (nip, nik, id) = with_two_identifiers(&app).await;
    let address = verified(&app, &id).await;
    let handed_over = help_desk_link(&app, &id).await;
    forgot(&app, &nik).await;
    let requested = mailbox().wait_for(&address, 1).await[0].link(&app.url("/reset/")).expect("a reset link");

    // The database refuses to close the requested link (a stand-in for a failure at that step).
    match &app.state.db {
        gerbang::store::Db::Sqlite(p) => {
            let sql = "CREATE TRIGGER t_keep BEFORE UPDATE OF used_at ON action_links \
                 WHEN OLD.issued_by = 'self' AND NEW.used_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'kept'); END";
            sqlx::query(sql).execute(p).await.unwrap();
        }
        gerbang::store::Db::Postgres(p) => {
            let sql = "CREATE FUNCTION keep_link() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'kept'; END $$ \
                 LANGUAGE plpgsql; CREATE TRIGGER t_keep BEFORE UPDATE OF used_at ON action_links FOR EACH ROW \
                 WHEN (OLD.issued_by = 'self' AND NEW.used_at IS NOT NULL) EXECUTE FUNCTION keep_link()";
            sqlx::raw_sql(sql).execute(p).await.unwrap();
        }
    }
    let (status, _) = follow(&browser(), &handed_over, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 500, "the change failed as a whole");
    assert!(logs_in(&app, &nip, PASSWORD).await, "the old password stands");
    assert!(!logs_in(&app, &nip, NEW_PASSWORD).await);
    assert_eq!(open(&browser(), &handed_over).await.0, 200, "the help desk's link is given back");
    assert_eq!(open(&browser(), &requested).await.0, 200);
}
