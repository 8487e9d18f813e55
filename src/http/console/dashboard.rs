//! The dashboard: logins and failures of the past two weeks, and tokens per application.

use axum::response::Response;
use minijinja::{context, Value};

use super::Console;
use crate::ops;

pub async fn dashboard(c: Console) -> Response {
    const DAYS: u32 = 14;
    let view = match ops::stats::dashboard(&c.st, &c.admin, DAYS, c.st.now()).await {
        Ok(v) => v,
        Err(e) => return c.fail(e, "/console/account"),
    };
    let d = &view.figures;
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
    let top_app = view.applications.iter().map(|a| a.tokens).max().unwrap_or(0).max(1);
    let apps: Vec<Value> = view
        .applications
        .iter()
        .map(|a| {
            // Long names would run into the bars; the full name stays in the bar's tooltip.
            let short = if a.name.chars().count() > 40 {
                format!("{}…", a.name.chars().take(39).collect::<String>())
            } else {
                a.name.clone()
            };
            context! { name => a.name, short => short, tokens => a.tokens, w => a.tokens * 560 / top_app }
        })
        .collect();
    let ctx = context! { dash => d, totals => d.totals, chart => context! { width => width, height => height, bars => bars }, apps => apps };
    c.ok("console_dashboard.html", "dashboard", ctx)
}
