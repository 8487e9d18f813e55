//! Revocation checking of bound certificates: OCSP where the certificate names a responder
//! (short timeout on the login path), else or on failure the CRL (cached until nextUpdate,
//! fetched when stale, or uploaded), and the BSrE status connector when configured; the answer
//! is recorded in the binding's `check_*` columns. A check that gets no answer never turns a
//! `revoked` binding back into a usable one.

use std::time::Duration;

use super::crls::{self, configured_cas};
use super::CertRow;
use crate::certs::crl::{self, CrlStatus};
use crate::certs::ocsp::{self, OcspStatus};
use crate::certs::{bsre, signed};
use crate::state::AppState;
use crate::store::cert_checks as store;
use crate::store::StoreError;

/// How long a background or binding-time check waits for a responder.
const SLOW_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the background job looks for work.
const ROUND: Duration = Duration::from_secs(300);

/// What the authorities said of a certificate, to be recorded in its `check_*` columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAnswer {
    /// `unchecked`, `good`, `revoked`, `unknown` or `failed`.
    pub status: String,
    /// `crl`, `ocsp`, `bsre` or empty.
    pub source: String,
    pub detail: String,
    pub checked_at: Option<i64>,
    pub valid_until: Option<i64>,
}

impl CheckAnswer {
    pub fn unchecked() -> CheckAnswer {
        CheckAnswer {
            status: "unchecked".into(),
            source: String::new(),
            detail: String::new(),
            checked_at: None,
            valid_until: None,
        }
    }

    fn new(status: &str, source: &str, detail: impl Into<String>, now: i64, valid_until: Option<i64>) -> CheckAnswer {
        let detail: String = detail.into();
        CheckAnswer {
            status: status.into(),
            source: source.into(),
            detail: detail.chars().take(1000).collect(),
            checked_at: Some(now),
            valid_until,
        }
    }
}

/// Where a certificate's revocation is asked: read from the certificate and the trust bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pointers {
    pub ocsp_url: String,
    /// Space-separated.
    pub crl_urls: String,
    /// The issuing CA's certificate (found among the configured ones by name and signature).
    pub issuer_pem: String,
}

/// The OCSP responder, CRL distribution points and issuing CA of a certificate (DER), for the
/// binding to store in `ocsp_url`, `crl_urls` and `issuer_pem`.
pub fn pointers(st: &AppState, cert_der: &[u8]) -> Pointers {
    Pointers {
        ocsp_url: ocsp::responder_url(cert_der).unwrap_or_default(),
        crl_urls: crl::distribution_points(cert_der).join(" "),
        issuer_pem: signed::find_issuer(cert_der, &configured_cas(st))
            .map(|d| signed::to_pem(&d, "CERTIFICATE"))
            .unwrap_or_default(),
    }
}

struct Subject {
    cert: Vec<u8>,
    issuer: Option<Vec<u8>>,
    ocsp_url: String,
    crl_urls: Vec<String>,
}

impl Subject {
    fn new(cert: Vec<u8>, p: &Pointers) -> Subject {
        Subject {
            issuer: signed::pem_certificates(p.issuer_pem.as_bytes()).into_iter().next(),
            ocsp_url: p.ocsp_url.clone(),
            crl_urls: p.crl_urls.split_whitespace().map(String::from).collect(),
            cert,
        }
    }
}

/// How a check may spend time.
#[derive(Clone, Copy)]
struct Budget {
    ocsp: Duration,
    /// Whether stale CRLs are fetched (not on the login path: only the cache is read there).
    fetch_crls: bool,
}

