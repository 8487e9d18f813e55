//! `[[upstream]]` tables: OpenID providers (BKN's SIASN, INApas, any other) whose logins Gerbang
//! accepts, matched to accounts by the NIP or NIK they assert. Read from `gerbang.toml`, or from
//! `GERBANG_UPSTREAM` (the same tables as TOML text) or a TOML file named by
//! `GERBANG_UPSTREAM_FILE`. Nothing here touches the network: discovery happens at the first login.

use std::collections::BTreeMap;

use super::{validate_issuer, ConfigError, Layered, Secret};

/// One upstream provider, checked.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// In URLs (`/upstream/<id>/callback`) and link records: `[a-z0-9_-]`, 1–32 characters.
    pub id: String,
    /// The login button's label, e.g. "SIASN BKN".
    pub name: String,
    /// Its discovery document is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub auth: ClientAuth,
    /// Always includes `openid`.
    pub scopes: Vec<String>,
    /// The claim holding the civil servant's NIP, if this upstream asserts one.
    pub nip_claim: Option<String>,
    /// The claim holding the citizen's NIK, if this upstream asserts one.
    pub nik_claim: Option<String>,
    pub name_claim: String,
    pub email_claim: Option<String>,
    /// The security level a login there gives at most (1–3).
    pub level: u8,
    /// The upstream's `acr` values mapped to Gerbang levels; a login gets the lower of this and
    /// `level`. With a map, an `acr` missing from it gives level 1.
    pub acr_map: BTreeMap<String, u8>,
    /// Whether a first login with an unknown (valid) NIP/NIK creates the account.
    pub create_accounts: bool,
}

/// How Gerbang authenticates at the upstream's token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `client_secret_basic`.
    Secret(Secret<String>),
    /// `private_key_jwt` (RFC 7523): an assertion signed with this PEM (PKCS#8) key.
    PrivateKey { pem: Secret<String>, alg: KeyAlg, kid: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    Es256,
    Rs256,
}

const KEYS: &[&str] = &[
    "id",
    "name",
    "issuer",
    "client_id",
    "client_secret",
    "client_secret_file",
    "private_key_file",
    "private_key_alg",
    "private_key_kid",
    "scopes",
    "nip_claim",
    "nik_claim",
    "name_claim",
    "email_claim",
    "level",
    "acr_map",
    "create_accounts",
];

/// The `upstream` setting: TOML text of the tables (`[[upstream]]` blocks, or the inline array
/// the file loader passes on).
pub(super) fn parse(l: &Layered) -> Result<Vec<Upstream>, ConfigError> {
    let Some(text) = l.string("upstream") else { return Ok(Vec::new()) };
    let doc = if text.trim_start().starts_with("[[") { text } else { format!("upstream = {text}") };
    let table: toml::Table = doc.parse().map_err(|e: toml::de::Error| l.err("upstream", e.message().to_string()))?;
    let Some(toml::Value::Array(items)) = table.get("upstream") else {
        return Err(l.err("upstream", "expected [[upstream]] tables"));
    };
    let mut out: Vec<Upstream> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let toml::Value::Table(t) = item else { return Err(l.err("upstream", "expected [[upstream]] tables")) };
        let u = one(t).map_err(|m| {
            let who = t.get("id").and_then(|v| v.as_str()).map(String::from).unwrap_or_else(|| format!("#{}", i + 1));
            l.err("upstream", format!("[[upstream]] {who}: {m}"))
        })?;
        if out.iter().any(|o| o.id == u.id) {
            return Err(l.err("upstream", format!("[[upstream]] {}: id used twice", u.id)));
        }
        out.push(u);
    }
    Ok(out)
}

fn string(t: &toml::Table, key: &str) -> Result<Option<String>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn required(t: &toml::Table, key: &str) -> Result<String, String> {
    string(t, key)?.ok_or_else(|| format!("`{key}` is required"))
}

