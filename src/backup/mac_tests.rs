//! The archive's MAC: what it covers (header, manifest entries), which key it names, and what
//! happens to an archive without one.

use super::*;
use crate::backup::archive::{self, ArchiveReader, ArchiveWriter, MemberKind, FORMAT};

const REGION: [u8; 32] = [7; 32];
const OTHER: [u8; 32] = [9; 32];

fn header() -> Header {
    Header {
        format: FORMAT,
        gerbang: "0.0.0".into(),
        schema: 20,
        database: "sqlite".into(),
        created_at: 1_700_000_000,
        master_key_check: None,
        master_keys: Vec::new(),
        mac_key: None,
    }
}

const SETTINGS: &[u8] = b"issuer = \"https://sso.jemberkab.go.id\"\n";

/// An archive with one table and the settings; authenticated with `key` when given.
fn archive(key: Option<&[u8; 32]>) -> Vec<u8> {
    let mut w = match key {
        Some(k) => ArchiveWriter::authenticated(Vec::new(), header(), HeldKey::new(k).unwrap()).unwrap(),
        None => ArchiveWriter::new(Vec::new(), header()).unwrap(),
    };
    w.begin("tables/accounts.jsonl", MemberKind::Table).unwrap();
    w.row(b"[\"a\"]").unwrap();
    w.begin("settings.toml", MemberKind::Settings).unwrap();
    w.write(SETTINGS).unwrap();
    w.finish().unwrap().0
}

/// Reads the archive through (every checksum) and returns the verdict under `policy`.
fn verdict(bytes: &[u8], policy: &Policy) -> Result<Authenticity, AuthError> {
    let mut r = ArchiveReader::open(bytes).expect("the archive opens");
    r.precheck(policy)?;
    while r.next_event().expect("every checksum holds").is_some() {}
    r.authenticity(policy)
}

fn held(keys: &[[u8; 32]]) -> Vec<HeldKey> {
    keys.iter().map(|k| HeldKey::new(k).unwrap()).collect()
}

fn strict(keys: &[HeldKey]) -> Policy<'_> {
    Policy { keys: Some(keys), accept_unauthenticated: false }
}

/// The archive's records, to be changed and joined again as a forger would.
fn records(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut rest = &bytes[archive::MAGIC.len()..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        out.push((rest[0], rest[5..5 + len].to_vec()));
        rest = &rest[5 + len..];
    }
    out
}

fn join(records: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = archive::MAGIC.to_vec();
    for (tag, payload) in records {
        out.push(*tag);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
    }
    out
}

fn replace(payload: &mut Vec<u8>, from: &str, to: &str) {
    let text = String::from_utf8(payload.clone()).unwrap();
    assert!(text.contains(from), "{from} in {text}");
    *payload = text.replace(from, to).into_bytes();
}

