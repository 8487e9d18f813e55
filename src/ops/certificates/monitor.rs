//! Monitoring of bound certificates: notices to holders and administrators (e-mail, webhook)
//! when a certificate is expiring, expired, revoked or failing its checks, and the CSV of
//! signers per OPD. The attention list itself is `super::certificates`.
//!
//! Notices are claimed before they are sent: the round inserts the notice's row with
//! `ON CONFLICT DO NOTHING` and sends only when its insert took, so replicas running the daily
//! check at the same moment send each notice once. E-mail is handed to the relay's own retrying
//! queue; the webhook may fail, so its leg is tracked on the row (`webhook`: `due`, `sent`,
//! `failed`) and posted again by later rounds until it is accepted (at most
//! [`WEBHOOK_ATTEMPTS`] times).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::{monitoring_reach, HeldCert, Reach};
use crate::audit::{self, Event};
use crate::ops::{AdminError, Principal};
use crate::state::AppState;
use crate::store::cert_monitor::{self as store, Contact, NoticeKind, SignerRow};
use crate::store::StoreError;

pub const DAY: i64 = 86_400;
/// Expiries and revocations older than this are not announced (a first round after an upgrade
/// would otherwise tell of every old one).
pub const NOTICE_LOOKBACK_DAYS: i64 = 30;
/// Notices of one kind handled per round; the rest wait for the next.
const BATCH: i64 = 500;
/// How often a webhook post is tried before it is given up (recorded as `failed`).
pub const WEBHOOK_ATTEMPTS: i64 = 10;
/// How long a round holds a webhook post it took, so another replica does not post it too.
const WEBHOOK_LEASE: i64 = 300;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the notices that are due (expiring, expired, revoked, failing checks), each once per
/// certificate and kind, and retries webhook posts owed by earlier rounds; returns how many
/// notices this call sent. Errors are logged: the next round tries again.
pub async fn notify_due(st: &AppState, now: i64) -> usize {
    match notify_round(st, now).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "certificate notices: the round stopped");
            0
        }
    }
}

async fn notify_round(st: &AppState, now: i64) -> Result<usize, StoreError> {
    // A failure notice is forgotten once the check is good again, so a later failure is told.
    store::forget_recovered(&st.db).await?;
    let warn_until = now + st.config.certs.warn_days * DAY;
    let since = now - NOTICE_LOOKBACK_DAYS * DAY;
    let webhook = st.config.certs.webhook_url.is_some();
    let mut admins: HashMap<Option<String>, Vec<Contact>> = HashMap::new();
    let mut sent = 0;
    for kind in NoticeKind::ALL {
        for held in store::owing_notice(&st.db, kind, now, warn_until, since, BATCH).await? {
            if !store::claim_notice(&st.db, &held.cert.id, kind, webhook, now).await? {
                continue; // another replica's round has it
            }
            sent += 1;
            // From here the notice is this round's: a failure only narrows whom it reaches, it
            // never stops the round (the claim cannot be taken back for another try).
            let unit = held.holder_opd_id.clone();
            if !admins.contains_key(&unit) {
                let found = store::responsible_admins(&st.db, unit.as_deref()).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "certificate notice: could not find the administrators to tell");
                    Vec::new()
                });
                admins.insert(unit.clone(), found);
            }
            let recipients = admins.get(&unit).map(Vec::as_slice).unwrap_or_default();
            let mailed = mail(st, &held, kind, recipients, now).await;
            let detail = json!({
                "certificate": held.cert.id, "kind": kind.as_str(), "mailed": mailed, "webhook": webhook,
                "not_after": held.cert.not_after,
            });
            audit::record(
                &st.db,
                Event::new("certificate.notice").actor("system").subject(&held.cert.account_id).detail(detail),
                now,
            )
            .await;
        }
    }
    if webhook {
        post_due_webhooks(st, now).await?;
    }
    Ok(sent)
}

