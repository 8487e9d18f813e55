//! Generated hostile input for the parsers that see raw user text: NIP, NIK, the Basic client
//! authentication header and signing certificates. Arbitrary input never panics and is refused
//! with a structured error; valid input built from its parts always parses back to those parts.
//! Case counts follow PROPTEST_CASES (proptest's default, 256, when unset).

use base64::Engine;
use chrono::{Datelike, Duration, NaiveDate};
use gerbang::certs::{self, CertError};
use gerbang::http::{client_credentials, FormParams};
use gerbang::identity::nik::parse_nik;
use gerbang::identity::nip::{parse_nip, Gender, NipKind};
use gerbang::identity::wilayah;
use gerbang::oidc::ErrorCode;
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

/// Text that looks like an identifier some of the time: digits with separators, plus any
/// Unicode (multi-byte characters, whitespace of every kind, control characters).
fn id_like() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9 .\\t\u{a0}\u{2007}]{0,40}", "[0-9]{14,20}", "[0-9]{0,17}[^0-9]{1,3}[0-9]{0,5}", any::<String>(),]
}

fn date_between(from: NaiveDate, to: NaiveDate) -> impl Strategy<Value = NaiveDate> {
    let days = (to - from).num_days();
    (0..=days).prop_map(move |d| from + Duration::days(d))
}

/// NIP grouped the way people paste it ("19850312 201001 1 001"), or with dots.
fn grouped(digits: &str, sep: &str) -> String {
    [&digits[..8], &digits[8..14], &digits[14..15], &digits[15..]].join(sep)
}

