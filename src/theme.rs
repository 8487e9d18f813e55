//! Runtime templates (minijinja) under `themes/<name>/`, with fallback to `themes/default` and
//! then to a copy of the default theme built into the binary, so an installation without the
//! themes directory still shows working pages. Translations are per-theme JSON files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::{Environment, Value};

pub const LOCALES: &[&str] = &["id", "en"];

const EMBEDDED: &[(&str, &str)] = &[
    ("base.html", include_str!("../themes/default/base.html")),
    ("login.html", include_str!("../themes/default/login.html")),
    ("consent.html", include_str!("../themes/default/consent.html")),
    ("error.html", include_str!("../themes/default/error.html")),
    ("logout.html", include_str!("../themes/default/logout.html")),
    ("logged_out.html", include_str!("../themes/default/logged_out.html")),
    ("demo.html", include_str!("../themes/default/demo.html")),
    ("totp.html", include_str!("../themes/default/totp.html")),
    ("account.html", include_str!("../themes/default/account.html")),
    ("account_password.html", include_str!("../themes/default/account_password.html")),
    ("account_certificates.html", include_str!("../themes/default/account_certificates.html")),
    ("account_totp.html", include_str!("../themes/default/account_totp.html")),
    ("account_codes.html", include_str!("../themes/default/account_codes.html")),
    ("confirm.html", include_str!("../themes/default/confirm.html")),
    ("account_applications.html", include_str!("../themes/default/account_applications.html")),
    ("account_withdraw.html", include_str!("../themes/default/account_withdraw.html")),
    ("account_contact.html", include_str!("../themes/default/account_contact.html")),
    ("verify_email.html", include_str!("../themes/default/verify_email.html")),
    ("recovery_used.html", include_str!("../themes/default/recovery_used.html")),
    ("console_base.html", include_str!("../themes/default/console_base.html")),
    ("console_dashboard.html", include_str!("../themes/default/console_dashboard.html")),
    ("console_confirm.html", include_str!("../themes/default/console_confirm.html")),
    ("console_secret.html", include_str!("../themes/default/console_secret.html")),
    ("console_message.html", include_str!("../themes/default/console_message.html")),
    ("console_accounts.html", include_str!("../themes/default/console_accounts.html")),
    ("console_account_new.html", include_str!("../themes/default/console_account_new.html")),
    ("console_account.html", include_str!("../themes/default/console_account.html")),
    ("console_opd.html", include_str!("../themes/default/console_opd.html")),
    ("console_roles.html", include_str!("../themes/default/console_roles.html")),
    ("console_applications.html", include_str!("../themes/default/console_applications.html")),
    ("console_application.html", include_str!("../themes/default/console_application.html")),
    ("console_requests.html", include_str!("../themes/default/console_requests.html")),
    ("console_request_form.html", include_str!("../themes/default/console_request_form.html")),
    ("console_request.html", include_str!("../themes/default/console_request.html")),
    ("console_audit.html", include_str!("../themes/default/console_audit.html")),
    ("console_identity_form.html", include_str!("../themes/default/console_identity_form.html")),
    ("console_verification.html", include_str!("../themes/default/console_verification.html")),
    ("console_certificates.html", include_str!("../themes/default/console_certificates.html")),
    ("console_reset_link.html", include_str!("../themes/default/console_reset_link.html")),
    ("mail/test.txt", include_str!("../themes/default/mail/test.txt")),
    ("password_link.html", include_str!("../themes/default/password_link.html")),
    ("link_reset_done.html", include_str!("../themes/default/link_reset_done.html")),
    ("link_activated.html", include_str!("../themes/default/link_activated.html")),
    ("forgot.html", include_str!("../themes/default/forgot.html")),
    ("mail/reset.txt", include_str!("../themes/default/mail/reset.txt")),
    ("mail/activation.txt", include_str!("../themes/default/mail/activation.txt")),
    ("register.html", include_str!("../themes/default/register.html")),
    ("register_message.html", include_str!("../themes/default/register_message.html")),
    ("mail/registration.txt", include_str!("../themes/default/mail/registration.txt")),
    ("mail/registration_exists.txt", include_str!("../themes/default/mail/registration_exists.txt")),
    ("mail/verify_email.txt", include_str!("../themes/default/mail/verify_email.txt")),
    ("mail/notify_new_device.txt", include_str!("../themes/default/mail/notify_new_device.txt")),
    ("mail/notify_password_changed.txt", include_str!("../themes/default/mail/notify_password_changed.txt")),
    ("mail/notify_factor_added.txt", include_str!("../themes/default/mail/notify_factor_added.txt")),
    ("mail/notify_factor_removed.txt", include_str!("../themes/default/mail/notify_factor_removed.txt")),
    ("mail/notify_locked.txt", include_str!("../themes/default/mail/notify_locked.txt")),
    ("mail/notify_second_factor_guessed.txt", include_str!("../themes/default/mail/notify_second_factor_guessed.txt")),
    ("mail/notify_email_changed.txt", include_str!("../themes/default/mail/notify_email_changed.txt")),
    ("mail/cm_notice_expiring.txt", include_str!("../themes/default/mail/cm_notice_expiring.txt")),
    ("mail/cm_notice_expired.txt", include_str!("../themes/default/mail/cm_notice_expired.txt")),
    ("mail/cm_notice_revoked.txt", include_str!("../themes/default/mail/cm_notice_revoked.txt")),
    ("mail/cm_notice_failing.txt", include_str!("../themes/default/mail/cm_notice_failing.txt")),
    ("static/console.css", include_str!("../themes/default/static/console.css")),
    ("static/style.css", include_str!("../themes/default/static/style.css")),
    ("static/webauthn.js", include_str!("../themes/default/static/webauthn.js")),
    ("static/theme.css", include_str!("../themes/default/static/theme.css")),
    ("locales/id.json", include_str!("../themes/default/locales/id.json")),
    ("locales/en.json", include_str!("../themes/default/locales/en.json")),
];

