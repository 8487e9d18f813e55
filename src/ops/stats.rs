//! The dashboard's figures as a principal may see them: the region's logins and failures, and
//! tokens per application for the applications within their powers.

use std::collections::HashMap;

use serde::Serialize;

use super::{forbidden, AdminError, Principal};
use crate::state::AppState;
use crate::stats::Dashboard;

/// Tokens issued to one application the principal may see, with its name.
#[derive(Debug, Clone, Serialize)]
pub struct NamedUse {
    pub client_id: String,
    pub name: String,
    pub tokens: u64,
}

#[derive(Debug)]
pub struct DashboardView {
    pub figures: Dashboard,
    /// `figures.applications` narrowed to the visible applications, in the same order.
    pub applications: Vec<NamedUse>,
}

/// The figures of the last `days` local days. Anyone with an administrative role sees the
/// region's login figures; tokens per application are region-wide for Diskominfo and auditors,
/// and an OPD admin's own applications otherwise.
pub async fn dashboard(st: &AppState, who: &Principal, days: u32, now: i64) -> Result<DashboardView, AdminError> {
    if who.person().is_none() && !who.diskominfo() {
        return Err(forbidden("the dashboard is for people with an administrative role"));
    }
    // This replica's own recent tokens, so the page is current rather than up to a minute behind.
    if let Err(e) = crate::stats::push_tally(&st.token_tally, &st.cache).await {
        tracing::warn!(error = %e, "could not add token counts before the dashboard");
    }
    let figures =
        crate::stats::dashboard(&st.db, &st.cache, now, days, st.config.utc_offset_minutes).await.map_err(|e| {
            tracing::error!(error = %e, "dashboard figures failed");
            AdminError::Internal
        })?;
    let visible = if who.diskominfo() || who.auditor() {
        crate::oidc::clients::list(&st.db).await.unwrap_or_default()
    } else {
        super::applications::applications(st, who).await.unwrap_or_default()
    };
    let names: HashMap<String, String> = visible.into_iter().map(|c| (c.id, c.name)).collect();
    let applications = figures
        .applications
        .iter()
        .filter_map(|a| {
            let name = names.get(&a.client_id)?.clone();
            Some(NamedUse { client_id: a.client_id.clone(), name, tokens: a.tokens })
        })
        .collect();
    Ok(DashboardView { figures, applications })
}