fn date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// Asks OCSP, then the CRLs; always returns an answer (`failed` with the reasons when none came).
async fn ask(st: &AppState, s: &Subject, budget: Budget, now: i64) -> CheckAnswer {
    let recheck = st.config.certs.recheck_hours as i64 * 3600;
    let Some(issuer) = &s.issuer else {
        return CheckAnswer::new(
            "failed",
            "",
            "the issuing CA's certificate is not among certificate_issuers",
            now,
            None,
        );
    };
    let mut problems = Vec::new();
    let mut ocsp_unknown = false;
    if !s.ocsp_url.is_empty() {
        match ocsp::query(&st.http, &s.ocsp_url, &s.cert, issuer, budget.ocsp, now).await {
            Ok(a) => match a.status {
                OcspStatus::Good => {
                    return CheckAnswer::new("good", "ocsp", "", now, Some(a.next_update.unwrap_or(now + recheck)))
                }
                OcspStatus::Revoked { at, reason } => {
                    return CheckAnswer::new("revoked", "ocsp", format!("revoked {}: {reason}", date(at)), now, None)
                }
                OcspStatus::Unknown => {
                    ocsp_unknown = true;
                    problems.push("OCSP: the responder does not know the certificate".to_string());
                }
            },
            Err(e) => problems.push(format!("OCSP: {e}")),
        }
    }
    match crl_answer(st, s, issuer, budget, now).await {
        Ok(Some(a)) => return a,
        Ok(None) => {}
        Err(e) => problems.push(format!("CRL: {e}")),
    }
    if problems.is_empty() {
        // Nothing to ask is not a failure to get an answer: monitoring should not flag it.
        let detail = "the certificate names no OCSP responder or CRL, and no CRL was uploaded for its issuer";
        return CheckAnswer::new("unchecked", "", detail, now, None);
    }
    let status = if ocsp_unknown { "unknown" } else { "failed" };
    CheckAnswer::new(status, if ocsp_unknown { "ocsp" } else { "" }, problems.join("; "), now, None)
}

/// The CRLs' answer: the distribution points' (cached, fetched when stale and allowed), then an
/// uploaded CRL of the issuer. `Ok(None)`: no CRL to ask.
async fn crl_answer(
    st: &AppState,
    s: &Subject,
    issuer: &[u8],
    budget: Budget,
    now: i64,
) -> Result<Option<CheckAnswer>, String> {
    let mut errors = Vec::new();
    let mut sources: Vec<(String, bool)> = s.crl_urls.iter().map(|u| (u.clone(), true)).collect();
    if let Some(name) = crl::issuer_name(&s.cert) {
        sources.push((crls::upload_source(&name), false));
    }
    for (source, fetchable) in sources {
        let cached = match store::crl(&st.db, &source).await {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("cache: {e}"));
                None
            }
        };
        let entry = match cached {
            Some(c) if crls::fresh(st, &c, now) => Some(c),
            stale if fetchable && budget.fetch_crls => match crls::fetch(st, &source, &[issuer.to_vec()], now).await {
                Ok(e) => Some(e),
                Err(e) => {
                    errors.push(e);
                    stale
                }
            },
            stale => stale,
        };
        let Some(e) = entry else { continue };
        match crl::status(&s.cert, issuer, &e.der, now) {
            Ok(CrlStatus::Revoked { at, reason }) => {
                return Ok(Some(CheckAnswer::new(
                    "revoked",
                    "crl",
                    format!("revoked {}: {reason}", date(at)),
                    now,
                    None,
                )))
            }
            Ok(CrlStatus::Good) if crls::fresh(st, &e, now) => {
                let until = e.next_update.unwrap_or(e.fetched_at + st.config.certs.recheck_hours as i64 * 3600);
                return Ok(Some(CheckAnswer::new("good", "crl", "", now, Some(until))));
            }
            Ok(CrlStatus::Good) => errors.push(format!("the CRL ({}) is past its nextUpdate", e.issuer)),
            Err(crl::CrlError::NotForCertificate) if !fetchable => {}
            Err(err) => errors.push(err.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(None)
    } else {
        Err(errors.join("; "))
    }
}

/// BSrE's word on the holder (by NIK), when the connector is configured.
async fn ask_bsre(
    st: &AppState,
    nik: Option<&str>,
    timeout: Duration,
) -> Option<Result<bsre::BsreStatus, bsre::BsreError>> {
    let cfg = st.config.certs.bsre.as_ref()?;
    let nik = nik?;
    Some(bsre::check_status(&st.http, &cfg.url, &cfg.username, cfg.password.expose(), nik, timeout).await)
}

/// Folds BSrE's answer into the CA's: a REVOKE or SUSPEND revokes; anything else is noted.
fn with_bsre(mut a: CheckAnswer, b: Option<Result<bsre::BsreStatus, bsre::BsreError>>, now: i64) -> CheckAnswer {
    let note = match b {
        None => return a,
        Some(Ok(s)) if s.revokes() && a.status != "revoked" => {
            let bsre::BsreStatus::Refused { status, message } = s else { return a };
            return CheckAnswer::new(
                "revoked",
                "bsre",
                format!("BSrE: {status} {message}").trim().to_string(),
                now,
                None,
            );
        }
        Some(Ok(bsre::BsreStatus::Issued)) => "BSrE: ISSUE".to_string(),
        Some(Ok(bsre::BsreStatus::Refused { status, message })) => format!("BSrE: {status} {message}"),
        Some(Err(e)) => format!("BSrE: {e}"),
    };
    a.detail = if a.detail.is_empty() { note } else { format!("{}; {note}", a.detail) };
    a
}

