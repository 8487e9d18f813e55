//! What a token or the userinfo endpoint says about a person, decided by the granted scopes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::has_scope;
use crate::identity::accounts::{Account, AccountKind};
use crate::identity::opd::{self, OpdClaim};
use crate::identity::{profile, roles, wilayah};
use crate::store::certs::CertRow;
use crate::store::roles::RoleRow;
use crate::store::{Db, StoreError};

/// Subject identifiers: the account id, or for pairwise applications a keyed hash of the
/// application and the account, stable across logins but different per application so that
/// third parties (banks, insurers) cannot correlate people between them (OIDC Core §8.1).
///
/// The `sid` and `auth_time` of one login would link the two subjects again, so pairwise
/// applications get a per-application `sid` too (a keyed hash under a key of its own, recomputed
/// from the browser's session at logout) and an `auth_time` rounded down to the hour.
pub struct Subjects {
    subjects: aws_lc_rs::hmac::Key,
    sids: aws_lc_rs::hmac::Key,
}

/// The precision of `auth_time` for pairwise applications, in seconds. Rounded down, so it never
/// claims a login fresher than it was; `max_age` is enforced here on the exact time.
pub const PAIRWISE_AUTH_TIME_PRECISION: i64 = 3600;

impl Subjects {
    pub fn new(secret: [u8; 32]) -> Subjects {
        let subjects = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        // A key of its own for session ids, so no session id can ever equal some subject.
        let sid_key = aws_lc_rs::hmac::sign(&subjects, b"gerbang pairwise sid v1");
        let sids = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, sid_key.as_ref());
        Subjects { subjects, sids }
    }

    pub fn for_client(&self, client: &super::clients::Client, account_id: &str) -> String {
        if !client.pairwise {
            return account_id.to_string();
        }
        let msg = format!("{}\n{}", client.id, account_id);
        crate::crypto::b64url(aws_lc_rs::hmac::sign(&self.subjects, msg.as_bytes()).as_ref())
    }

    /// The `sid` an application is told for the single sign-on session `sid`.
    pub fn sid_for_client(&self, client: &super::clients::Client, sid: &str) -> String {
        if !client.pairwise {
            return sid.to_string();
        }
        let msg = format!("{}\n{}", client.id, sid);
        crate::crypto::b64url(aws_lc_rs::hmac::sign(&self.sids, msg.as_bytes()).as_ref())
    }

    /// The `auth_time` an application is told for a login at `auth_time`.
    pub fn auth_time_for_client(&self, client: &super::clients::Client, auth_time: i64) -> i64 {
        if !client.pairwise {
            return auth_time;
        }
        auth_time - auth_time.rem_euclid(PAIRWISE_AUTH_TIME_PRECISION)
    }
}

/// Claims of our JWT access tokens (RFC 9068 profile).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant the token was issued under; revoking the grant revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_level: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_roles: Option<Vec<String>>,
}

/// A person with what claims are made of: account, OPD unit, effective roles and, when the
/// caller looked it up, the signer binding held now.
#[derive(Debug, Clone)]
pub struct Person {
    pub account: Account,
    pub opd: Option<OpdClaim>,
    pub roles: Vec<RoleRow>,
    /// The binding that makes the person a transaction signer now (role `signer`, claim
    /// `cert`); `None` when they hold none or it was not looked up.
    pub signer: Option<CertRow>,
}

/// The global role held exactly while the account has a signer binding. Computed at each use,
/// never stored, so an expiry or revocation takes it away at once; no stored role may take the
/// name.
pub const SIGNER_ROLE: &str = "signer";

impl Person {
    pub async fn load(db: &Db, account: Account) -> Result<Person, StoreError> {
        let opd = match &account.opd_id {
            Some(id) => opd::claim(db, id).await?,
            None => None,
        };
        let roles = roles::effective(db, &account.id).await?;
        Ok(Person { account, opd, roles, signer: None })
    }

