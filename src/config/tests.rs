//! Layering, validation and secret files of the configuration.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_are_usable() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert_eq!(c.issuer, "http://localhost:8080");
    assert!(c.database_url.expose().starts_with("sqlite://"));
    assert!(c.redis_url.is_none());
    assert_eq!(c.default_locale, "id");
    assert_eq!(c.utc_offset_minutes, 420);
}

#[test]
fn utc_offset_is_layered_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gerbang.toml");
    std::fs::write(&path, "utc_offset_minutes = 480\n").unwrap();
    assert_eq!(Config::load(Some(&path), &env(&[])).unwrap().utc_offset_minutes, 480);
    let c = Config::load(Some(&path), &env(&[("GERBANG_UTC_OFFSET_MINUTES", "540")])).unwrap();
    assert_eq!(c.utc_offset_minutes, 540);
    assert_eq!(Config::load(None, &env(&[("GERBANG_UTC_OFFSET_MINUTES", "-720")])).unwrap().utc_offset_minutes, -720);
    for bad in ["841", "-721", "WIB", "7.5"] {
        let e = Config::load(None, &env(&[("GERBANG_UTC_OFFSET_MINUTES", bad)])).unwrap_err();
        assert_eq!(e.setting, "utc_offset_minutes", "{bad}");
        assert_eq!(e.source_name, "GERBANG_UTC_OFFSET_MINUTES");
    }
}

#[test]
fn env_overrides_file_and_file_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gerbang.toml");
    std::fs::write(&path, "bind = \"127.0.0.1:9000\"\naccess_token_ttl = 120\n").unwrap();
    let c = Config::load(Some(&path), &env(&[("GERBANG_ACCESS_TOKEN_TTL", "30")])).unwrap();
    assert_eq!(c.bind.port(), 9000);
    assert_eq!(c.access_token_ttl, 30);
    assert_eq!(c.issuer, "http://localhost:9000");
}

#[test]
fn file_variants_read_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("db");
    std::fs::write(&secret, "postgres://u:p@db/gerbang\n").unwrap();
    let c = Config::load(None, &env(&[("GERBANG_DATABASE_URL_FILE", secret.to_str().unwrap())])).unwrap();
    assert_eq!(c.database_url.expose(), "postgres://u:p@db/gerbang");
    assert_eq!(format!("{:?}", c.database_url), "[redacted]");
}

#[test]
fn trusted_proxy_ranges() {
    let c = Config::load(None, &env(&[("GERBANG_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.5")])).unwrap();
    assert!(c.trusted_proxies[0].contains("10.2.3.4".parse().unwrap()));
    assert!(c.trusted_proxies[0].contains("::ffff:10.2.3.4".parse().unwrap()));
    assert!(!c.trusted_proxies[0].contains("11.0.0.1".parse().unwrap()));
    assert!(c.trusted_proxies[1].contains("192.168.1.5".parse().unwrap()));
    assert!(!c.trusted_proxies[1].contains("192.168.1.6".parse().unwrap()));
    let e = Config::load(None, &env(&[("GERBANG_TRUSTED_PROXIES", "10.0.0.0/33")])).unwrap_err();
    assert_eq!(e.setting, "trusted_proxies");
}

#[test]
fn a_public_issuer_names_its_redirect_domains_or_allows_any_explicitly() {
    let public = ("GERBANG_ISSUER", "https://sso.jemberkab.go.id");
    let e = Config::load(None, &env(&[public])).unwrap_err();
    assert_eq!(e.setting, "redirect_domains");
    assert!(e.message.contains("\"*\""), "{}", e.message);
    let c = Config::load(None, &env(&[public, ("GERBANG_REDIRECT_DOMAINS", "*")])).unwrap();
    assert!(c.redirect_domains.is_empty());
    assert!(!c.local_issuer());
    let c = Config::load(None, &env(&[public, ("GERBANG_REDIRECT_DOMAINS", "*.jemberkab.go.id")])).unwrap();
    assert_eq!(c.redirect_domains, vec!["*.jemberkab.go.id".to_string()]);
    let e = Config::load(None, &env(&[public, ("GERBANG_REDIRECT_DOMAINS", "*, jemberkab.go.id")])).unwrap_err();
    assert_eq!(e.setting, "redirect_domains");
    for local in ["http://localhost:8080", "http://127.0.0.1:9000", "http://[::1]:8080", "https://localhost"] {
        let c = Config::load(None, &env(&[("GERBANG_ISSUER", local)])).unwrap();
        assert!(c.local_issuer(), "{local}");
    }
}

