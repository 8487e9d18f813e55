//! A real SMTP server on loopback that the test servers send through, shared by the whole test
//! binary: aiosmtpd (tests/smtp/sink.py) when Python has it — CI installs it — and otherwise a
//! minimal SMTP receiver of our own, so `cargo test` also runs where only Rust is installed.
//! Both store each message as a file in one Maildir; tests find theirs by a unique recipient.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Mailbox {
    pub port: u16,
    dir: PathBuf,
    _child: Option<Child>,
    _tmp: tempfile::TempDir,
}

/// One received message, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub headers: String,
}

impl Mail {
    /// The first link in the body that starts with `prefix` (e.g. the issuer + `/reset/`).
    pub fn link(&self, prefix: &str) -> Option<String> {
        let start = self.body.find(prefix)?;
        let rest = &self.body[start..];
        let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        Some(rest[..end].to_string())
    }
}

static MAILBOX: OnceLock<Mailbox> = OnceLock::new();

/// The shared server, started on first use.
pub fn mailbox() -> &'static Mailbox {
    MAILBOX.get_or_init(Mailbox::start)
}

/// Settings that make a test server send through the shared mailbox.
pub fn smtp_settings() -> Vec<(&'static str, String)> {
    let m = mailbox();
    vec![
        ("GERBANG_SMTP_HOST", "127.0.0.1".into()),
        ("GERBANG_SMTP_PORT", m.port.to_string()),
        ("GERBANG_SMTP_SECURITY", "none".into()),
        ("GERBANG_MAIL_FROM", "SSO Uji <sso@uji.go.id>".into()),
    ]
}

/// A recipient no other test uses.
pub fn unique_address() -> String {
    format!("u{}@surel.uji.go.id", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Mailbox {
    fn start() -> Mailbox {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("maildir");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("maildir");
        }
        let port = free_port();
        // GERBANG_TEST_SMTP=builtin forces the fallback (to test it where aiosmtpd is installed).
        let aiosmtpd = std::env::var("GERBANG_TEST_SMTP").as_deref() != Ok("builtin")
            && Command::new("python3")
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        let child = if aiosmtpd {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/sink.py");
            let mut child = Command::new("python3")
                .args([script, &port.to_string(), dir.to_str().expect("path")])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start aiosmtpd");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("aiosmtpd ready");
            assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
            Some(child)
        } else {
            eprintln!("mailbox: aiosmtpd is not installed (pip install aiosmtpd); using the built-in SMTP receiver");
            let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind smtp");
            let d = dir.clone();
            std::thread::spawn(move || builtin::serve(listener, d));
            None
        };
        Mailbox { port, dir, _child: child, _tmp: tmp }
    }

    /// Every message to `to` so far, in order of arrival. Messages are delivered in the
    /// background, so two sent close together may arrive in either order: a test that cares
    /// waits for one before causing the next.
    pub fn messages_to(&self, to: &str) -> Vec<Mail> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(self.dir.join("new"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|(_, p)| parse(p)).filter(|m| m.to.eq_ignore_ascii_case(to)).collect()
    }

    /// Waits (up to 10 s) until `count` messages to `to` have arrived, and returns them all.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.messages_to(to);
            if got.len() >= count {
                return got;
            }
            assert!(Instant::now() < deadline, "expected {count} message(s) to {to}, got {}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The one message to `to` (waits for it, and fails if more than one arrived).
    pub async fn only(&self, to: &str) -> Mail {
        let mut got = self.wait_for(to, 1).await;
        assert_eq!(got.len(), 1, "one message to {to}");
        got.remove(0)
    }

    /// What arrived for `to` after giving delivery `wait` to happen: for asserting that nothing did.
    pub async fn after(&self, to: &str, wait: Duration) -> Vec<Mail> {
        tokio::time::sleep(wait).await;
        self.messages_to(to)
    }
}

fn parse(path: &Path) -> Option<Mail> {
    let raw = std::fs::read_to_string(path).ok()?.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    // Unfold continued header lines.
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let to = header("To");
    let to = to.rsplit_once('<').map(|(_, a)| a.trim_end_matches('>').to_string()).unwrap_or(to);
    let body = match header("Content-Transfer-Encoding").to_ascii_lowercase().as_str() {
        "base64" => {
            use base64::Engine;
            let joined: String = body.split_whitespace().collect();
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined).ok()?).ok()?
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_string(),
    };
    Some(Mail { to, subject: decode_words(&header("Subject")), body, headers: head })
}

fn quoted_printable(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.replace("=\n", "").into_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=` / `=?utf-8?q?…?=`), as lettre writes non-ASCII subjects.
fn decode_words(s: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    for word in s.split_whitespace() {
        let decoded = word.strip_prefix("=?").and_then(|w| w.strip_suffix("?=")).and_then(|w| {
            let mut parts = w.splitn(3, '?');
            let (_, enc, text) = (parts.next()?, parts.next()?, parts.next()?);
            match enc.to_ascii_lowercase().as_str() {
                "b" => String::from_utf8(base64::engine::general_purpose::STANDARD.decode(text).ok()?).ok(),
                "q" => Some(quoted_printable(&text.replace('_', " "))),
                _ => None,
            }
        });
        match decoded {
            Some(d) => out.push_str(&d),
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
    }
    out
}

/// The fallback receiver: just enough of RFC 5321 for a client that behaves (EHLO, MAIL, RCPT,
/// DATA with dot-stuffing, RSET, NOOP, QUIT).
mod builtin {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    static N: AtomicU64 = AtomicU64::new(0);

    pub fn serve(listener: TcpListener, dir: PathBuf) {
        for stream in listener.incoming().flatten() {
            let d = dir.clone();
            std::thread::spawn(move || {
                let _ = session(stream, d);
            });
        }
    }

    fn session(stream: TcpStream, dir: PathBuf) -> std::io::Result<()> {
        let mut out = stream.try_clone()?;
        let mut lines = BufReader::new(stream);
        out.write_all(b"220 uji ESMTP\r\n")?;
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_ascii_uppercase();
            if cmd.starts_with("EHLO") {
                out.write_all(b"250-uji\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?;
            } else if cmd.starts_with("DATA") {
                out.write_all(b"354 go on\r\n")?;
                let mut msg = String::new();
                loop {
                    let mut l = String::new();
                    if lines.read_line(&mut l)? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    msg.push_str(l.strip_prefix('.').filter(|_| l.starts_with("..")).unwrap_or(&l));
                }
                let n = N.fetch_add(1, Ordering::SeqCst);
                let tmp = dir.join("tmp").join(format!("{n}.eml"));
                std::fs::write(&tmp, msg)?;
                std::fs::rename(&tmp, dir.join("new").join(format!("{n}.eml")))?;
                out.write_all(b"250 stored\r\n")?;
            } else if cmd.starts_with("QUIT") {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            } else {
                out.write_all(b"250 ok\r\n")?;
            }
        }
    }
}