    /// For userinfo: the unit's claim and the inherited roles from the directory snapshot when
    /// it knows the unit and every role in `direct` (the account's own role ids, read with the
    /// token's check), else as [`Person::load`]; the signer binding held at `now` when
    /// `with_signer`.
    pub async fn load_live(
        st: &super::Provider<'_>,
        account: Account,
        direct: &[&str],
        with_signer: bool,
        now: i64,
    ) -> Result<Person, StoreError> {
        let mut p = match st.directory.resolve(st.db, account.opd_id.as_deref(), direct).await? {
            Some(known) => Person { account, opd: known.opd, roles: known.roles, signer: None },
            None => Person::load(st.db, account).await?,
        };
        if with_signer {
            p.signer = st.signers.signer(&p.account.id, now).await?;
        }
        Ok(p)
    }

    /// [`Person::load`] with the signer binding the account holds at `now`.
    pub async fn load_with_signer(st: &super::Provider<'_>, account: Account, now: i64) -> Result<Person, StoreError> {
        let mut p = Person::load(st.db, account).await?;
        p.signer = st.signers.signer(&p.account.id, now).await?;
        Ok(p)
    }

    pub fn global_roles(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.roles.iter().filter(|r| r.is_global() && r.name != SIGNER_ROLE).map(|r| r.name.clone()).collect();
        if self.signer.is_some() {
            out.push(SIGNER_ROLE.into());
        }
        out
    }

    pub fn app_roles(&self, client_id: &str) -> Vec<String> {
        self.roles.iter().filter(|r| r.client_id.as_deref() == Some(client_id)).map(|r| r.name.clone()).collect()
    }

