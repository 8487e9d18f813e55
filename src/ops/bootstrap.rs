//! First start: a bootstrap administrator and a demo application, announced once on stdout
//! (never through the log) so the operator can log in straight away; and the demonstration
//! region, which exists only while the issuer is this machine.

use crate::config::{Config, Secret};
use crate::identity::accounts::{self, NewAccount};
use crate::identity::admin::DISKOMINFO_ADMIN;
use crate::identity::roles::{self, Holder, RoleError};
use crate::oidc::clients::{self, GrantType, NewClient};
use crate::state::AppState;
use crate::store::accounts as account_store;

/// A structurally valid demonstration NIP (born 1 Jan 1980, appointed April 2006, male, #001).
pub const ADMIN_NIP: &str = "198001012006041001";
pub const DEMO_CLIENT_ID: &str = "demo";

pub struct Bootstrapped {
    pub admin_nip: String,
    pub admin_password: Secret<String>,
    /// The one-time link through which the administrator enrols their first passkey: a
    /// password alone never reaches the console.
    pub admin_enrolment: super::enrolment::IssuedLink,
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
    // Held directly, so no unit (and nobody placed in it) passes it on.
    let role = match roles::create(&st.db, None, DISKOMINFO_ADMIN, "Administrator Gerbang di Diskominfo", now).await {
        Ok(r) => r,
        Err(RoleError::Conflict) => roles::find(&st.db, None, DISKOMINFO_ADMIN).await?,
        Err(e) => return Err(e.into()),
    };
    match roles::assign(&st.db, &role, &Holder::Account(admin.id.clone()), now).await {
        Ok(()) | Err(RoleError::AlreadyAssigned) => {}
        Err(e) => return Err(e.into()),
    }
    let actor = super::Principal::Operator(super::Operator::new("bootstrap").map_err(anyhow::Error::msg)?).actor();
    let admin_enrolment = super::enrolment::issue_for(st, &admin, &actor, now)
        .await
        .map_err(|e| anyhow::anyhow!("the administrator's enrolment link: {}", e.detail()))?;
    let seeded = if st.config.demo && st.config.local_issuer() {
        let report = crate::demo::seed(&st.db, &st.hasher, now).await?;
        // The administrator works at Diskominfo; the unit itself passes on no administrative role.
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
        admin_enrolment,
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
    println!(
        "  First passkey:  {}   (one-time enrolment link, valid 24 h: open it, log in, add a passkey)",
        b.admin_enrolment.url
    );
    println!("  Demo application: {}/demo  (client_id `{}`)", config.issuer, b.demo_client_id);
    if let Some(d) = &b.demo {
        println!(
            "  Demo region (Kabupaten Jember): {} OPD units; accounts and passwords (shown only now):",
            d.opd_units
        );
        print_demo_accounts(d);
    } else if config.demo && !config.local_issuer() {
        println!("  Demo region not loaded: the issuer is not localhost.");
    }
    println!(
        "  Admin console: {}/console  (needs security level {}: enrol the passkey through the link above first)",
        config.issuer, config.admin_min_level
    );
    println!("  Discovery: {}/.well-known/openid-configuration", config.issuer);
    println!();
}

/// Each demo account with the password generated for it now (an account that already existed
/// keeps its own).
pub fn print_demo_accounts(d: &crate::demo::SeedReport) {
    for a in &d.accounts {
        match &a.password {
            Some(p) => println!("    {:<18}  {:<18}  {}", a.login, p.expose(), a.name),
            None => println!("    {:<18}  {:<18}  {}", a.login, "(unchanged)", a.name),
        }
    }
}

/// Loads the demonstration region on the operator's command (harmless when already loaded),
/// recorded as `demo.seeded`. Diskominfo powers only, and only for a local issuer.
pub async fn seed_demo(
    st: &AppState,
    who: &super::Principal,
    now: i64,
) -> Result<crate::demo::SeedReport, super::AdminError> {
    if !who.diskominfo() {
        return Err(super::forbidden("loading the demo region needs diskominfo-admin"));
    }
    if !st.config.local_issuer() {
        return Err(super::AdminError::Invalid(format!(
            "demo accounts have printed passwords: they are loaded only when the issuer is localhost, not {}",
            st.config.issuer
        )));
    }
    let report = crate::demo::seed(&st.db, &st.hasher, now).await.map_err(super::internal)?;
    let detail =
        serde_json::json!({ "opd_units": report.opd_units, "roles": report.roles, "accounts": report.accounts.len() });
    crate::audit::record(&st.db, crate::audit::Event::new("demo.seeded").actor(&who.actor()).detail(detail), now).await;
    Ok(report)
}

/// Start-up refuses a non-local issuer while demo accounts exist: their passwords were printed
/// and, on releases before this one, some inherited administrative roles.
pub async fn refuse_demo_accounts(st: &AppState) -> anyhow::Result<()> {
    if st.config.local_issuer() {
        return Ok(());
    }
    let mut found = Vec::new();
    for id in crate::demo::identifiers() {
        if accounts::find(&st.db, id).await?.is_some() {
            found.push(id);
        }
    }
    if !found.is_empty() {
        anyhow::bail!(
            "{} demo account(s) ({}) exist but the issuer {} is not localhost: remove them with \
             `gerbang demo remove` before serving",
            found.len(),
            found.join(", "),
            st.config.issuer
        );
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
pub struct DemoRemoved {
    pub accounts: Vec<String>,
    pub opd_units: usize,
    pub roles: usize,
}

/// Deletes the demo accounts, the demo region's role assignments to its units (also the
/// administrative ones older releases made), and the demo units and roles nothing else uses any
/// more. Recorded as `demo.removed`. Diskominfo powers only; harmless when nothing is left.
pub async fn remove_demo(st: &AppState, who: &super::Principal, now: i64) -> Result<DemoRemoved, super::AdminError> {
    use crate::store::{demo as demo_store, opd as opd_store};
    if !who.diskominfo() {
        return Err(super::forbidden("removing the demo region needs diskominfo-admin"));
    }
    let mut removed = Vec::new();
    for id in crate::demo::identifiers() {
        if let Some(account) = accounts::find(&st.db, id).await? {
            let mut tx = st.db.begin().await?;
            if demo_store::delete_account(&mut tx, &account.id).await? {
                removed.push(id.to_string());
            }
            tx.commit().await?;
        }
    }
    let unit_roles =
        crate::demo::ROLES.iter().map(|(r, _, u)| (*r, *u)).chain(crate::demo::LEGACY_ROLES.iter().copied());
    let mut roles_removed = 0;
    for (name, code) in unit_roles {
        let (role, unit) = match (roles::find(&st.db, None, name).await, opd_store::find_by_code(&st.db, code).await?) {
            (Ok(r), Some(u)) => (r, u),
            (Ok(_) | Err(RoleError::UnknownRole(_)), _) => continue,
            (Err(e), _) => return Err(super::internal(e)),
        };
        roles::unassign(&st.db, &role, &Holder::Opd(unit.id), now).await.map_err(super::roles::unassign_error)?;
        let demo_only = crate::demo::ROLES.iter().any(|(r, _, _)| *r == name);
        if demo_only && demo_store::delete_role_if_unused(&st.db, &role.id).await? {
            roles_removed += 1;
        }
    }
    let mut units_removed = 0;
    for code in crate::demo::unit_codes().rev() {
        if let Some(unit) = opd_store::find_by_code(&st.db, code).await? {
            if demo_store::delete_unit_if_unused(&st.db, &unit.id).await? {
                units_removed += 1;
            }
        }
    }
    let report = DemoRemoved { accounts: removed, opd_units: units_removed, roles: roles_removed };
    let detail = serde_json::json!({ "accounts": report.accounts, "opd_units": units_removed, "roles": roles_removed });
    crate::audit::record(&st.db, crate::audit::Event::new("demo.removed").actor(&who.actor()).detail(detail), now)
        .await;
    Ok(report)
}