/// Writes an answer on the binding and returns the binding as it now stands. Only a `good` or
/// `revoked` answer replaces a `revoked` one.
async fn record(st: &AppState, mut row: CertRow, a: CheckAnswer, now: i64) -> Result<CertRow, StoreError> {
    let keeps_revocation = row.check_status == "revoked" && !matches!(a.status.as_str(), "good" | "revoked");
    if keeps_revocation {
        tracing::warn!(certificate = %row.id, detail = %a.detail, "revocation re-check got no answer; it stays revoked");
        row.checked_at = Some(now);
    } else {
        row.check_status = a.status;
        row.check_source = a.source;
        row.check_detail = a.detail;
        row.checked_at = a.checked_at.or(Some(now));
        row.check_valid_until = a.valid_until;
    }
    let r = &row;
    store::record(&st.db, &r.id, &r.check_status, &r.check_source, &r.check_detail, now, r.check_valid_until).await?;
    Ok(row)
}

/// The binding's pointers, read from the certificate when the binding lacks them (and stored).
async fn subject_of(st: &AppState, row: &CertRow) -> Option<Subject> {
    let der = signed::pem_certificates(row.pem.as_bytes()).into_iter().next()?;
    let mut p =
        Pointers { ocsp_url: row.ocsp_url.clone(), crl_urls: row.crl_urls.clone(), issuer_pem: row.issuer_pem.clone() };
    if p.issuer_pem.is_empty() {
        p = pointers(st, &der);
        if !p.issuer_pem.is_empty() {
            if let Err(e) = store::set_pointers(&st.db, &row.id, &p.ocsp_url, &p.crl_urls, &p.issuer_pem).await {
                tracing::warn!(error = %e, "cannot store a certificate's revocation pointers");
            }
        }
    }
    Some(Subject::new(der, &p))
}

/// Brings a binding's revocation answer up to date when it has gone stale (past its
/// `check_valid_until`, or older than the re-check period), within the OCSP timeout: OCSP, else
/// the cached CRL. A check without an answer keeps the row's last answer; never an error.
pub async fn refresh_if_stale(st: &AppState, row: CertRow, now: i64) -> CertRow {
    let recheck = st.config.certs.recheck_hours as i64 * 3600;
    let stale = row.check_valid_until.is_some_and(|v| v <= now) || row.checked_at.is_none_or(|c| c <= now - recheck);
    if !stale {
        return row;
    }
    let timeout = Duration::from_millis(st.config.certs.ocsp_timeout_ms);
    let budget = Budget { ocsp: timeout, fetch_crls: false };
    let asked = tokio::time::timeout(timeout + Duration::from_millis(500), async {
        let s = subject_of(st, &row).await?;
        Some(ask(st, &s, budget, now).await)
    })
    .await;
    match asked {
        Ok(Some(a)) if a.status != "failed" => match record(st, row.clone(), a, now).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, certificate = %row.id, "cannot record a revocation check");
                row
            }
        },
        Ok(Some(a)) => {
            tracing::warn!(certificate = %row.id, detail = %a.detail, "revocation check got no answer; the last one stands");
            row
        }
        Ok(None) => row,
        Err(_) => {
            tracing::warn!(certificate = %row.id, "revocation check timed out; the last answer stands");
            row
        }
    }
}

/// Asks the authorities now (OCSP, CRL, BSrE) and records the answer on the binding.
pub async fn check_now(st: &AppState, row: CertRow, now: i64) -> Result<CertRow, StoreError> {
    let budget = Budget { ocsp: SLOW_TIMEOUT, fetch_crls: true };
    let a = match subject_of(st, &row).await {
        Some(s) => ask(st, &s, budget, now).await,
        None => CheckAnswer::new("failed", "", "the bound certificate cannot be read", now, None),
    };
    let nik = match st.config.certs.bsre {
        Some(_) if a.status != "revoked" => {
            crate::identity::accounts::get(&st.db, &row.account_id).await?.and_then(|acc| acc.nik)
        }
        _ => None,
    };
    let a = with_bsre(a, ask_bsre(st, nik.as_deref(), SLOW_TIMEOUT).await, now);
    record(st, row, a, now).await
}

