//! Certificate monitoring (issue 13, item 6): the list by state and OPD filtered in the query,
//! notices sent once per certificate and kind (e-mail and webhook), the signers' CSV, and the
//! `gerbang certificate` command. Bindings are inserted as rows: the binding flows are tested
//! elsewhere, and monitoring reads only the stored facts.

mod cli;
mod list;
mod notices;

use gerbang::store::certs::{self, CertRow};
use gerbang::store::Db;
use serde_json::Value;

use crate::common::*;
use crate::pki::DAY;

/// A binding in force (possession shown, not revoked, checked good) of `account`, ending
/// `days` from the server's `now`; `edit` changes it before it is stored. Returns its id.
pub async fn bind_row(db: &Db, account: &str, now: i64, days: i64, edit: impl FnOnce(&mut CertRow)) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let mut row = CertRow {
        id: id.clone(),
        account_id: account.into(),
        fingerprint: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        subject: format!("CN=Pemegang {}, C=ID", &id[..8]),
        issuer: "CN=BSRE CA DS G1 UJI, O=Badan Siber dan Sandi Negara, C=ID".into(),
        serial: id[..8].to_string(),
        not_before: now - 300 * DAY,
        not_after: now + days * DAY,
        status: "active".into(),
        bound_by: "uji".into(),
        created_at: now - 300 * DAY,
        possession: "signature".into(),
        possession_at: Some(now - 300 * DAY),
        name_match: "name".into(),
        check_status: "good".into(),
        check_source: "crl".into(),
        checked_at: Some(now - 3600),
        ..CertRow::default()
    };
    edit(&mut row);
    certs::insert(db, &row).await.expect("certificate row");
    id
}

pub async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = http_client().get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The ids of a certificate list, in its order.
pub fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// A new OPD unit, below the unit `parent` (an id) when given; returns its id.
pub async fn unit(app: &TestApp, parent: Option<&str>) -> String {
    let parent_code = match parent {
        Some(id) => Some(gerbang::store::opd::get(&app.state.db, id).await.unwrap().expect("parent unit").code),
        None => None,
    };
    opd_unit(app, &format!("U{}", unique_nip()), parent_code.as_deref()).await
}

/// A console page's HTML with `/` unescaped.
pub async fn page(b: &reqwest::Client, url: String) -> String {
    b.get(url).send().await.unwrap().text().await.unwrap().replace("&#x2f;", "/").replace("&amp;", "&")
}

/// Runs a statement on the test database (for facts no operation sets, like a check's answer).
pub async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .expect("statement");
}