#[test]
fn invalid_settings_name_the_setting() {
    let e = Config::load(None, &env(&[("GERBANG_BIND", "nope")])).unwrap_err();
    assert_eq!(e.setting, "bind");
    assert_eq!(e.source_name, "GERBANG_BIND");
    let e = Config::load(None, &env(&[("GERBANG_ISSUER", "http://sso.example.go.id")])).unwrap_err();
    assert_eq!(e.setting, "issuer");
    let e = Config::load(None, &env(&[("GERBANG_ACCESS_TOKEN_TTL", "-5")])).unwrap_err();
    assert_eq!(e.setting, "access_token_ttl");
    let e = Config::load(None, &env(&[("GERBANG_REDIS_URL", "localhost:6379")])).unwrap_err();
    assert_eq!(e.setting, "redis_url");
    let c = Config::load(None, &env(&[("GERBANG_REDIS_URL", "rediss://cache:6380")])).unwrap();
    assert_eq!(c.redis.connect_timeout_ms, 1000);
    assert_eq!(c.redis.command_timeout_ms, 500);
    let e = Config::load(None, &env(&[("GERBANG_REDIS_COMMAND_TIMEOUT_MS", "0")])).unwrap_err();
    assert_eq!(e.setting, "redis_command_timeout_ms");
    let e = Config::load(None, &env(&[("GERBANG_REDIS_SENTINELS", "a:26379")])).unwrap_err();
    assert_eq!(e.setting, "redis_sentinel_master");
    let e = Config::load(None, &env(&[("GERBANG_REDIS_SENTINELS", "a"), ("GERBANG_REDIS_SENTINEL_MASTER", "m")]))
        .unwrap_err();
    assert_eq!(e.setting, "redis_sentinels");
    let e = Config::load(None, &env(&[("GERBANG_MASTER_KEY", "short")])).unwrap_err();
    assert_eq!(e.setting, "master_key");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gerbang.toml");
    std::fs::write(&path, "isuer = \"https://x\"\n").unwrap();
    let e = Config::load(Some(&path), &env(&[])).unwrap_err();
    assert_eq!(e.setting, "isuer");
    assert!(e.to_string().contains("unknown setting"));
}

#[test]
fn smtp_is_off_by_default_and_checked_when_on() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert!(c.smtp.is_none());
    assert_eq!(c.mail_from, "Gerbang <noreply@localhost>");
    assert!(!c.citizen_registration);
    let c = Config::load(None, &env(&[("GERBANG_SMTP_HOST", "mail.jemberkab.go.id")])).unwrap();
    let smtp = c.smtp.unwrap();
    assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::StartTls));
    let c =
        Config::load(None, &env(&[("GERBANG_SMTP_HOST", "mail.x.go.id"), ("GERBANG_SMTP_SECURITY", "tls")])).unwrap();
    assert_eq!(c.smtp.unwrap().port, 465);
    let e = Config::load(None, &env(&[("GERBANG_SMTP_HOST", "mail.x.go.id"), ("GERBANG_SMTP_SECURITY", "none")]))
        .unwrap_err();
    assert_eq!(e.setting, "smtp_security");
    let c = Config::load(
        None,
        &env(&[("GERBANG_SMTP_HOST", "127.0.0.1"), ("GERBANG_SMTP_SECURITY", "none"), ("GERBANG_SMTP_PORT", "2525")]),
    )
    .unwrap();
    assert_eq!(c.smtp.unwrap().port, 2525);
    let e =
        Config::load(None, &env(&[("GERBANG_SMTP_HOST", "m.x.go.id"), ("GERBANG_SMTP_USERNAME", "sso")])).unwrap_err();
    assert_eq!(e.setting, "smtp_username");
    let e = Config::load(None, &env(&[("GERBANG_MAIL_FROM", "not an address")])).unwrap_err();
    assert_eq!(e.setting, "mail_from");
}

#[test]
fn the_smtp_password_comes_from_a_file_and_stays_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("smtp");
    std::fs::write(&secret, "rahasia-smtp\n").unwrap();
    let c = Config::load(
        None,
        &env(&[
            ("GERBANG_SMTP_HOST", "mail.x.go.id"),
            ("GERBANG_SMTP_USERNAME", "sso"),
            ("GERBANG_SMTP_PASSWORD_FILE", secret.to_str().unwrap()),
        ]),
    )
    .unwrap();
    let smtp = c.smtp.unwrap();
    assert_eq!(smtp.password.as_ref().unwrap().expose(), "rahasia-smtp");
    assert!(!format!("{smtp:?}").contains("rahasia"));
}

