//! The login flow fails closed: a second-factor attempt the throttle cannot count is refused
//! without being judged. The cache is a small Redis stand-in that answers reads but refuses to
//! write throttle records for second factors, as a Redis at its `maxmemory` limit with the
//! `noeviction` policy refuses writes and still serves reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gerbang::auth::{recovery, totp};
use gerbang::oidc::clients::GrantType;
use gerbang::state::now;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::common::*;

type Store = Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>;

/// Speaks enough RESP for the cache (SET/GET/GETDEL/DEL, the cache's EVAL scripts, the client's
/// hello); no expiry.
async fn fake_redis(refuse_writes_containing: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("redis://{}", listener.local_addr().expect("addr"));
    let store: Store = Arc::default();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut read = BufReader::new(read);
                while let Some(cmd) = read_command(&mut read).await {
                    let reply = answer(&store, &cmd, refuse_writes_containing);
                    if write.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

async fn read_command(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    r.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let n: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).await.ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut buf = vec![0; len + 2];
        r.read_exact(&mut buf).await.ok()?;
        buf.truncate(len);
        args.push(buf);
    }
    Some(args)
}

fn bulk(v: Option<Vec<u8>>) -> Vec<u8> {
    match v {
        None => b"$-1\r\n".to_vec(),
        Some(v) => [format!("${}\r\n", v.len()).into_bytes(), v, b"\r\n".to_vec()].concat(),
    }
}

fn answer(store: &Store, cmd: &[Vec<u8>], refuse: &str) -> Vec<u8> {
    let name = String::from_utf8_lossy(&cmd[0]).to_ascii_uppercase();
    let mut map = store.lock().unwrap();
    match (name.as_str(), cmd.get(1)) {
        ("CLIENT", _) => b"+OK\r\n".to_vec(),
        ("PING", _) => b"+PONG\r\n".to_vec(),
        ("SET", Some(key)) if String::from_utf8_lossy(key).contains(refuse) => {
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n".to_vec()
        }
        ("SET", Some(key)) => {
            map.insert(key.clone(), cmd[2].clone());
            b"+OK\r\n".to_vec()
        }
        ("EVAL", Some(script)) => {
            let script = String::from_utf8_lossy(script).to_string();
            let n: usize = String::from_utf8_lossy(&cmd[2]).parse().unwrap();
            let (keys, argv) = (&cmd[3..3 + n], &cmd[3 + n..]);
            if keys.iter().any(|k| String::from_utf8_lossy(k).contains(refuse)) {
                return b"-OOM command not allowed when used memory > 'maxmemory'.\r\n".to_vec();
            }
            let count =
                |v: Option<&Vec<u8>>| v.and_then(|v| String::from_utf8_lossy(v).parse::<i64>().ok()).unwrap_or(0);
            let arg = |i: usize| String::from_utf8_lossy(&argv[i]).parse::<i64>().unwrap();
            let key = keys[0].clone();
            let n = if script.starts_with("-- gerbang:swap") {
                let expected = (argv[1] == b"1").then(|| argv[2].clone());
                if map.get(&key) != expected.as_ref() {
                    0
                } else {
                    map.insert(key, argv[3].clone());
                    1
                }
            } else if script.starts_with("-- gerbang:count_below") {
                let n = count(map.get(&key));
                if n >= arg(1) {
                    -1
                } else {
                    map.insert(key, (n + 1).to_string().into_bytes());
                    n + 1
                }
            } else if script.starts_with("-- gerbang:count_both") {
                let (a, b) = (count(map.get(&keys[0])), count(map.get(&keys[1])));
                let code = if a >= arg(1) {
                    2
                } else if b >= arg(2) {
                    3
                } else {
                    map.insert(keys[0].clone(), (a + 1).to_string().into_bytes());
                    map.insert(keys[1].clone(), (b + 1).to_string().into_bytes());
                    1
                };
                return format!("*2\r\n:{code}\r\n:{}\r\n", b + i64::from(code == 1)).into_bytes();
            } else if script.starts_with("-- gerbang:refund") || script.starts_with("-- gerbang:settle") {
                let refunds = if script.starts_with("-- gerbang:settle") {
                    map.remove(&key);
                    &keys[1..]
                } else {
                    keys
                };
                for k in refunds {
                    let n = (count(map.get(k)) - 1).max(0);
                    map.insert(k.clone(), n.to_string().into_bytes());
                }
                0
            } else {
                return b"-ERR unknown script\r\n".to_vec();
            };
            format!(":{n}\r\n").into_bytes()
        }
        ("GET", Some(key)) => bulk(map.get(key).cloned()),
        ("GETDEL", Some(key)) => bulk(map.remove(key)),
        ("DEL", Some(key)) => format!(":{}\r\n", u8::from(map.remove(key).is_some())).into_bytes(),
        _ => format!("-ERR unknown command '{name}'\r\n").into_bytes(),
    }
}