/// One locale's translations, as a template value and as plain strings for server-side messages.
type Translations = (Value, Arc<HashMap<String, String>>);

pub struct Themes {
    env: Environment<'static>,
    strings: HashMap<&'static str, Translations>,
    static_files: HashMap<String, Arc<Vec<u8>>>,
}

/// The first existing file among the chosen theme, the default theme, and the built-in copy.
fn read_layered(dirs: &[PathBuf], name: &str) -> Option<String> {
    for d in dirs {
        if let Ok(s) = std::fs::read_to_string(d.join(name)) {
            return Some(s);
        }
    }
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, s)| (*s).to_string())
}

impl Themes {
    pub fn load(themes_dir: &Path, theme: &str) -> anyhow::Result<Themes> {
        let mut dirs = vec![themes_dir.join(theme)];
        if theme != "default" {
            dirs.push(themes_dir.join("default"));
        }
        let mut env = Environment::new();
        // An absent value (a form field never filled, an optional fact) prints as nothing, never
        // as the word "none" inside a page or a pre-filled input.
        env.set_formatter(
            |out, state, value| {
                if value.is_none() {
                    Ok(())
                } else {
                    minijinja::escape_formatter(out, state, value)
                }
            },
        );
        for (name, _) in EMBEDDED.iter().filter(|(n, _)| n.ends_with(".html") || n.ends_with(".txt")) {
            let src = read_layered(&dirs, name).ok_or_else(|| anyhow::anyhow!("template {name} missing"))?;
            env.add_template_owned(name.to_string(), src).map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
        }
        // Translations merge key by key: a theme lists only the strings it changes.
        let mut strings = HashMap::new();
        for loc in LOCALES {
            let name = format!("locales/{loc}.json");
            let mut map: HashMap<String, String> = HashMap::new();
            let mut layers: Vec<(String, String)> = Vec::new();
            if let Some((_, s)) = EMBEDDED.iter().find(|(n, _)| *n == name) {
                layers.push(("built-in".into(), (*s).to_string()));
            }
            for d in dirs.iter().rev() {
                if let Ok(s) = std::fs::read_to_string(d.join(&name)) {
                    layers.push((d.join(&name).display().to_string(), s));
                }
            }
            for (origin, text) in layers {
                let layer: HashMap<String, String> =
                    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
                map.extend(layer);
            }
            strings.insert(*loc, (Value::from_serialize(&map), Arc::new(map)));
        }
        let mut static_files = HashMap::new();
        for (name, _) in EMBEDDED.iter().filter(|(n, _)| n.starts_with("static/")) {
            if let Some(s) = read_layered(&dirs, name) {
                static_files.insert(name.trim_start_matches("static/").to_string(), Arc::new(s.into_bytes()));
            }
        }
        Ok(Themes { env, strings, static_files })
    }