fn sha256(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

#[test]
fn an_archive_written_with_the_regions_key_verifies_and_names_it() {
    let keys = held(&[OTHER, REGION]);
    let a = verdict(&archive(Some(&REGION)), &strict(&keys)).unwrap();
    assert_eq!(a, Authenticity::Verified(MasterKey::new(REGION).id()));
    assert!(a.authenticated());
    // Without a master key here only the checksums are checked, and it says so.
    let a = verdict(&archive(Some(&REGION)), &Policy { keys: None, accept_unauthenticated: false }).unwrap();
    assert_eq!((a.clone(), a.authenticated()), (Authenticity::NotChecked, false));
}

#[test]
fn a_tampered_header_is_refused() {
    let mut r = records(&archive(Some(&REGION)));
    // The header and its copy in the manifest alike, so every checksum still holds.
    for (tag, payload) in r.iter_mut() {
        if *tag == b'H' || *tag == b'Z' {
            replace(payload, "\"created_at\":1700000000", "\"created_at\":1700000001");
        }
    }
    let keys = held(&[REGION]);
    assert!(matches!(verdict(&join(&r), &strict(&keys)), Err(AuthError::Forged)));
}

#[test]
fn a_tampered_manifest_entry_is_refused() {
    // A member rewritten with its checksum brought along: in its end record and the manifest.
    let forged = b"issuer = \"https://sso.penyerang.example\"\n";
    let mut r = records(&archive(Some(&REGION)));
    for (tag, payload) in r.iter_mut() {
        match tag {
            b'D' if payload.as_slice() == SETTINGS => *payload = forged.to_vec(),
            b'E' | b'Z' if String::from_utf8_lossy(payload).contains(&sha256(SETTINGS)) => {
                replace(payload, &sha256(SETTINGS), &sha256(forged));
                let (from, to) = (format!("\"length\":{}", SETTINGS.len()), format!("\"length\":{}", forged.len()));
                replace(payload, &from, &to);
            }
            _ => {}
        }
    }
    let keys = held(&[REGION]);
    assert!(matches!(verdict(&join(&r), &strict(&keys)), Err(AuthError::Forged)));
}

#[test]
fn a_key_id_not_held_or_not_the_signers_is_refused() {
    // Keyed from another installation's master key: refused from the header, before any member.
    let keys = held(&[REGION]);
    let e = ArchiveReader::open(archive(Some(&OTHER)).as_slice()).unwrap().precheck(&strict(&keys)).unwrap_err();
    assert!(matches!(&e, AuthError::KeyNotHeld(id) if *id == MasterKey::new(OTHER).id()), "{e}");
    assert!(e.to_string().contains("not written with this region's master key, or it was altered"), "{e}");
    // Keyed from another key, but naming the region's: the MAC does not verify.
    let (other, region) = (MasterKey::new(OTHER).id(), MasterKey::new(REGION).id());
    let mut r = records(&archive(Some(&OTHER)));
    for (tag, payload) in r.iter_mut() {
        if *tag == b'H' || *tag == b'Z' {
            replace(payload, &other, &region);
        }
    }
    assert!(matches!(verdict(&join(&r), &strict(&keys)), Err(AuthError::Forged)));
}

#[test]
fn a_missing_mac_is_refused_unless_accepted_and_a_stripped_one_always() {
    let keys = held(&[REGION]);
    let plain = archive(None);
    assert!(matches!(verdict(&plain, &strict(&keys)), Err(AuthError::Unauthenticated)));
    let e = AuthError::Unauthenticated.to_string();
    assert!(e.contains("give --accept-unauthenticated") && e.contains("sha256sum"), "{e}");
    let accepting = Policy { keys: Some(&keys), accept_unauthenticated: true };
    assert_eq!(verdict(&plain, &accepting).unwrap(), Authenticity::AcceptedUnauthenticated);

    // The tag cut off an authenticated archive whose header still names the key: not taken
    // for an archive without a MAC, even by an operator accepting those.
    let mut r = records(&archive(Some(&REGION)));
    let z = r.iter_mut().find(|(tag, _)| *tag == b'Z').unwrap();
    let at = z.1.windows(FIELD.len()).position(|w| w == FIELD).unwrap();
    z.1.truncate(at);
    z.1.push(b'}');
    assert!(matches!(verdict(&join(&r), &accepting), Err(AuthError::Forged)));
    // The header's key id removed as well: an archive without a MAC, which the tag then betrays.
    let mut r = records(&archive(Some(&REGION)));
    let region = MasterKey::new(REGION).id();
    for (tag, payload) in r.iter_mut() {
        if *tag == b'H' || *tag == b'Z' {
            replace(payload, &format!(",\"mac_key\":\"{region}\""), "");
        }
    }
    assert!(matches!(verdict(&join(&r), &accepting), Err(AuthError::Forged)));
}

#[test]
fn the_tag_is_the_manifests_last_field_and_readers_without_it_parse_the_rest() {
    let r = records(&archive(Some(&REGION)));
    let z = &r.iter().find(|(tag, _)| *tag == b'Z').unwrap().1;
    let value: serde_json::Value = serde_json::from_slice(z).unwrap();
    assert_eq!(value["authentication"]["key"], MasterKey::new(REGION).id());
    assert_eq!(value["authentication"]["hmac_sha256"].as_str().map(str::len), Some(64));
    // What an earlier reader parses: the manifest as it was, the tag ignored.
    let m: archive::Manifest = serde_json::from_slice(z).unwrap();
    assert_eq!(m.members.len(), 2);
    assert_eq!(m.header.mac_key, Some(MasterKey::new(REGION).id()));
}