fn code_at(secret: &[u8], offset_steps: i64) -> String {
    format!("{:06}", totp::hotp(secret, (totp::step_at(now()) + offset_steps) as u64))
}

#[tokio::test]
async fn a_second_factor_the_throttle_cannot_count_is_refused_unjudged() {
    let redis = fake_redis("throttle:otp:").await;
    let app = TestApp::spawn_with(&[("GERBANG_REDIS_URL", &redis), ("GERBANG_REDIS_PREFIX", "fake:")]).await;
    assert!(app.shared_cache(), "the server uses the stand-in");
    let (st, t) = (&app.state, now());
    let nip = unique_nip();
    let account = app.asn(&nip, "Gagal Tertutup").await;
    let enrolment = totp::start_enrolment(&st.db, &st.sealer, &account.id, &nip, "Gerbang", t).await.unwrap();
    let secret = data_encoding::BASE32_NOPAD.decode(enrolment.secret_base32.as_bytes()).unwrap();
    assert!(totp::confirm_enrolment(&st.db, &st.sealer, &account.id, &code_at(&secret, -1), t).await.unwrap());
    let codes = recovery::generate(&st.db, &st.recovery, &account.id, t).await.unwrap();

    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let html = b.get(start_auth(&app.rp(&c).await, &[]).url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 200, "the password step works: only second-factor throttle writes fail");
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"code\""), "the second-factor page");

    let near: Vec<String> = (-1..=1).map(|o| code_at(&secret, o)).collect();
    let wrong = ["000000", "111111", "222222", "333333"].into_iter().find(|w| !near.iter().any(|n| n == w)).unwrap();
    for (field, value) in
        [("code", wrong.to_string()), ("code", code_at(&secret, 0)), ("recovery_code", codes[0].clone())]
    {
        let res = b
            .post(app.url("/login/otp"))
            .form(&[("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf")), (field, value)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 500, "{field}: refused while the attempt cannot be counted");
        assert!(res.headers().get("set-cookie").is_none(), "{field}: no session");
        assert!(res.text().await.unwrap().contains("server_error"), "{field}");
    }
    assert_eq!(recovery::remaining(&st.db, &account.id).await.unwrap(), 10, "the recovery code was not judged");
    let kinds: Vec<String> =
        gerbang::audit::list(&st.db, 100, Some(&account.id)).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(!kinds.iter().any(|k| k == "second_factor.failed" || k == "login.succeeded"), "nothing judged: {kinds:?}");
    assert!(totp::verify(&st.db, &st.sealer, &account.id, &code_at(&secret, 0), now()).await.unwrap(), "not spent");
}

#[tokio::test]
async fn a_password_the_throttle_cannot_count_is_refused_the_same_way_right_or_wrong() {
    let redis = fake_redis("throttle:").await;
    let app = TestApp::spawn_with(&[("GERBANG_REDIS_URL", &redis), ("GERBANG_REDIS_PREFIX", "fake:")]).await;
    assert!(app.shared_cache(), "the server uses the stand-in");
    let nip = unique_nip();
    let account = app.asn(&nip, "Bukan Orakel").await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let html = b.get(start_auth(&app.rp(&c).await, &[]).url).send().await.unwrap().text().await.unwrap();
    let mut answers = Vec::new();
    for password in ["salah-sekali-1234", PASSWORD] {
        let res = submit_login(&app, &b, &html, &nip, password).await;
        assert!(res.headers().get("set-cookie").is_none(), "{password}: no session");
        answers.push((res.status().as_u16(), res.text().await.unwrap().contains("server_error")));
    }
    assert_eq!(answers, [(500, true), (500, true)], "refused alike, before the password is looked at");
    let kinds: Vec<String> = gerbang::audit::list(&app.state.db, 100, Some(&account.id))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(!kinds.iter().any(|k| k == "login.failed" || k == "login.succeeded"), "nothing judged: {kinds:?}");
}
