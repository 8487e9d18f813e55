//! `gerbang certificate`: the monitoring list, revocation checks on demand, and recording a
//! revocation, as the operator (whose powers are Diskominfo's).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use super::{fail, print, refused, Ctx};
use crate::ops::certificates::monitor::{self, CheckTarget};
use crate::ops::certificates::{self, CertFilter, CertState, HeldCert};
use crate::ops::{units, AdminError};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum CertificateCmd {
    /// List bound certificates, soonest end first.
    List {
        /// An OPD unit (its code or id): its holders and those of the units below it.
        #[arg(long)]
        opd: Option<String>,
        /// attention, expiring, expired, revoked, failing, pending, signers or all.
        #[arg(long, default_value = "attention")]
        state: String,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long)]
        json: bool,
    },
    /// Ask the authorities (OCSP, CRL, BSrE) about a certificate now, or about all in force.
    Check {
        /// The certificate's id.
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Record that a certificate was revoked: it no longer makes its holder a signer.
    Revoke {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: CertificateCmd) -> anyhow::Result<ExitCode> {
    let t = now();
    let warn_days = ctx.st.config.certs.warn_days;
    match cmd {
        CertificateCmd::List { opd, state, limit, offset, json } => {
            let Some(state) = CertState::parse(&state) else {
                let names: Vec<&str> = CertState::ALL.iter().map(|s| s.as_str()).collect();
                return Ok(fail(json, &format!("--state: one of {}", names.join(", ")), "invalid"));
            };
            let opd = match opd {
                Some(o) => match unit_id(ctx, &o).await {
                    Ok(id) => Some(id),
                    Err(e) => return Ok(refused(json, &e)),
                },
                None => None,
            };
            let filter = CertFilter { state, opd, limit: Some(limit), offset: Some(offset) };
            match certificates::certificates(&ctx.st, &ctx.who, &filter, t).await {
                Ok(rows) => {
                    let list: Vec<Value> = rows.iter().map(|h| view(h, t, warn_days)).collect();
                    Ok(print(json, json!({ "certificates": list }), || {
                        for h in &rows {
                            println!("{}", line(h, t, warn_days));
                        }
                    }))
                }
                Err(e) => Ok(refused(json, &e)),
            }
        }
        CertificateCmd::Check { id, all, json } => {
            let target = match (id, all) {
                (Some(id), false) => CheckTarget::One(id),
                (None, true) => CheckTarget::All,
                _ => return Ok(fail(json, "give a certificate id or --all", "invalid")),
            };
            match monitor::check_certificates(&ctx.st, &ctx.who, &target, t).await {
                Ok(rows) => {
                    let list: Vec<Value> = rows.iter().map(|h| view(h, t, warn_days)).collect();
                    Ok(print(json, json!({ "checked": list }), || {
                        for h in &rows {
                            let c = &h.cert;
                            println!("{} {} {} {}", c.id, c.check_status, c.check_source, c.check_detail);
                        }
                    }))
                }
                Err(e) => Ok(refused(json, &e)),
            }
        }
        CertificateCmd::Revoke { id, reason, json } => {
            match certificates::revoke_certificate(&ctx.st, &ctx.who, &id, &reason, t).await {
                Ok(h) => Ok(print(json, json!({ "certificate": view(&h, t, warn_days) }), || {
                    println!("recorded the revocation of certificate {} ({})", h.cert.id, h.cert.subject);
                })),
                Err(e) => Ok(refused(json, &e)),
            }
        }
    }
}

/// A unit given by code (as `gerbang opd list` shows them) or by id.
async fn unit_id(ctx: &Ctx, given: &str) -> Result<String, AdminError> {
    match units::unit_by_code(&ctx.st, &ctx.who, given).await {
        Ok(u) => Ok(u.id),
        Err(AdminError::NotFound(_)) => Ok(given.to_string()),
        Err(e) => Err(e),
    }
}

fn view(h: &HeldCert, now: i64, warn_days: i64) -> Value {
    let c = &h.cert;
    json!({
        "id": c.id, "account_id": c.account_id, "account_name": h.holder_name, "opd_id": h.holder_opd_id,
        "subject": c.subject, "issuer": c.issuer, "serial": c.serial, "fingerprint": c.fingerprint,
        "not_before": c.not_before, "not_after": c.not_after,
        "standing": crate::certs::standing(c, now, warn_days).as_str(),
        "status": c.status, "revocation_reason": c.revocation_reason, "pending": c.pending, "possession": c.possession,
        "check_status": c.check_status, "check_source": c.check_source, "checked_at": c.checked_at,
    })
}

fn line(h: &HeldCert, now: i64, warn_days: i64) -> String {
    let c = &h.cert;
    let until = chrono::DateTime::from_timestamp(c.not_after, 0).map(|d| d.format("%Y-%m-%d").to_string());
    format!(
        "{}  {:<8} {} check:{:<9} {}  {}",
        c.id,
        crate::certs::standing(c, now, warn_days).as_str(),
        until.unwrap_or_default(),
        c.check_status,
        h.holder_name,
        c.subject
    )
}