/// Mails the notice to the holder's verified address and to the responsible administrators
/// with one; returns how many messages were handed to the relay.
async fn mail(st: &AppState, held: &HeldCert, kind: NoticeKind, admins: &[Contact], now: i64) -> usize {
    if !st.mailer.configured() {
        return 0;
    }
    let holder = match crate::identity::accounts::get(&st.db, &held.cert.account_id).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "certificate notice: could not read the holder");
            None
        }
    };
    // (address, name, locale, whether it is the holder); an administrator who holds the
    // certificate is told once, as its holder.
    let mut to: Vec<(String, String, Option<String>, bool)> = Vec::new();
    if let Some(h) = &holder {
        if let Some(addr) = h.verified_email() {
            to.push((addr.to_string(), h.name.clone(), h.locale.clone(), true));
        }
    }
    for a in admins {
        if !to.iter().any(|(addr, ..)| addr.eq_ignore_ascii_case(&a.email)) {
            to.push((a.email.clone(), a.name.clone(), a.locale.clone(), false));
        }
    }
    let offset = st.config.utc_offset_minutes;
    let template = format!("cm_notice_{}", kind.as_str());
    let mut mailed = 0;
    for (addr, name, locale, to_holder) in to {
        let locale = locale.unwrap_or_else(|| st.config.default_locale.clone());
        let ctx = minijinja::context! {
            name => name,
            to_holder => to_holder,
            holder => held.holder_name,
            subject => held.cert.subject,
            issuer => held.cert.issuer,
            serial => held.cert.serial,
            not_after => crate::clock::local_time(held.cert.not_after, offset),
            reason => held.cert.revocation_reason,
            check_detail => held.cert.check_detail,
            when => crate::clock::local_time(now, offset),
            issuer_url => st.config.issuer,
        };
        match st.mailer.send(&st.themes, &addr, &locale, &template, ctx) {
            Ok(()) => mailed += 1,
            Err(e) => tracing::warn!(kind = %kind.as_str(), error = %e, "certificate notice not mailed"),
        }
    }
    mailed
}

/// The webhook's JSON body for a notice.
pub fn webhook_body(held: &HeldCert, kind: &str, at: i64) -> Value {
    let c = &held.cert;
    json!({
        "event": format!("certificate.{kind}"),
        "certificate": {
            "id": c.id, "fingerprint": c.fingerprint, "serial": c.serial, "subject": c.subject, "issuer": c.issuer,
            "not_after": c.not_after, "status": c.status, "check_status": c.check_status,
        },
        "holder": { "account_id": c.account_id, "name": held.holder_name, "opd_id": held.holder_opd_id },
        "at": at,
    })
}

/// Posts every webhook owed (new notices and earlier failures), each taken by one round.
async fn post_due_webhooks(st: &AppState, now: i64) -> Result<(), StoreError> {
    let Some(url) = st.config.certs.webhook_url.clone() else { return Ok(()) };
    for w in store::due_webhooks(&st.db, now, BATCH).await? {
        if !store::claim_webhook(&st.db, &w, now, WEBHOOK_LEASE).await? {
            continue;
        }
        let outcome = match store::held(&st.db, &w.certificate_id).await? {
            Some(held) => post(st, &url, &webhook_body(&held, &w.kind, w.sent_at)).await,
            None => Err("the certificate no longer exists".into()),
        };
        let attempts = w.webhook_attempts + 1;
        if let Err(e) = &outcome {
            tracing::warn!(kind = %w.kind, attempt = attempts, error = %e, "certificate webhook not accepted; the next round tries again");
        }
        // A failed post is due again at the next round (`now`), not held for the lease.
        store::webhook_done(&st.db, &w, outcome, now, attempts >= WEBHOOK_ATTEMPTS).await?;
    }
    Ok(())
}

async fn post(st: &AppState, url: &str, body: &Value) -> Result<(), String> {
    let res = st.http.post(url).timeout(WEBHOOK_TIMEOUT).json(body).send().await.map_err(|e| e.to_string())?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", res.status()))
    }
}

/// Which bindings a check asks the authorities about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckTarget {
    One(String),
    /// Every binding in force (Diskominfo only).
    All,
}

