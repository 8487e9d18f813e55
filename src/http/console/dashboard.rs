//! The dashboard: logins and failures of the past two weeks, and tokens per application.

use std::collections::HashMap;

use axum::response::Response;
use minijinja::{context, Value};

use super::Console;
use crate::ops::{self, AdminError};
use crate::state::now;

pub async fn dashboard(c: Console) -> Response {
    const DAYS: u32 = 14;
    let st = &c.st;
    // This replica's own recent tokens, so the page is current rather than up to a minute behind.
    if let Err(e) = crate::stats::push_tally(&st.token_tally, &st.cache).await {
        tracing::warn!(error = %e, "could not add token counts before the dashboard");
    }
    let d = match crate::stats::dashboard(&st.db, &st.cache, now(), DAYS, st.config.utc_offset_minutes).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "dashboard figures failed");
            return c.fail(AdminError::Internal, "/console/account");
        }
    };
    // Bars are drawn on the server as SVG attributes: no script, and nothing the CSP forbids.
    let (width, height, slot) = (700i64, 160i64, 700i64 / i64::from(DAYS));
    let top = d.days.iter().map(|x| x.logins.max(x.failures)).max().unwrap_or(0).max(1) as i64;
    let bars: Vec<Value> = d
        .days
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let (ok_h, fail_h) = (x.logins as i64 * (height - 10) / top, x.failures as i64 * (height - 10) / top);
            let w = slot * 2 / 5;
            context! {
                x => i as i64 * slot + slot / 10, w => w,
                ok_y => height - ok_h, ok_h => ok_h, fail_y => height - fail_h, fail_h => fail_h,
                date => x.date, label => x.date.get(5..).unwrap_or(""), logins => x.logins, failures => x.failures,
            }
        })
        .collect();
    // Region-wide figures for Diskominfo and auditors; an OPD admin sees its own applications.
    let visible = if c.admin.diskominfo() || c.admin.auditor() {
        crate::oidc::clients::list(&st.db).await.unwrap_or_default()
    } else {
        ops::applications::applications(st, &c.admin).await.unwrap_or_default()
    };
    let names: HashMap<String, String> = visible.into_iter().map(|c| (c.id, c.name)).collect();
    let top_app =
        d.applications.iter().filter(|a| names.contains_key(&a.client_id)).map(|a| a.tokens).max().unwrap_or(0).max(1);
    let apps: Vec<Value> = d
        .applications
        .iter()
        .filter(|a| names.contains_key(&a.client_id))
        .map(|a| {
            let name = names.get(&a.client_id).cloned().unwrap_or_else(|| a.client_id.clone());
            // Long names would run into the bars; the full name stays in the bar's tooltip.
            let short = if name.chars().count() > 40 {
                format!("{}…", name.chars().take(39).collect::<String>())
            } else {
                name.clone()
            };
            context! { name => name, short => short, tokens => a.tokens, w => a.tokens * 560 / top_app }
        })
        .collect();
    let ctx = context! { dash => d, totals => d.totals, chart => context! { width => width, height => height, bars => bars }, apps => apps };
    c.ok("console_dashboard.html", "dashboard", ctx)
}