fn parse_level(v: &toml::Value, what: &str) -> Result<u8, String> {
    match v.as_integer() {
        Some(n @ 1..=3) => Ok(n as u8),
        _ => Err(format!("{what} must be a level 1, 2 or 3")),
    }
}

fn read_file(key: &str, path: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|e| format!("`{key}`: cannot read `{path}`: {e}"))
}

fn one(t: &toml::Table) -> Result<Upstream, String> {
    if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown key `{k}`"));
    }
    let id = required(t, "id")?;
    let id_ok =
        id.len() <= 32 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !id_ok {
        return Err("`id` must be 1 to 32 characters of a-z, 0-9, - and _".into());
    }
    let issuer = validate_issuer(&required(t, "issuer")?).map_err(|m| format!("`issuer` {m}"))?;
    let secret = match (string(t, "client_secret")?, string(t, "client_secret_file")?) {
        (Some(s), None) => Some(s),
        (None, Some(path)) => Some(read_file("client_secret_file", &path)?),
        (None, None) => None,
        (Some(_), Some(_)) => return Err("give `client_secret` or `client_secret_file`, not both".into()),
    };
    let auth = match (secret, string(t, "private_key_file")?) {
        (Some(s), None) => ClientAuth::Secret(Secret::new(s)),
        (None, Some(path)) => {
            let alg = match string(t, "private_key_alg")?.as_deref() {
                None | Some("ES256") => KeyAlg::Es256,
                Some("RS256") => KeyAlg::Rs256,
                Some(other) => return Err(format!("`private_key_alg` must be ES256 or RS256, not `{other}`")),
            };
            let pem = Secret::new(read_file("private_key_file", &path)?);
            ClientAuth::PrivateKey { pem, alg, kid: string(t, "private_key_kid")? }
        }
        (None, None) => return Err("a client secret or `private_key_file` (private_key_jwt) is required".into()),
        (Some(_), Some(_)) => return Err("give a client secret or `private_key_file`, not both".into()),
    };
    let mut scopes: Vec<String> = match t.get("scopes") {
        None => vec!["openid".into()],
        Some(toml::Value::String(s)) => s.split_whitespace().map(String::from).collect(),
        Some(toml::Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(String::from).ok_or("`scopes` must hold strings"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`scopes` must be a list or a space-separated string".into()),
    };
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    let (nip_claim, nik_claim) = (string(t, "nip_claim")?, string(t, "nik_claim")?);
    if nip_claim.is_none() && nik_claim.is_none() {
        return Err("`nip_claim` or `nik_claim` is required: accounts are matched by NIP or NIK only".into());
    }
    let level = match t.get("level") {
        None => 1,
        Some(v) => parse_level(v, "`level`")?,
    };
    let mut acr_map = BTreeMap::new();
    match t.get("acr_map") {
        None => {}
        Some(toml::Value::Table(m)) => {
            for (acr, v) in m {
                acr_map.insert(acr.clone(), parse_level(v, &format!("`acr_map.{acr}`"))?);
            }
        }
        Some(_) => return Err("`acr_map` must be a table of acr value = level".into()),
    }
    let create_accounts = match t.get("create_accounts") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => return Err("`create_accounts` must be true or false".into()),
    };
    Ok(Upstream {
        name: string(t, "name")?.unwrap_or_else(|| id.clone()),
        id,
        issuer,
        client_id: required(t, "client_id")?,
        auth,
        scopes,
        nip_claim,
        nik_claim,
        name_claim: string(t, "name_claim")?.unwrap_or_else(|| "name".into()),
        email_claim: string(t, "email_claim")?,
        level,
        acr_map,
        create_accounts,
    })
}