    /// `id` or `en`; anything else falls back to Indonesian.
    pub fn locale(&self, wanted: &str) -> &'static str {
        LOCALES.iter().copied().find(|l| *l == wanted).unwrap_or("id")
    }

    /// One translated string, for messages assembled on the server.
    pub fn text(&self, locale: &str, key: &str) -> String {
        self.strings.get(self.locale(locale)).and_then(|(_, m)| m.get(key).cloned()).unwrap_or_else(|| key.to_string())
    }

    /// Renders a page with `t` (translations) and `lang` added to `ctx`.
    pub fn render(&self, name: &str, locale: &str, ctx: Value) -> Result<String, minijinja::Error> {
        let loc = self.locale(locale);
        let t = self.strings.get(loc).map(|(v, _)| v.clone()).unwrap_or_default();
        let tmpl = self.env.get_template(name)?;
        tmpl.render(minijinja::context! { t => t, lang => loc, ..ctx })
    }

    pub fn static_file(&self, name: &str) -> Option<Arc<Vec<u8>>> {
        self.static_files.get(name).cloned()
    }
}

/// Picks the page language: `ui_locales` first (OIDC Core §3.1.2.1), then Accept-Language,
/// then the configured default.
pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>, default: &str) -> &'static str {
    let pick = |tag: &str| {
        let primary = tag.split(['-', '_']).next().unwrap_or("").trim().to_ascii_lowercase();
        LOCALES.iter().copied().find(|l| *l == primary)
    };
    if let Some(ui) = ui_locales {
        if let Some(l) = ui.split(' ').find_map(pick) {
            return l;
        }
    }
    if let Some(al) = accept_language {
        let mut tags: Vec<(f32, &str)> = al
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
                Some((q, tag))
            })
            .collect();
        tags.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        if let Some(l) = tags.iter().filter(|(q, _)| *q > 0.0).find_map(|(_, t)| pick(t)) {
            return l;
        }
    }
    LOCALES.iter().copied().find(|l| *l == default).unwrap_or("id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_order() {
        assert_eq!(negotiate(Some("en-US id"), Some("id"), "id"), "en");
        assert_eq!(negotiate(None, Some("fr;q=1, en;q=0.8, id;q=0.5"), "id"), "en");
        assert_eq!(negotiate(None, Some("fr"), "id"), "id");
        assert_eq!(negotiate(Some("xx"), None, "en"), "en");
    }

    #[test]
    fn embedded_theme_renders_in_both_languages() {
        let th = Themes::load(Path::new("/nonexistent"), "default").unwrap();
        let id = th.render("error.html", "id", minijinja::context! { title => "x", message => "<b>" }).unwrap();
        assert!(id.contains("lang=\"id\""));
        assert!(id.contains("&lt;b&gt;"));
        let en = th.render("logged_out.html", "en", minijinja::context! {}).unwrap();
        assert!(en.contains("lang=\"en\""));
        assert_ne!(th.text("id", "login_submit"), th.text("en", "login_submit"));
    }

    #[test]
    fn a_region_theme_overrides_only_what_it_has() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/themes");
        let th = Themes::load(Path::new(dir), "jember").unwrap();
        assert!(th.text("id", "tagline").contains("Jember"), "overridden string");
        assert_eq!(th.text("id", "login_submit"), "Masuk", "other strings fall back to the default theme");
        let css = String::from_utf8(th.static_file("theme.css").unwrap().to_vec()).unwrap();
        assert!(css.contains("--c-primary"), "the region's colours");
        assert!(th.static_file("style.css").is_some(), "the default stylesheet still served");
        let page = th
            .render("login.html", "id", minijinja::context! { csrf => "x", login_id => "y", action => "/login" })
            .unwrap();
        assert!(page.contains("Kabupaten Jember"));
        let plain = Themes::load(Path::new(dir), "default").unwrap();
        assert!(!plain.text("id", "tagline").contains("Jember"));
    }
}