proptest! {
    #[test]
    fn nip_parser_takes_any_text(s in id_like()) {
        match parse_nip(&s, today()) {
            Ok(info) => {
                prop_assert_eq!(info.nip.as_str().len(), 18);
                prop_assert!(info.nip.as_str().bytes().all(|b| b.is_ascii_digit()));
            }
            Err(e) => {
                prop_assert!(e.code().starts_with("nip_"));
                prop_assert!(!e.to_string().is_empty());
                prop_assert!(!e.message_id().is_empty());
            }
        }
    }

    #[test]
    fn valid_pns_nip_round_trips(
        birth in date_between(NaiveDate::from_ymd_opt(1940, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2008, 12, 1).unwrap()),
        offset_months in 0u32..600,
        male in any::<bool>(),
        seq in 1u32..=999,
        sep in prop_oneof![Just(""), Just(" "), Just("."), Just("\t")],
    ) {
        // Appointment from the 18th-birthday month up to the current month.
        let first = (birth.year() + 18) * 12 + birth.month0() as i32;
        let last = today().year() * 12 + today().month0() as i32;
        let at = first + (offset_months as i32) % (last - first + 1);
        let (year, month) = (at / 12, at % 12 + 1);
        let digits = format!("{}{year:04}{month:02}{}{seq:03}", birth.format("%Y%m%d"), if male { 1 } else { 2 });
        let info = parse_nip(&grouped(&digits, sep), today()).unwrap();
        prop_assert_eq!(info.nip.as_str(), digits.as_str());
        prop_assert_eq!(info.kind, NipKind::Pns);
        prop_assert_eq!(info.birth_date, birth);
        prop_assert_eq!(info.appointment_year, year);
        prop_assert_eq!(info.appointment_month, Some(month as u32));
        prop_assert_eq!(info.gender, if male { Gender::Male } else { Gender::Female });
    }

    #[test]
    fn valid_pppk_nip_round_trips(
        birth in date_between(NaiveDate::from_ymd_opt(1940, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2008, 12, 1).unwrap()),
        offset_years in 0i32..100,
        contract in prop_oneof![Just(0u32), 13u32..=99],
        male in any::<bool>(),
        seq in 1u32..=999,
    ) {
        let first = birth.year() + 18;
        let year = first + offset_years % (today().year() - first + 1);
        let digits = format!("{}{year:04}{contract:02}{}{seq:03}", birth.format("%Y%m%d"), if male { 1 } else { 2 });
        let info = parse_nip(&digits, today()).unwrap();
        prop_assert_eq!(info.kind, NipKind::Pppk);
        prop_assert_eq!(info.birth_date, birth);
        prop_assert_eq!(info.appointment_year, year);
        prop_assert_eq!(info.appointment_month, None);
        prop_assert_eq!(info.gender, if male { Gender::Male } else { Gender::Female });
    }

    #[test]
    fn nik_parser_takes_any_text(s in id_like()) {
        match parse_nik(&s, today()) {
            Ok(info) => {
                prop_assert_eq!(info.nik.as_str().len(), 16);
                prop_assert!(info.district_code.starts_with(&info.regency_code));
                prop_assert!(info.regency_code.starts_with(&info.province_code));
            }
            Err(e) => {
                prop_assert!(e.code().starts_with("nik_"));
                prop_assert!(!e.to_string().is_empty());
                prop_assert!(!e.message_id().is_empty());
            }
        }
    }

    #[test]
    fn valid_nik_round_trips(
        district in prop::sample::select(districts()),
        // Within a century of today: a two-digit year names exactly one such date.
        birth in date_between(NaiveDate::from_ymd_opt(1927, 1, 1).unwrap(), today()),
        male in any::<bool>(),
        seq in 1u32..=9999,
        dotted in any::<bool>(),
    ) {
        let day = birth.day() + if male { 0 } else { 40 };
        let born = format!("{day:02}{:02}{:02}", birth.month(), birth.year() % 100);
        let digits = format!("{district}{born}{seq:04}");
        let input = if dotted {
            format!("{}.{}.{}.{born}.{seq:04}", &district[..2], &district[2..4], &district[4..])
        } else {
            digits.clone()
        };
        let info = parse_nik(&input, today()).unwrap();
        prop_assert_eq!(info.nik.as_str(), digits.as_str());
        prop_assert_eq!(&info.province_code, &district[..2]);
        prop_assert_eq!(&info.regency_code, &district[..4]);
        prop_assert_eq!(&info.district_code, &district);
        prop_assert_eq!(info.birth_date, birth);
        prop_assert_eq!(info.gender, if male { Gender::Male } else { Gender::Female });
        prop_assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    }

    #[test]
    fn basic_header_takes_any_bytes(raw in prop::collection::vec(any::<u8>(), 0..200), prefixed in any::<bool>()) {
        let mut value = if prefixed { b"Basic ".to_vec() } else { Vec::new() };
        value.extend_from_slice(&raw);
        // Bytes HTTP cannot carry in a header never reach the server.
        if let Ok(v) = axum::http::HeaderValue::from_bytes(&value) {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(axum::http::header::AUTHORIZATION, v);
            if let Err(e) = client_credentials(&headers, &FormParams(Vec::new())) {
                prop_assert_eq!(e.code, ErrorCode::InvalidClient);
                prop_assert!(!e.description.is_empty());
            }
        }
    }

    #[test]
    fn basic_header_payload_takes_any_bytes(payload in prop::collection::vec(any::<u8>(), 0..120), b64 in any::<bool>()) {
        let encoded = if b64 {
            base64::engine::general_purpose::STANDARD.encode(&payload)
        } else {
            String::from_utf8_lossy(&payload).into_owned()
        };
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("Basic {encoded}")) {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(axum::http::header::AUTHORIZATION, v);
            if let Err(e) = client_credentials(&headers, &FormParams(Vec::new())) {
                prop_assert_eq!(e.code, ErrorCode::InvalidClient);
            }
        }
    }

    #[test]
    fn basic_header_round_trips_any_id_and_secret(id in any::<String>(), secret in any::<String>()) {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret)));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(axum::http::header::AUTHORIZATION, format!("Basic {token}").parse().unwrap());
        let c = client_credentials(&headers, &FormParams(Vec::new())).unwrap();
        prop_assert_eq!(c.client_id, id);
        let got = c.secret.unwrap();
        prop_assert_eq!(got.expose(), &secret);
    }

    #[test]
    fn certificate_check_takes_any_text(s in prop_oneof![
        any::<String>(),
        "-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]{0,400}\n-----END CERTIFICATE-----",
        "[A-Za-z0-9+/=]{0,600}",
    ]) {
        refused_with_a_reason(&s)?;
    }

    #[test]
    fn certificate_check_takes_mutated_der(
        which in prop::sample::select(vec!["siti.pem", "agus.pem", "ca.pem", "expired.pem"]),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        as_pem in any::<bool>(),
    ) {
        let mut der = fixture_der(which);
        for (at, byte) in flips {
            let i = at.index(der.len());
            der[i] ^= byte.max(1);
        }
        if truncate {
            der.truncate(cut.index(der.len()));
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let text = if as_pem { format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n") } else { b64 };
        refused_with_a_reason(&text)?;
    }
}

/// A certificate check that fails names a reason; one that passes describes the certificate.
fn refused_with_a_reason(text: &str) -> Result<(), TestCaseError> {
    let now = chrono::Utc::now().timestamp();
    let anchors = std::fs::read(format!("{}/tests/fixtures/certs/ca.pem", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let trust = certs::TrustStore::from_pem(&anchors).unwrap();
    match certs::check(text, &trust, now) {
        Ok(c) => prop_assert!(!c.fingerprint.is_empty()),
        Err(e) => {
            prop_assert!(e.message_key().starts_with("cert_err_") || e.message_key().starts_with("ct_err_"));
            prop_assert!(!e.to_string().is_empty());
            prop_assert_ne!(e, CertError::AlreadyBound);
        }
    }
    Ok(())
}

fn fixture_der(name: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(format!("{}/tests/fixtures/certs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

/// Six-digit district codes of the embedded Kemendagri table under a current province, as a
/// valid NIK starts.
fn districts() -> Vec<String> {
    let csv = include_str!("../../src/identity/kode_wilayah.csv");
    csv.lines()
        .filter_map(|l| l.split(',').next())
        .filter(|code| code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
        .filter(|code| wilayah::is_current_province(&code[..2]) && !matches!(&code[2..4], "00" | "70"))
        .filter(|code| wilayah::lookup(code).is_some() && wilayah::lookup(&code[..4]).is_some())
        .map(String::from)
        .collect()
}
