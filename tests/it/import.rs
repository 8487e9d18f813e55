//! `gerbang import asn|citizens`: the real binary against the test server's database (SQLite, or
//! PostgreSQL and Redis when the harness is given them). Bad rows are named by line and reason
//! and stop the whole file; `--partial` writes the good ones and a reject file; a second run
//! updates instead of duplicating; a status column disables leavers at once.

use std::path::{Path, PathBuf};

use gerbang::identity::accounts::{self, AccountStatus};
use gerbang::state::now;
use gerbang::store::import::{stored_by, Key};
use serde_json::Value;

use crate::common::*;
use crate::self_service::{refresh, refresh_app, refresh_token_in, signed_in};

/// Runs `gerbang` as the operator on the server's own database, data directory and cache, off the
/// test's runtime so the server keeps answering meanwhile.
async fn gerbang(app: &TestApp, args: &[&str]) -> Run {
    let c = &app.state.config;
    Gerbang::new(args).on(c).with_cache(c).output().await
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write csv");
    p
}

/// The `i`-th of many distinct valid NIKs (Jember, Kaliwates district).
fn nik(i: usize) -> String {
    let (seq, rest) = (1 + i % 9999, i / 9999);
    format!("350901{:02}{:02}90{seq:04}", 1 + rest % 28, 1 + (rest / 28) % 12)
}

/// The `i`-th of many distinct valid NIPs.
fn nip(i: usize) -> String {
    format!("198503{:02}2010011{:03}", 1 + (i / 999) % 28, 1 + i % 999)
}

async fn count(app: &TestApp, key: Key, keys: &[String]) -> usize {
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    stored_by(&app.state.db, key, &keys).await.expect("lookup").len()
}

const ASN_HEADER: &str = "nip,nama,kode_opd,jabatan,golongan,eselon,email,telepon,status\n";

#[tokio::test]
async fn every_bad_row_is_named_by_line_and_reason_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    opd_unit(&app, "DINKES", None).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (nip(1), nip(2), nip(3));
    let csv = format!(
        "{ASN_HEADER}\
         {a},Siti Aminah,DINKES,Analis,III/a,,siti@jemberkab.go.id,0812-3456-7890,aktif\n\
         19850312201001100,Salah Panjang,,,,,,,\n\
         {b},Budi,DINKES,Staf,V/z,,,,\n\
         \"{c}\",\"Cahya, S.Kom.\",TIDAKADA,,,,,,\n\
         {a},Siti Lagi,,,,,,,\n\
         {c},Kurang Kolom\n\
         {b},Budi,,,,,bukan-email,,\n\
         {c},Cuti,,,,,,,cuti\n"
    );
    let file = write(dir.path(), "asn.csv", &csv);
    let run = gerbang(&app, &["import", "asn", file.to_str().unwrap()]).await;
    assert_eq!(run.code, 1, "{} / {}", run.stdout, run.stderr);
    for expected in [
        "line 3: nip: NIP must be 18 digits (found 17)",
        "line 4: invalid value for `golongan`",
        "line 5: kode_opd: no OPD unit has the code `TIDAKADA`",
        "line 6: the same NIP/NIK as line 2",
        "line 7: expected 9 fields like the header, found 2",
        "line 8: invalid value for `email`",
        "line 9: status: `cuti` is not one of",
    ] {
        assert!(run.stderr.contains(expected), "{expected:?} in {}", run.stderr);
    }
    assert!(run.stdout.contains("nothing written"), "{}", run.stdout);
    assert_eq!(count(&app, Key::Nip, &[a.clone(), b.clone(), c.clone()]).await, 0, "all or nothing");

    let run = gerbang(&app, &["import", "asn", file.to_str().unwrap(), "--json"]).await;
    let v = run.json();
    let lines: Vec<u64> = v["rejected"].as_array().unwrap().iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9]);
    assert_eq!((v["written"].as_bool(), v["rows"].as_u64(), v["created"].as_u64()), (Some(false), Some(8), Some(0)));
}

