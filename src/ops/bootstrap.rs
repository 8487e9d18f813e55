//! First start: a bootstrap administrator and a demo application, announced once on stdout
//! (never through the log) so the operator can log in straight away.

use crate::config::{Config, Secret};
use crate::identity::accounts::{self, NewAccount};
use crate::oidc::clients::{self, GrantType, NewClient};
use crate::state::AppState;
use crate::store::accounts as account_store;

/// A structurally valid demonstration NIP (born 1 Jan 1980, appointed April 2006, male, #001).
pub const ADMIN_NIP: &str = "198001012006041001";
pub const DEMO_CLIENT_ID: &str = "demo";

pub struct Bootstrapped {
    pub admin_nip: String,
    pub admin_password: Secret<String>,
    pub demo_client_id: String,
    /// The demonstration region, when the `demo` setting is on.
    pub demo: Option<crate::demo::SeedReport>,
}

/// Creates the first admin and the demo application when the database has no administrator.
pub async fn run(st: &AppState, now: i64) -> anyhow::Result<Option<Bootstrapped>> {
    if !st.config.bootstrap || account_store::count_admins(&st.db).await? > 0 {
        return Ok(None);
    }
    let password = Secret::new(crate::crypto::random_token(15)?);
    let new = NewAccount {
        nip: Some(ADMIN_NIP.into()),
        nik: None,
        name: "Administrator Gerbang".into(),
        password: Some(password.clone()),
        is_admin: true,
    };
    let (mut admin, _) = accounts::create(&st.db, &st.hasher, new, now).await?;
    let seeded = if st.config.demo {
        let report = crate::demo::seed(&st.db, &st.hasher, now).await?;
        // The administrator works at Diskominfo and so inherits its `diskominfo-admin` role.
        admin.opd_id = crate::store::opd::find_by_code(&st.db, crate::demo::DISKOMINFO_UNIT).await?.map(|u| u.id);
        accounts::save_profile(&st.db, &admin, now).await?;
        Some(report)
    } else {
        None
    };
    let demo = demo_client(&st.config);
    let demo_id = match clients::register(&st.db, &st.redirect_policy, demo, now).await {
        Ok((c, _)) => c.id,
        Err(clients::ClientError::Conflict) => DEMO_CLIENT_ID.to_string(),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(Bootstrapped {
        admin_nip: ADMIN_NIP.into(),
        admin_password: password,
        demo_client_id: demo_id,
        demo: seeded,
    }))
}

/// The demo application lives inside Gerbang at `/demo`: a public client using PKCE.
pub fn demo_client(config: &Config) -> NewClient {
    let scopes = ["openid", "profile", "nip", "nik", "opd", "roles", "asn_profile", "citizen_profile"];
    let mut c = NewClient::web(
        "Aplikasi Demo",
        vec![format!("{}/demo/callback", config.issuer)],
        scopes.map(String::from).to_vec(),
        vec![GrantType::AuthorizationCode],
    );
    c.id = Some(DEMO_CLIENT_ID.into());
    c.post_logout_redirect_uris = vec![format!("{}/demo", config.issuer)];
    c.public = true;
    // Served from the provider's own address, which is loopback on a first local run.
    c.development = true;
    c
}

pub fn announce(b: &Bootstrapped, config: &Config) {
    println!();
    println!("  Gerbang is set up for the first time.");
    println!("  Administrator  NIP: {}", b.admin_nip);
    println!("                 password: {}   (shown only now: store it safely)", b.admin_password.expose());
    println!("  Demo application: {}/demo  (client_id `{}`)", config.issuer, b.demo_client_id);
    if let Some(d) = &b.demo {
        println!(
            "  Demo region (Kabupaten Jember): {} OPD units; accounts with password `{}`:",
            d.opd_units, d.password
        );
        for a in &d.accounts {
            println!("    {:<18}  {}", a.login, a.name);
        }
    }
    println!(
        "  Admin console: {}/console  (needs security level {}: register a passkey at {}/account first)",
        config.issuer, config.admin_min_level, config.issuer
    );
    println!("  Discovery: {}/.well-known/openid-configuration", config.issuer);
    println!();
}

/// Loads the demonstration region on the operator's command (harmless when already loaded),
/// recorded as `demo.seeded`. Diskominfo powers only.
pub async fn seed_demo(
    st: &AppState,
    who: &super::Principal,
    now: i64,
) -> Result<crate::demo::SeedReport, super::AdminError> {
    if !who.diskominfo() {
        return Err(super::forbidden("loading the demo region needs diskominfo-admin"));
    }
    let report = crate::demo::seed(&st.db, &st.hasher, now).await.map_err(super::internal)?;
    let detail =
        serde_json::json!({ "opd_units": report.opd_units, "roles": report.roles, "accounts": report.accounts.len() });
    crate::audit::record(&st.db, crate::audit::Event::new("demo.seeded").actor(&who.actor()).detail(detail), now).await;
    Ok(report)
}