/// What the authorities say of a certificate about to be bound (`nik`: the holder's, for the
/// BSrE connector). `Err` carries the reason a revoked or BSrE-refused certificate is refused;
/// an authority that cannot be reached gives `Ok` with status `failed` (monitoring shows it).
pub async fn at_binding(
    st: &AppState,
    checked: &crate::certs::Checked,
    nik: Option<&str>,
    now: i64,
) -> Result<CheckAnswer, String> {
    // The issuer of the validated path when path validation found one, else the bundle's.
    let s = if checked.issuer_der.is_empty() {
        Subject::new(checked.der.clone(), &pointers(st, &checked.der))
    } else {
        Subject {
            cert: checked.der.clone(),
            issuer: Some(checked.issuer_der.clone()),
            ocsp_url: checked.ocsp_url.clone().filter(|u| u.starts_with("http")).unwrap_or_default(),
            crl_urls: checked.crl_urls.iter().filter(|u| u.starts_with("http")).cloned().collect(),
        }
    };
    let timeout = Duration::from_millis(st.config.certs.ocsp_timeout_ms).max(Duration::from_secs(3));
    let a = ask(st, &s, Budget { ocsp: timeout, fetch_crls: true }, now).await;
    if a.status == "revoked" {
        return Err(format!("the certificate authority revoked this certificate ({})", a.detail));
    }
    match ask_bsre(st, nik, timeout).await {
        Some(Ok(bsre::BsreStatus::Refused { status, message })) => {
            Err(format!("BSrE does not list an issued certificate for the holder: {status} {message}")
                .trim()
                .to_string())
        }
        other => Ok(with_bsre(a, other, now)),
    }
}

/// What one background round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub crls_renewed: usize,
    pub rechecked: usize,
    pub notices: usize,
}

/// One round of the background job: renew CRLs past nextUpdate, re-check bindings not checked
/// within `certificate_recheck_hours` (or whose answer ran out), each claimed by one replica,
/// then send the notices due.
pub async fn round(st: &AppState, now: i64) -> Round {
    let mut out = Round { crls_renewed: crls::refresh_due(st, now).await, ..Round::default() };
    let recheck = st.config.certs.recheck_hours as i64 * 3600;
    match store::due(&st.db, now, now - recheck, 100).await {
        Ok(rows) => {
            for row in rows {
                match store::claim(&st.db, &row.id, row.checked_at, now).await {
                    Ok(true) => match check_now(st, row, now).await {
                        Ok(_) => out.rechecked += 1,
                        Err(e) => tracing::warn!(error = %e, "cannot record a revocation re-check"),
                    },
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot claim a binding for re-checking"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list the bindings due for a revocation check"),
    }
    out.notices = super::monitor::notify_due(st, now).await;
    out
}

/// Starts the background job (next to the back-channel logout worker): the configured CRL files
/// once, then a round every five minutes.
pub fn spawn_worker(st: std::sync::Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let loaded = crls::load_files(&st, st.now()).await;
        if loaded > 0 {
            tracing::info!(loaded, "certificate_crls loaded");
        }
        loop {
            let r = round(&st, st.now()).await;
            if r != Round::default() {
                tracing::info!(?r, "certificate revocation round");
            }
            tokio::time::sleep(ROUND).await;
        }
    })
}

/// An administrator who manages the holder has the authorities asked now (the console, the
/// admin API and `gerbang certificate check`); audited with the answer before and after.
pub async fn check_certificate_now(
    st: &AppState,
    who: &crate::ops::Principal,
    id: &str,
    now: i64,
) -> Result<super::HeldCert, crate::ops::AdminError> {
    let row = crate::store::certs::get(&st.db, id).await?.ok_or(crate::ops::AdminError::NotFound("certificate"))?;
    let holder = crate::ops::accounts::lookup(st, who, &row.account_id).await?;
    let before = row.check_status.clone();
    let row = check_now(st, row, now).await?;
    let detail = serde_json::json!({ "certificate": row.id, "before": before, "after": row.check_status,
        "source": row.check_source, "detail": row.check_detail });
    let event = crate::audit::Event::new("certificate.checked").actor(&who.actor()).subject(&holder.id).detail(detail);
    crate::audit::record(&st.db, event, now).await;
    Ok(super::HeldCert { cert: row, holder_name: holder.name, holder_opd_id: holder.opd_id })
}