impl Upstream {
    /// The level a login there gives: the lower of `level` and what its `acr` maps to.
    pub fn level_for(&self, acr: Option<&str>) -> u8 {
        if self.acr_map.is_empty() {
            return self.level;
        }
        let mapped = acr.and_then(|a| self.acr_map.get(a).copied()).unwrap_or(1);
        mapped.min(self.level)
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A valid upstream for tests of the modules that use one.
    pub fn sample() -> Upstream {
        Upstream {
            id: "siasn".into(),
            name: "SIASN".into(),
            issuer: "https://idp.example.go.id".into(),
            client_id: "gerbang".into(),
            auth: ClientAuth::Secret(Secret::new("s".into())),
            scopes: vec!["openid".into()],
            nip_claim: Some("nip".into()),
            nik_claim: None,
            name_claim: "name".into(),
            email_claim: None,
            level: 1,
            acr_map: BTreeMap::new(),
            create_accounts: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::Config;
    use super::*;

    fn load(toml_text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile_dir();
        let path = dir.join("gerbang.toml");
        std::fs::write(&path, toml_text).expect("write");
        let mut env = HashMap::new();
        env.insert("GERBANG_DATA_DIR".to_string(), dir.display().to_string());
        Config::load(Some(&path), &env)
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gerbang-upstream-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn tables_are_read_and_levels_combine() {
        let c = load(
            r#"
[[upstream]]
id = "siasn"
name = "SIASN BKN"
issuer = "https://sso-siasn.bkn.go.id/auth/realms/public-siasn/"
client_id = "gerbang-jember"
client_secret = "rahasia"
scopes = ["openid", "profile"]
nip_claim = "nip"
level = 2
acr_map = { "urn:bkn:loa:1" = 1, "urn:bkn:loa:2" = 3 }
create_accounts = true

[[upstream]]
id = "inapas"
issuer = "https://inapas.go.id"
client_id = "x"
client_secret = "y"
scopes = "openid nik"
nik_claim = "nik"
"#,
        )
        .expect("config");
        assert_eq!(c.upstreams.len(), 2);
        let s = &c.upstreams[0];
        assert_eq!(s.issuer, "https://sso-siasn.bkn.go.id/auth/realms/public-siasn");
        assert_eq!(s.level_for(Some("urn:bkn:loa:2")), 2, "never above `level`");
        assert_eq!(s.level_for(Some("urn:bkn:loa:1")), 1);
        assert_eq!(s.level_for(Some("other")), 1);
        assert_eq!(s.level_for(None), 1);
        let i = &c.upstreams[1];
        assert_eq!(i.name, "inapas");
        assert_eq!(i.scopes, vec!["openid", "nik"]);
        assert_eq!(i.level_for(None), 1);
        assert!(!i.create_accounts);
        assert!(!format!("{s:?}").contains("rahasia"), "secrets never printed");
    }

    #[test]
    fn bad_tables_are_refused_with_the_setting_named() {
        let base = "id = \"a\"\nissuer = \"https://idp.example.go.id\"\nclient_id = \"c\"\n";
        for (extra, needle) in [
            ("client_secret = \"s\"\n", "nip_claim"),
            ("nip_claim = \"nip\"\n", "client secret"),
            ("client_secret = \"s\"\nnip_claim = \"nip\"\nlevel = 4\n", "level"),
            ("client_secret = \"s\"\nnip_claim = \"nip\"\nfoo = 1\n", "unknown key `foo`"),
            ("client_secret = \"s\"\nnip_claim = \"nip\"\nprivate_key_file = \"/x\"\n", "not both"),
        ] {
            let e = load(&format!("[[upstream]]\n{base}{extra}")).expect_err(extra);
            assert_eq!(e.setting, "upstream");
            assert!(e.message.contains(needle), "{extra}: {}", e.message);
        }
        let e = load("[[upstream]]\nid = \"a\"\nissuer = \"http://idp.example.go.id\"\nclient_id = \"c\"\nclient_secret = \"s\"\nnip_claim = \"n\"\n")
            .expect_err("http");
        assert!(e.message.contains("issuer"), "{}", e.message);
    }
}