    /// Role ids relevant to one application (its own and the global ones), recorded on the
    /// grant so that removing one of them can revoke the tokens that carried it.
    pub fn role_ids_for(&self, client_id: &str) -> String {
        self.roles.iter().filter(|r| r.applies_to(client_id)).map(|r| r.id.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// Holds at least one of `required` (names of the application's or global roles).
    pub fn holds_any(&self, client_id: &str, required: &[String]) -> bool {
        required.is_empty()
            || (self.signer.is_some() && required.iter().any(|r| r == SIGNER_ROLE))
            || self.roles.iter().any(|r| r.applies_to(client_id) && r.name != SIGNER_ROLE && required.contains(&r.name))
    }
}

/// The `cert` claim (scope `signer`): which certificate makes the person a signer. `x5t#S256`
/// is the base64url SHA-256 of the certificate's DER, as in RFC 7515 §4.1.8 and RFC 8705, so
/// an application can match a signature's certificate to the login. Only a signer binding is
/// released, so `status` is always `valid`; without one the claim is left out.
pub fn cert_claim(c: &CertRow) -> Value {
    let der = x509_parser::pem::parse_x509_pem(c.pem.as_bytes()).ok().map(|(_, p)| p.contents);
    let digest = match der {
        Some(der) => crate::crypto::sha256(&der).to_vec(),
        None => hex_bytes(&c.fingerprint).unwrap_or_default(),
    };
    json!({
        "x5t#S256": crate::crypto::b64url(&digest),
        "serial": c.serial.to_ascii_lowercase(),
        "issuer": c.issuer,
        "not_after": c.not_after,
        "status": "valid",
    })
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2).map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

fn region(nik: &str) -> Option<Value> {
    let part = |len: usize| {
        let code = nik.get(..len)?;
        wilayah::lookup(code).map(|r| json!({ "code": r.code, "name": r.name }))
    };
    Some(json!({ "province": part(2)?, "regency": part(4), "district": part(6) }))
}

/// Claims about the person released under `scope` to `client_id`, for ID tokens and userinfo.
/// `nip` and `nik` only with their own scopes.
pub fn person_claims(p: &Person, client_id: &str, scope: &str, level: u8) -> Map<String, Value> {
    let a = &p.account;
    let mut m = Map::new();
    m.insert("sub".into(), a.id.clone().into());
    m.insert("security_level".into(), level.into());
    if has_scope(scope, "profile") {
        m.insert("name".into(), a.name.clone().into());
        m.insert("account_type".into(), a.kind.as_str().into());
    }
    if has_scope(scope, "nip") {
        if let Some(nip) = &a.nip {
            m.insert("nip".into(), nip.clone().into());
        }
    }
    if has_scope(scope, "nik") {
        if let Some(nik) = &a.nik {
            m.insert("nik".into(), nik.clone().into());
        }
    }
    if has_scope(scope, "opd") {
        if let Some(o) = &p.opd {
            m.insert("opd".into(), json!(o));
        }
    }
    if has_scope(scope, "roles") {
        m.insert("roles".into(), p.global_roles().into());
        m.insert("app_roles".into(), p.app_roles(client_id).into());
    }
    if has_scope(scope, "signer") {
        if let Some(c) = &p.signer {
            m.insert("cert".into(), cert_claim(c));
        }
    }
    // An address counts as verified only once its owner followed a link mailed to it.
    if has_scope(scope, "email") {
        if let Some(email) = &a.email {
            m.insert("email".into(), email.clone().into());
            m.insert("email_verified".into(), a.email_verified.into());
        }
    }
    if has_scope(scope, "phone") {
        if let Some(phone) = &a.phone_number {
            m.insert("phone_number".into(), phone.clone().into());
            // There is no SMS: no number is ever proven.
            m.insert("phone_number_verified".into(), false.into());
        }
    }
    if has_scope(scope, "asn_profile") && a.kind == AccountKind::Asn {
        m.extend(profile::released(&a.profile, "asn_profile"));
    }
    if has_scope(scope, "citizen_profile") && a.kind == AccountKind::Citizen {
        m.extend(profile::released(&a.profile, "citizen_profile"));
        if let Some(email) = &a.email {
            m.insert("email".into(), email.clone().into());
            m.insert("email_verified".into(), a.email_verified.into());
        }
        if let Some(phone) = &a.phone_number {
            m.insert("phone_number".into(), phone.clone().into());
        }
        if let Some(r) = a.nik.as_deref().and_then(region) {
            m.insert("region".into(), r);
        }
        if !m.contains_key("verified") {
            m.insert("verified".into(), false.into());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(kind: AccountKind) -> Person {
        let mut profile = Map::new();
        profile.insert("jabatan".into(), "Analis".into());
        Person {
            account: Account {
                id: "u1".into(),
                kind,
                nip: Some("198001012006041001".into()),
                nik: Some("3509014101800001".into()),
                name: "Budi".into(),
                is_admin: false,
                status: crate::identity::accounts::AccountStatus::Active,
                opd_id: None,
                email: None,
                email_verified: false,
                phone_number: None,
                locale: None,
                profile,
            },
            opd: Some(OpdClaim {
                code: "1.02".into(),
                name: "Dinas Kesehatan".into(),
                kind: "dinas".into(),
                path: vec!["Dinas Kesehatan".into()],
            }),
            roles: vec![
                RoleRow {
                    id: "r1".into(),
                    client_id: None,
                    name: "auditor".into(),
                    description: "".into(),
                    created_at: 0,
                },
                RoleRow {
                    id: "r2".into(),
                    client_id: Some("simpeg".into()),
                    name: "operator".into(),
                    description: "".into(),
                    created_at: 0,
                },
                RoleRow {
                    id: "r3".into(),
                    client_id: Some("other".into()),
                    name: "admin".into(),
                    description: "".into(),
                    created_at: 0,
                },
            ],
            signer: None,
        }
    }

    #[test]
    fn each_claim_needs_its_scope() {
        let p = person(AccountKind::Asn);
        let c = person_claims(&p, "simpeg", "openid", 1);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c["security_level"], 1);
        let c = person_claims(&p, "simpeg", "openid profile nip roles opd asn_profile", 1);
        assert_eq!(c["name"], "Budi");
        assert_eq!(c["nip"], "198001012006041001");
        assert!(!c.contains_key("nik"));
        assert_eq!(c["roles"], json!(["auditor"]));
        assert_eq!(c["app_roles"], json!(["operator"]), "only this application's roles");
        assert_eq!(c["opd"]["code"], "1.02");
        assert_eq!(c["jabatan"], "Analis");
        assert!(!c.contains_key("region"), "citizen claims are not for civil servants");
        assert_eq!(p.role_ids_for("simpeg"), "r1 r2");
        assert!(p.holds_any("simpeg", &["operator".into()]));
        assert!(!p.holds_any("simpeg", &["admin".into()]));
    }

    #[test]
    fn citizen_claims_carry_the_region_from_the_nik() {
        let p = person(AccountKind::Citizen);
        let c = person_claims(&p, "x", "openid citizen_profile", 1);
        assert_eq!(c["region"]["province"]["code"], "35");
        assert_eq!(c["region"]["regency"]["code"], "3509");
        assert_eq!(c["verified"], false);
        assert!(!c.contains_key("jabatan"));
        assert!(!c.contains_key("email"), "no address, no claim");
    }

    #[test]
    fn contact_claims_say_whether_they_are_proven() {
        let mut p = person(AccountKind::Asn);
        p.account.email = Some("budi@jemberkab.go.id".into());
        p.account.phone_number = Some("+6281234567890".into());
        let c = person_claims(&p, "x", "openid", 1);
        assert!(!c.contains_key("email") && !c.contains_key("phone_number"));
        let c = person_claims(&p, "x", "openid email phone", 1);
        assert_eq!(c["email"], "budi@jemberkab.go.id");
        assert_eq!(c["email_verified"], false);
        assert_eq!(c["phone_number"], "+6281234567890");
        assert_eq!(c["phone_number_verified"], false);
        p.account.email_verified = true;
        assert_eq!(person_claims(&p, "x", "openid email", 1)["email_verified"], true);
        let mut q = person(AccountKind::Citizen);
        q.account.email = Some("warga@contoh.id".into());
        let c = person_claims(&q, "x", "openid citizen_profile", 1);
        assert_eq!((&c["email"], &c["email_verified"]), (&json!("warga@contoh.id"), &json!(false)));
    }

    #[test]
    fn the_signer_role_and_the_cert_claim_come_only_from_a_signer_binding() {
        let mut p = person(AccountKind::Asn);
        // A stored role of the reserved name (made before it was reserved) grants nothing.
        p.roles.push(RoleRow {
            id: "r4".into(),
            client_id: None,
            name: SIGNER_ROLE.into(),
            description: "".into(),
            created_at: 0,
        });
        assert_eq!(p.global_roles(), vec!["auditor".to_string()]);
        assert!(!p.holds_any("simpeg", &[SIGNER_ROLE.into()]));
        let c = person_claims(&p, "simpeg", "openid roles signer", 3);
        assert!(!c.contains_key("cert"), "no binding, no claim");

        let der = b"not really a certificate".to_vec();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der)
        );
        p.signer = Some(CertRow {
            pem,
            serial: "01AB".into(),
            issuer: "C=ID, O=Badan Siber dan Sandi Negara, CN=BSRE CA DS G1".into(),
            not_after: 1_900_000_000,
            ..Default::default()
        });
        assert_eq!(p.global_roles(), vec!["auditor".to_string(), SIGNER_ROLE.to_string()]);
        assert!(p.holds_any("simpeg", &[SIGNER_ROLE.into()]));
        assert!(!person_claims(&p, "simpeg", "openid roles", 4).contains_key("cert"), "only with its scope");
        let c = person_claims(&p, "simpeg", "openid signer", 4);
        assert_eq!(
            c["cert"],
            json!({
                "x5t#S256": crate::crypto::b64url(&crate::crypto::sha256(&der)),
                "serial": "01ab",
                "issuer": "C=ID, O=Badan Siber dan Sandi Negara, CN=BSRE CA DS G1",
                "not_after": 1_900_000_000,
                "status": "valid",
            })
        );
        assert!(!c.contains_key("roles"), "the role only with the roles scope");
    }
}