#[test]
fn a_setting_named_like_a_file_variant_is_taken_as_it_is() {
    // `redis_ca_file` is a path, not `redis_ca` read from a file.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let path = dir.path().join("gerbang.toml");
    let toml = format!("redis_url = \"rediss://cache:6380\"\nredis_ca_file = {:?}\n", ca.to_str().unwrap());
    std::fs::write(&path, toml).unwrap();
    let c = Config::load(Some(&path), &env(&[])).unwrap();
    assert_eq!(c.redis.ca_file.as_deref(), Some(ca.as_path()));
    // A `_file` variant of a setting that does not exist is still refused by its own name.
    std::fs::write(&path, "no_such_file = \"/x\"\n").unwrap();
    let e = Config::load(Some(&path), &env(&[])).unwrap_err();
    assert_eq!((e.setting.as_str(), e.message.as_str()), ("no_such_file", "unknown setting"));
}

/// A self-signed client certificate and its key, as PEM.
fn client_pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["gerbang".to_string()]).unwrap().self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// `redis_client_cert_file` and `redis_client_key_file` written into `dir` with these contents,
/// for a rediss:// Redis: the settings as environment variables.
fn client_cert_env(dir: &Path, cert: &str, key: &str) -> HashMap<String, String> {
    let (c, k) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    env(&[
        ("GERBANG_REDIS_URL", "rediss://cache:6380"),
        ("GERBANG_REDIS_CLIENT_CERT_FILE", c.to_str().unwrap()),
        ("GERBANG_REDIS_CLIENT_KEY_FILE", k.to_str().unwrap()),
    ])
}

#[test]
fn a_redis_client_certificate_is_read_from_toml_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = client_pair();
    let e = client_cert_env(dir.path(), &cert, &key);
    let c = Config::load(None, &e).unwrap();
    let cc = c.redis.client_cert.expect("client certificate");
    assert_eq!(cc.cert_file, dir.path().join("client.pem"));
    assert_eq!(cc.key_file, dir.path().join("client.key"));
    // In TOML the names are paths too, not `redis_client_cert` read from a file.
    let path = dir.path().join("gerbang.toml");
    let toml = format!(
        "redis_url = \"rediss://cache:6380\"\nredis_client_cert_file = {:?}\nredis_client_key_file = {:?}\n",
        e["GERBANG_REDIS_CLIENT_CERT_FILE"], e["GERBANG_REDIS_CLIENT_KEY_FILE"]
    );
    std::fs::write(&path, toml).unwrap();
    let c = Config::load(Some(&path), &env(&[])).unwrap();
    assert_eq!(c.redis.client_cert.unwrap().key_file, dir.path().join("client.key"));
    assert!(Config::load(None, &env(&[("GERBANG_REDIS_URL", "rediss://cache:6380")]))
        .unwrap()
        .redis
        .client_cert
        .is_none());
}

#[test]
fn a_redis_client_certificate_needs_both_files_and_rediss() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = client_pair();
    let full = client_cert_env(dir.path(), &cert, &key);
    let refused = |drop: &[&str], set: &[(&str, &str)]| {
        let mut e = full.clone();
        for d in drop {
            e.remove(*d);
        }
        e.extend(set.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let err = Config::load(None, &e).unwrap_err();
        (err.setting, err.message)
    };
    let (s, m) = refused(&["GERBANG_REDIS_CLIENT_KEY_FILE"], &[]);
    assert_eq!(s, "redis_client_key_file");
    assert!(m.contains("required with redis_client_cert_file"), "{m}");
    let (s, m) = refused(&["GERBANG_REDIS_CLIENT_CERT_FILE"], &[]);
    assert_eq!(s, "redis_client_cert_file");
    assert!(m.contains("required with redis_client_key_file"), "{m}");
    let missing = dir.path().join("nowhere.pem");
    let (s, m) = refused(&[], &[("GERBANG_REDIS_CLIENT_CERT_FILE", missing.to_str().unwrap())]);
    assert_eq!((s.as_str(), m), ("redis_client_cert_file", format!("no such file: {}", missing.display())));
    let (s, m) = refused(&[], &[("GERBANG_REDIS_CLIENT_KEY_FILE", missing.to_str().unwrap())]);
    assert_eq!((s.as_str(), m), ("redis_client_key_file", format!("no such file: {}", missing.display())));
    for url in [&[("GERBANG_REDIS_URL", "redis://cache:6379")][..], &[]] {
        let drop: &[&str] = if url.is_empty() { &["GERBANG_REDIS_URL"] } else { &[] };
        let (s, m) = refused(drop, url);
        assert_eq!(s, "redis_client_cert_file");
        assert!(m.starts_with("only used with a rediss:// redis_url"), "{m}");
    }
}