/// Asks the authorities (OCSP, CRL, BSrE) now about one binding, or all in force, and records
/// their answers; returns the bindings as they stand afterwards. One audit record per run.
pub async fn check_certificates(
    st: &AppState,
    who: &Principal,
    target: &CheckTarget,
    now: i64,
) -> Result<Vec<HeldCert>, AdminError> {
    let rows = match target {
        CheckTarget::One(id) => {
            let row = super::certificate(st, who, id).await?;
            let held = store::held(&st.db, &row.id).await?.ok_or(AdminError::NotFound("certificate"))?;
            vec![held]
        }
        CheckTarget::All => {
            if !who.diskominfo() {
                return Err(crate::ops::forbidden("checking every certificate needs diskominfo-admin"));
            }
            store::in_force(&st.db, now).await?
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for held in rows {
        let HeldCert { cert, holder_name, holder_opd_id } = held;
        let cert = super::checks::check_now(st, cert, now).await?;
        out.push(HeldCert { cert, holder_name, holder_opd_id });
    }
    // Counts per answer: a region's full run would not fit one record certificate by certificate.
    let mut answers: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for h in &out {
        *answers.entry(h.cert.check_status.as_str()).or_default() += 1;
    }
    let one = match target {
        CheckTarget::One(_) => out.first().map(|h| h.cert.id.clone()),
        CheckTarget::All => None,
    };
    let detail = json!({ "certificate": one, "checked": out.len(), "answers": answers });
    audit::record(&st.db, Event::new("certificate.check_run").actor(&who.actor()).detail(detail), now).await;
    Ok(out)
}

/// The OPD units a principal may filter the monitoring list by: every unit for Diskominfo and
/// auditors, an OPD admin's own subtree.
pub async fn monitoring_units(st: &AppState, who: &Principal) -> Result<Vec<crate::store::opd::OpdRow>, AdminError> {
    let reach = monitoring_reach(st, who, None).await?;
    let all = crate::store::opd::list(&st.db).await?;
    Ok(match reach {
        Reach::Region => all,
        Reach::Unit(_) => all.into_iter().filter(|u| who.manages_unit(Some(&u.id))).collect(),
        Reach::Nobody => Vec::new(),
    })
}

/// The signers (bindings in force, possession shown, not revoked, in their validity) of an OPD
/// unit and the units below it, or of every unit the principal may see, as CSV: opd, nip_or_nik,
/// name, subject, serial, issuer, not_after (ISO date), check_status, checked_at. The export is
/// audited.
pub async fn signers_csv(st: &AppState, who: &Principal, opd: Option<&str>, now: i64) -> Result<String, AdminError> {
    let reach = monitoring_reach(st, who, opd).await?;
    let rows = match &reach {
        Reach::Nobody => Vec::new(),
        r => store::signers(&st.db, r.unit(), now).await?,
    };
    let detail = json!({ "opd": reach.unit(), "signers": rows.len() });
    audit::record(&st.db, Event::new("certificate.signers_exported").actor(&who.actor()).detail(detail), now).await;
    to_csv(&rows).map_err(|e| {
        tracing::error!(error = %e, "signers CSV");
        AdminError::Internal
    })
}

fn to_csv(rows: &[SignerRow]) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record([
        "opd",
        "nip_or_nik",
        "name",
        "subject",
        "serial",
        "issuer",
        "not_after",
        "check_status",
        "checked_at",
    ])?;
    for r in rows {
        let opd = match (&r.opd_code, &r.opd_name) {
            (Some(c), Some(n)) => format!("{c} {n}"),
            _ => String::new(),
        };
        let id = r.nip.clone().or_else(|| r.nik.clone()).unwrap_or_default();
        let cells = [
            opd,
            id,
            r.name.clone(),
            r.subject.clone(),
            r.serial.clone(),
            r.issuer.clone(),
            iso_date(r.not_after),
            r.check_status.clone(),
            r.checked_at.map(iso_time).unwrap_or_default(),
        ];
        w.write_record(cells.iter().map(|c| neutralise(c)))?;
    }
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) gets a leading `'`, so a certificate's subject cannot carry a formula
/// into Diskominfo's spreadsheet.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn iso_date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn iso_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+62"), "'+62");
        assert_eq!(neutralise("-1"), "'-1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("Siti Rahmawati"), "Siti Rahmawati");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn the_csv_has_the_columns_and_iso_dates() {
        let row = SignerRow {
            opd_code: Some("DISKOMINFO".into()),
            opd_name: Some("Dinas Komunikasi, dan Informatika".into()),
            nip: Some("198501012010011001".into()),
            nik: None,
            name: "=cmd".into(),
            subject: "CN=Siti".into(),
            serial: "0a".into(),
            issuer: "CN=BSRE CA DS G1".into(),
            not_after: 1_795_392_000,
            check_status: "good".into(),
            checked_at: Some(1_795_392_000),
        };
        let csv = to_csv(&[row]).unwrap();
        let mut lines = csv.split("\r\n");
        assert_eq!(lines.next(), Some("opd,nip_or_nik,name,subject,serial,issuer,not_after,check_status,checked_at"));
        assert_eq!(
            lines.next(),
            Some("\"DISKOMINFO Dinas Komunikasi, dan Informatika\",198501012010011001,'=cmd,CN=Siti,0a,CN=BSRE CA DS G1,2026-11-23,good,2026-11-23T00:00:00Z")
        );
    }
}