#[tokio::test]
async fn partial_imports_the_good_rows_and_writes_a_reject_file_that_can_be_fixed_and_imported() {
    let app = TestApp::spawn().await;
    let unit = opd_unit(&app, "DINKES", None).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (nip(11), nip(12));
    let csv = format!(
        "{ASN_HEADER}\
         {a},Siti Aminah,DINKES,Analis,III/a,,siti@jemberkab.go.id,0812-3456-7890,\n\
         {b},Budi,DINKES,Staf,V/z,,,,\n"
    );
    let file = write(dir.path(), "asn.csv", &csv);
    let run = gerbang(&app, &["import", "asn", file.to_str().unwrap(), "--partial", "--json"]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!((v["created"].as_u64(), v["rejected"].as_array().unwrap().len()), (Some(1), 1));
    let rejects = dir.path().join("asn.csv.rejects.csv");
    assert_eq!(v["rejects_file"].as_str(), Some(rejects.to_str().unwrap()));
    let text = std::fs::read_to_string(&rejects).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("nip,nama,kode_opd,jabatan,golongan,eselon,email,telepon,status,baris,alasan"));
    let row = lines.next().unwrap();
    assert!(row.starts_with(&format!("{b},Budi,DINKES,Staf,V/z,,,,,3,")), "{row}");
    assert!(row.contains("golongan"), "{row}");
    assert_eq!(lines.next(), None);

    let siti = accounts::find(&app.state.db, &a).await.unwrap().expect("imported");
    assert_eq!(
        (siti.name.as_str(), siti.opd_id.as_deref(), siti.status),
        ("Siti Aminah", Some(unit.as_str()), AccountStatus::Active)
    );
    assert_eq!((siti.profile["jabatan"].as_str(), siti.profile["golongan"].as_str()), (Some("Analis"), Some("III/a")));
    assert_eq!((siti.email.as_deref(), siti.email_verified), (Some("siti@jemberkab.go.id"), false));
    assert_eq!(siti.phone_number.as_deref(), Some("+6281234567890"));

    // The operator corrects the rank in the reject file and imports it as it is.
    std::fs::write(&rejects, text.replace("V/z", "II/c")).unwrap();
    let run = gerbang(&app, &["import", "asn", rejects.to_str().unwrap(), "--json"]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(
        (v["created"].as_u64(), v["ignored_columns"].clone()),
        (Some(1), serde_json::json!(["baris", "alasan"]))
    );
    let budi = accounts::find(&app.state.db, &b).await.unwrap().expect("imported after the fix");
    assert_eq!(budi.profile["golongan"], "II/c");
    let trail = gerbang(&app, &["audit", "list", "--json"]).await.json();
    let runs: Vec<&Value> =
        trail["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "import.completed").collect();
    assert_eq!(runs.len(), 2, "one record per run that wrote");
    assert_eq!(runs[0]["actor"], "cli:local");
}

#[tokio::test]
async fn a_second_run_updates_instead_of_duplicating_and_keeps_what_it_does_not_carry() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let niks: Vec<String> = (0..5).map(nik).collect();
    let body: String = niks.iter().enumerate().map(|(i, n)| format!("{n};Warga {i};;\n")).collect();
    let file = write(dir.path(), "warga.csv", &format!("NIK;Nama;Email;Telepon\n{body}"));
    let first = gerbang(&app, &["import", "citizens", file.to_str().unwrap(), "--json"]).await.json();
    assert_eq!((first["created"].as_u64(), first["updated"].as_u64()), (Some(5), Some(0)), "{first}");
    let again = gerbang(&app, &["import", "citizens", file.to_str().unwrap(), "--json"]).await.json();
    assert_eq!((again["created"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(5)), "{again}");

    // The person proved an address meanwhile; a file without addresses leaves it alone.
    let id0 = accounts::find(&app.state.db, &niks[0]).await.unwrap().unwrap().id;
    gerbang::store::accounts::set_email(&app.state.db, &id0, Some("w0@contoh.id"), true, now()).await.unwrap();
    let changed = format!("nik,nama,email\n{},Warga Nol,\n{},Warga 1,w1@contoh.id\n", niks[0], niks[1]);
    let file = write(dir.path(), "ubah.csv", &changed);
    let third = gerbang(&app, &["import", "citizens", file.to_str().unwrap(), "--json"]).await.json();
    assert_eq!((third["created"].as_u64(), third["updated"].as_u64()), (Some(0), Some(2)), "{third}");
    let w0 = accounts::find(&app.state.db, &niks[0]).await.unwrap().unwrap();
    assert_eq!((w0.id.as_str(), w0.name.as_str()), (id0.as_str(), "Warga Nol"), "the same account, renamed");
    assert_eq!((w0.email.as_deref(), w0.email_verified), (Some("w0@contoh.id"), true));
    assert_eq!(count(&app, Key::Nik, &niks).await, 5);
}

#[tokio::test]
async fn two_runs_of_one_file_at_once_create_each_person_once() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let niks: Vec<String> = (100..2100).map(nik).collect();
    let body: String = niks.iter().map(|n| format!("{n},Warga {n}\n")).collect();
    let file = write(dir.path(), "warga.csv", &format!("nik,nama\n{body}"));
    let f = file.to_str().unwrap();
    let args = ["import", "citizens", f, "--json"];
    let (x, y) = tokio::join!(gerbang(&app, &args), gerbang(&app, &args));
    assert_eq!((x.code, y.code), (0, 0), "{} {} / {} {}", x.stdout, x.stderr, y.stdout, y.stderr);
    let created = x.json()["created"].as_u64().unwrap() + y.json()["created"].as_u64().unwrap();
    assert!(created >= 2000, "each run saw the people as new or the other's: {created}");
    assert_eq!(count(&app, Key::Nik, &niks).await, 2000, "never a duplicate");
}

#[tokio::test]
async fn a_citizen_file_cannot_take_over_a_civil_servants_account() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let (n, own) = (nik(7), nip(7));
    let asn = format!("nip,nama,nik\n{own},Pegawai Punya NIK,{n}\n");
    let run = gerbang(&app, &["import", "asn", write(dir.path(), "asn.csv", &asn).to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    let citizens = format!("nik,nama\n{n},Orang Lain\n");
    let run = gerbang(&app, &["import", "citizens", write(dir.path(), "w.csv", &citizens).to_str().unwrap()]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("line 2: nik: the NIK belongs to a civil servant's account"), "{}", run.stderr);
    let other = format!("nip,nama,nik\n{},Pegawai Lain,{n}\n", nip(8));
    let run = gerbang(&app, &["import", "asn", write(dir.path(), "b.csv", &other).to_str().unwrap()]).await;
    assert!(run.stderr.contains("line 2: nik: the NIK belongs to another account"), "{}", run.stderr);
    let a = accounts::find(&app.state.db, &own).await.unwrap().unwrap();
    assert_eq!((a.name.as_str(), a.nik.as_deref()), ("Pegawai Punya NIK", Some(n.as_str())));
}

#[tokio::test]
async fn a_status_column_disables_leavers_at_once_and_audits_each() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let leaver = unique_nip();
    let id = app.asn(&leaver, "Pak Pensiun").await.id;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let b = signed_in(&app, &leaver).await;
    let rt = refresh(&app, &c, &refresh_token_in(&app, &b, &c).await).await.expect("a live refresh token");
    let stays = nip(21);
    let csv = format!("nip,nama,status\n{leaver},Pak Pensiun,pensiun\n{stays},Bu Tetap,aktif\n");
    let file = write(dir.path(), "asn.csv", &csv);
    let v = gerbang(&app, &["import", "asn", file.to_str().unwrap(), "--json"]).await.json();
    assert_eq!(
        (v["created"].as_u64(), v["unchanged"].as_u64(), v["status_changed"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{v}"
    );
    let a = accounts::get(&app.state.db, &id).await.unwrap().unwrap();
    assert_eq!(a.status, AccountStatus::Retired);
    assert_eq!(refresh(&app, &c, &rt).await, Err("invalid_grant".into()), "tokens die with the status");
    let res = b.get(app.url("/account")).send().await.unwrap();
    assert_ne!(res.status(), 200, "the SSO session no longer works");
    let trail = gerbang(&app, &["audit", "list", "--json"]).await.json();
    let changes: Vec<&Value> =
        trail["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "account.status_changed").collect();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0]["subject"].as_str(), changes[0]["actor"].as_str()), (Some(id.as_str()), Some("cli:local")));

    // Running the same file again changes nothing and records no new status change.
    let v = gerbang(&app, &["import", "asn", file.to_str().unwrap(), "--json"]).await.json();
    assert_eq!((v["unchanged"].as_u64(), v["status_changed"].as_u64()), (Some(2), Some(0)), "{v}");
}

#[tokio::test]
async fn a_hundred_thousand_citizens_in_one_file() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::with_capacity(100_000 * 40);
    csv.push_str("nik,nama,telepon\n");
    for i in 0..100_000 {
        csv.push_str(&format!("{},Warga Nomor {i},08{:010}\n", nik(i), 1_000_000 + i));
    }
    let file = write(dir.path(), "warga.csv", &csv);
    let started = std::time::Instant::now();
    let run = gerbang(&app, &["import", "citizens", file.to_str().unwrap(), "--json"]).await;
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    assert_eq!(run.json()["created"].as_u64(), Some(100_000));
    eprintln!("100,000 citizens imported on {} in {took:?}", app.state.db.kind());
    let again = gerbang(&app, &["import", "citizens", file.to_str().unwrap(), "--json"]).await.json();
    assert_eq!((again["created"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(100_000)));
    let last = accounts::find(&app.state.db, &nik(99_999)).await.unwrap().expect("the last row");
    assert_eq!((last.name.as_str(), last.phone_number.as_deref()), ("Warga Nomor 99999", Some("+6280001099999")));
}

/// An import that fails part way keeps the batches it committed; the trail says so, with the
/// number of rows written (which the database holds), rather than saying nothing.
#[tokio::test]
async fn an_import_that_fails_part_way_leaves_a_record_of_what_it_wrote() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let n = 20_010;
    let niks: Vec<String> = (0..n).map(nik).collect();
    // The database refuses one row of the second batch (a stand-in for a disk or a constraint
    // failing mid-run).
    let poison = &niks[20_005];
    match &app.state.db {
        gerbang::store::Db::Sqlite(p) => {
            let sql = format!(
                "CREATE TRIGGER t_poison BEFORE INSERT ON accounts WHEN NEW.nik = '{poison}' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            );
            sqlx::query(&sql).execute(p).await.unwrap();
        }
        gerbang::store::Db::Postgres(p) => {
            let f = format!(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.nik = '{poison}' THEN \
                 RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            );
            sqlx::query(&f).execute(p).await.unwrap();
            sqlx::query("CREATE TRIGGER t_poison BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION poison()")
                .execute(p)
                .await
                .unwrap();
            // Two writers share the rows here, a half each. The first half's commit is held for
            // two seconds (a trigger deferred to the commit), so the second half fails while the
            // first is committing: that commit must still be counted, not abandoned uncounted.
            let slow = format!(
                "CREATE FUNCTION slow_commit() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$ \
                 LANGUAGE plpgsql; \
                 CREATE CONSTRAINT TRIGGER t_slow AFTER INSERT ON accounts DEFERRABLE INITIALLY DEFERRED \
                 FOR EACH ROW WHEN (NEW.nik = '{}') EXECUTE FUNCTION slow_commit()",
                niks[0]
            );
            sqlx::raw_sql(&slow).execute(p).await.unwrap();
        }
    }
    let mut csv = String::from("nik,nama\n");
    for (i, k) in niks.iter().enumerate() {
        csv.push_str(&format!("{k},Warga {i}\n"));
    }
    let file = write(dir.path(), "warga.csv", &csv);
    let run = gerbang(&app, &["import", "citizens", file.to_str().unwrap(), "--json"]).await;
    assert_ne!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    let stored = count(&app, Key::Nik, &niks).await as u64;
    let trail = gerbang::audit::list(&app.state.db, 10, Some("citizens")).await.unwrap();
    let failed = trail.iter().find(|r| r.kind == "import.failed").unwrap_or_else(|| panic!("{trail:?}"));
    let detail: Value = serde_json::from_str(&failed.detail).unwrap_or_else(|_| panic!("{failed:?}"));
    assert_eq!(detail["rows_written"].as_u64(), Some(stored), "{detail}");
    assert_eq!(detail["planned_created"].as_u64(), Some(n as u64), "{detail}");
    assert!(!trail.iter().any(|r| r.kind == "import.completed"));
    if app.state.db.kind() == "sqlite" {
        assert_eq!(stored, 20_000, "the first batch was committed");
    } else {
        assert_eq!(stored, n as u64 / 2, "the first half's slow commit went through");
    }
}