#[test]
fn a_redis_client_certificate_or_key_that_does_not_parse_is_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = client_pair();
    let (_, other_key) = client_pair();
    let refused = |cert: &str, key: &str| {
        let err = Config::load(None, &client_cert_env(dir.path(), cert, key)).unwrap_err();
        assert!(err.to_string().starts_with(&format!("invalid setting `{}`", err.setting)), "{err}");
        (err.setting, err.message)
    };
    let (s, m) = refused("not a certificate\n", &key);
    assert_eq!(s, "redis_client_cert_file");
    assert!(m.starts_with("no certificate (BEGIN CERTIFICATE) in "), "{m}");
    let damaged = cert.replace("-----END CERTIFICATE-----", "");
    let (s, m) = refused(&damaged, &key);
    assert_eq!(s, "redis_client_cert_file");
    assert!(m.ends_with("is not valid PEM: a section has no END line"), "{m}");
    // The files swapped: the certificate where the key should be.
    let (s, m) = refused(&cert, &cert);
    assert_eq!(s, "redis_client_key_file");
    assert!(m.ends_with(": no private key (BEGIN PRIVATE KEY, RSA or EC PRIVATE KEY)"), "{m}");
    // PKCS#8, then OpenSSL's older form with headers.
    let pkcs8 =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,F8EC\n\nAAAA\n\
                  -----END RSA PRIVATE KEY-----\n";
    for encrypted in [pkcs8, legacy] {
        let (s, m) = refused(&cert, encrypted);
        assert_eq!(s, "redis_client_key_file");
        assert!(m.contains("the key is encrypted"), "{m}");
    }
    let (s, m) = refused(&cert, &other_key);
    assert_eq!(s, "redis_client_key_file");
    assert!(m.ends_with("does not belong to the certificate in redis_client_cert_file"), "{m}");
    let garbage_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let (s, m) = refused(&cert, garbage_key);
    assert_eq!(s, "redis_client_key_file");
    assert!(m.contains("cannot be used with the certificate in redis_client_cert_file"), "{m}");
}

#[test]
fn the_next_master_key_is_layered_checked_and_redacted() {
    const OLD: &str = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    const NEW: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gerbang.toml");
    std::fs::write(&path, format!("master_key = {OLD:?}\nmaster_key_next = {NEW:?}\n")).unwrap();
    let c = Config::load(Some(&path), &env(&[])).unwrap();
    assert_eq!(c.keys.master_key_next.as_ref().unwrap().expose(), NEW);
    assert!(!format!("{c:?}").contains(NEW) && !format!("{c:?}").contains(OLD), "redacted");
    let file = dir.path().join("next");
    std::fs::write(&file, format!("{NEW}\n")).unwrap();
    let from_file = [("GERBANG_MASTER_KEY", OLD), ("GERBANG_MASTER_KEY_NEXT_FILE", file.to_str().unwrap())];
    let c = Config::load(None, &env(&from_file)).unwrap();
    assert_eq!(c.keys.master_key_next.unwrap().expose(), NEW);
    assert!(c.keys.master_key_previous.is_none());

    let refused = |pairs: &[(&str, &str)]| {
        let e = Config::load(None, &env(pairs)).unwrap_err();
        assert_eq!((e.setting.as_str(), e.source_name.as_str()), ("master_key_next", "GERBANG_MASTER_KEY_NEXT"));
        e.message
    };
    assert!(refused(&[("GERBANG_MASTER_KEY", OLD), ("GERBANG_MASTER_KEY_NEXT", "c2hvcnQ=")]).contains("32 bytes"));
    assert!(refused(&[("GERBANG_MASTER_KEY_NEXT", NEW)]).contains("needs master_key"));
    // The same key in another spelling of base64 is still the same key.
    let same = refused(&[("GERBANG_MASTER_KEY", OLD), ("GERBANG_MASTER_KEY_NEXT", OLD.trim_end_matches('='))]);
    assert!(same.contains("same key as master_key"), "{same}");
    let both = refused(&[
        ("GERBANG_MASTER_KEY", NEW),
        ("GERBANG_MASTER_KEY_PREVIOUS", OLD),
        ("GERBANG_MASTER_KEY_NEXT", "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M="),
    ]);
    assert!(both.contains("together with master_key_previous"), "{both}");
}
