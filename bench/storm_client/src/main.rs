//! The login storm's load generator in Rust (`bench/login_storm/run.py --client rust`).
//!
//! Each person is an OS thread on a blocking keep-alive connection to 127.0.0.1:PORT, going
//! through the same requests, checks and cookies as `Person` in bench/lib/loopflow.py:
//!
//! ```text
//! GET /authorize (PKCE) -> login page -> POST /login (form CSRF token, cookies) -> code -> POST /token
//! ```
//!
//! A login costs a handful of syscalls, one header scan per response and one JSON parse of the
//! token answer, so the client takes as little CPU as it can from the server it measures.
//!
//! ```text
//! storm_client --port P --client-id ID --redirect URI --password PW --device-cookie NAME
//!     --concurrency C --seconds S [--limit N] [--keep-devices] < people.json
//! ```
//!
//! stdin: `{"people": [["username", "device cookie" | null], ...]}`; the i-th login is
//! people[i % len]'s. `--keep-devices`: a device cookie a person got during this storm is sent on
//! that person's later logins in it (the runner's `devices` dict). stdout, at the end: `{"flows":
//! [s...], "posts": [s...], "errors": {key: n}, "devices": {username: cookie}, "cpu_s": s,
//! "seconds": s}`.

mod wire;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::exit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use memchr::memmem;
use sha2::{Digest, Sha256};

use wire::{encoded, form_encode, hidden, parse_head, query_state_code, unescape};

/// Per request, as loopflow's 60 s.
const TIMEOUT: Duration = Duration::from_secs(60);

struct Conf {
    addr: SocketAddr,
    host: String,
    redirect: String,
    device_cookie: String,
    keep_devices: bool,
    concurrency: usize,
    seconds: f64,
    limit: Option<usize>,
    /// Form-encoded once.
    client_id_enc: String,
    redirect_enc: String,
    password_enc: String,
}

struct Person {
    name: String,
    name_enc: String,
    /// The device cookie the runner gave.
    given: Option<String>,
    /// Index into `Shared::slots`: one per distinct username, as the runner's dict.
    slot: usize,
}

#[derive(Default)]
struct Slot {
    device: Option<String>,
    learned: bool,
}

struct Shared {
    conf: Conf,
    people: Vec<Person>,
    slots: Vec<Mutex<Slot>>,
    counter: AtomicUsize,
    deadline: Instant,
}

/// A failure's key, as loopflow's: "step status", or a short error name.
struct Fail(String);

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        use io::ErrorKind::*;
        Fail(
            match e.kind() {
                // A socket's SO_RCVTIMEO/SO_SNDTIMEO ends as EAGAIN.
                WouldBlock | TimedOut => "timeout",
                UnexpectedEof => "closed",
                ConnectionRefused => "ConnectionRefusedError",
                ConnectionReset => "ConnectionResetError",
                ConnectionAborted => "ConnectionAbortedError",
                BrokenPipe => "BrokenPipeError",
                k => return Fail(format!("{k:?}")),
            }
            .to_string(),
        )
    }
}

fn step(step: &str, status: impl std::fmt::Display) -> Fail {
    Fail(format!("{step} {status}"))
}

fn value_error() -> Fail {
    Fail("ValueError".to_string())
}

/// What a response's headers said; the body is in `Worker::body`.
struct Response {
    status: u16,
    location: Option<String>,
}

struct Worker<'a> {
    sh: &'a Shared,
    sock: Option<TcpStream>,
    /// Bytes read, buf[start..end] not yet used.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    body: Vec<u8>,
    out: Vec<u8>,
    jar: Vec<(String, String)>,
    sent: Instant,
    // This login's secrets.
    verifier: String,
    state: String,
    // Results.
    flows: Vec<f64>,
    posts: Vec<f64>,
    errors: HashMap<String, u64>,
}

impl<'a> Worker<'a> {
    fn new(sh: &'a Shared) -> Self {
        Worker {
            sh,
            sock: None,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            body: Vec::with_capacity(16 * 1024),
            out: Vec::with_capacity(4 * 1024),
            jar: Vec::new(),
            sent: Instant::now(),
            verifier: String::new(),
            state: String::new(),
            flows: Vec::new(),
            posts: Vec::new(),
            errors: HashMap::new(),
        }
    }

    /// Logins back to back until the deadline or the limit; as loopflow, a person whose login
    /// could not even start (connect, or sending the first request) stops.
    fn run(&mut self) {
        let sh = self.sh;
        loop {
            if Instant::now() >= sh.deadline {
                break;
            }
            let i = sh.counter.fetch_add(1, Ordering::Relaxed);
            if sh.conf.limit.is_some_and(|l| i >= l) {
                break;
            }
            let p = &sh.people[i % sh.people.len()];
            let device =
                if sh.conf.keep_devices { sh.slots[p.slot].lock().unwrap().device.clone() } else { p.given.clone() };
            let t0 = Instant::now();
            if let Err(f) = self.begin(device) {
                self.fail(f);
                break;
            }
            match self.finish(p) {
                Ok(post) => {
                    self.flows.push(t0.elapsed().as_secs_f64());
                    self.posts.push(post);
                    let name = &sh.conf.device_cookie;
                    if let Some((_, v)) = self.jar.iter().find(|(k, _)| k == name) {
                        if !v.is_empty() {
                            let mut s = sh.slots[p.slot].lock().unwrap();
                            s.device = Some(v.clone());
                            s.learned = true;
                        }
                    }
                }
                Err(f) => self.fail(f),
            }
        }
        self.sock = None;
    }

    fn fail(&mut self, f: Fail) {
        *self.errors.entry(f.0).or_insert(0) += 1;
        self.sock = None;
        self.start = 0;
        self.end = 0;
    }

    /// A fresh jar (with the person's device cookie), new PKCE secrets, the connection if there
    /// is none, and GET /authorize.
    fn begin(&mut self, device: Option<String>) -> Result<(), Fail> {
        self.jar.clear();
        if let Some(d) = device.filter(|d| !d.is_empty()) {
            self.jar.push((self.sh.conf.device_cookie.clone(), d));
        }
        let mut rnd = [0u8; 80];
        getrandom::getrandom(&mut rnd).map_err(|_| Fail("getrandom".into()))?;
        self.verifier.clear();
        URL_SAFE_NO_PAD.encode_string(&rnd[..48], &mut self.verifier);
        self.state.clear();
        URL_SAFE_NO_PAD.encode_string(&rnd[48..64], &mut self.state);
        let nonce = URL_SAFE_NO_PAD.encode(&rnd[64..80]);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()));
        let c = &self.sh.conf;
        let target = format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+profile&state={}&nonce={}\
             &code_challenge={}&code_challenge_method=S256",
            c.client_id_enc, c.redirect_enc, self.state, nonce, challenge
        );
        if self.sock.is_none() {
            let s = TcpStream::connect_timeout(&c.addr, TIMEOUT)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.set_write_timeout(Some(TIMEOUT))?;
            self.sock = Some(s);
            self.start = 0;
            self.end = 0;
        }
        self.send(b"GET", target.as_bytes(), None)
    }

    /// The rest of the flow after GET /authorize was sent; the POST /login's seconds.
    fn finish(&mut self, p: &Person) -> Result<f64, Fail> {
        let res = self.receive()?;
        let found = if res.status == 200 {
            hidden(&self.body, b"name=\"csrf\"").zip(hidden(&self.body, b"name=\"login_id\""))
        } else {
            None
        };
        let Some((csrf, login_id)) = found else {
            return Err(step("authorize", res.status));
        };
        let mut form = String::with_capacity(256);
        form.push_str("login_id=");
        form_encode(&unescape(&self.body[login_id.0..login_id.1])?, &mut form);
        form.push_str("&csrf=");
        form_encode(&unescape(&self.body[csrf.0..csrf.1])?, &mut form);
        form.push_str("&username=");
        form.push_str(&p.name_enc);
        form.push_str("&password=");
        form.push_str(&self.sh.conf.password_enc);
        self.send(b"POST", b"/login", Some(form.as_bytes()))?;

        let res = self.receive()?;
        let post = self.sent.elapsed().as_secs_f64();
        let loc = res.location.as_deref().unwrap_or("");
        if res.status != 303 || !loc.starts_with(self.sh.conf.redirect.as_str()) {
            return Err(step("login", res.status));
        }
        let (state, code) = query_state_code(loc);
        let code = match (state, code) {
            (Some(s), Some(c)) if s == self.state => c,
            _ => return Err(step("login", "no code")),
        };
        let c = &self.sh.conf;
        form.clear();
        form.push_str("grant_type=authorization_code&code=");
        form_encode(&code, &mut form);
        form.push_str("&redirect_uri=");
        form.push_str(&c.redirect_enc);
        form.push_str("&code_verifier=");
        form.push_str(&self.verifier);
        form.push_str("&client_id=");
        form.push_str(&c.client_id_enc);
        self.send(b"POST", b"/token", Some(form.as_bytes()))?;

        let res = self.receive()?;
        if res.status != 200 {
            return Err(step("token", res.status));
        }
        let tokens: serde_json::Value =
            serde_json::from_slice(&self.body).map_err(|_| Fail("JSONDecodeError".into()))?;
        if tokens.get("id_token").is_none() {
            return Err(step("token", "no id_token"));
        }
        Ok(post)
    }

    /// One request in one write: the request line, Host, the jar, and a form body.
    fn send(&mut self, method: &[u8], target: &[u8], body: Option<&[u8]>) -> Result<(), Fail> {
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(target);
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.sh.conf.host.as_bytes());
        out.extend_from_slice(b"\r\n");
        if !self.jar.is_empty() {
            out.extend_from_slice(b"Cookie: ");
            for (i, (k, v)) in self.jar.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"; ");
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                out.extend_from_slice(v.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        if let Some(b) = body {
            out.extend_from_slice(b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ");
            out.extend_from_slice(b.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(b);
        } else {
            out.extend_from_slice(b"\r\n");
        }
        let sock = self.sock.as_mut().ok_or_else(|| Fail("closed".into()))?;
        sock.write_all(out)?;
        self.sent = Instant::now();
        Ok(())
    }

    /// More bytes into buf[end..]; the buffer grows when full (data is only moved between
    /// responses, so positions within one response stay valid).
    fn fill(&mut self) -> Result<(), Fail> {
        if self.end == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        let sock = self.sock.as_mut().ok_or_else(|| Fail("closed".into()))?;
        let n = sock.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(Fail("closed".into()));
        }
        self.end += n;
        Ok(())
    }

    /// One whole response: headers scanned (Set-Cookie into the jar, Location kept), the body
    /// by Content-Length or chunked into `self.body`.
    fn receive(&mut self) -> Result<Response, Fail> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let mut scanned = 0;
        let head_end = loop {
            if let Some(i) = memmem::find(&self.buf[scanned..self.end], b"\r\n\r\n") {
                break scanned + i;
            }
            scanned = self.end.saturating_sub(3);
            self.fill()?;
        };
        let (status, length, chunked, location) = parse_head(&self.buf[..head_end], &mut self.jar)?;
        let mut pos = head_end + 4;
        self.body.clear();
        if !chunked {
            while self.end < pos + length {
                self.fill()?;
            }
            self.body.extend_from_slice(&self.buf[pos..pos + length]);
            pos += length;
        } else {
            loop {
                let eol = loop {
                    if let Some(i) = memmem::find(&self.buf[pos..self.end], b"\r\n") {
                        break pos + i;
                    }
                    self.fill()?;
                };
                let line = &self.buf[pos..eol];
                let hex = line.split(|&b| b == b';').next().unwrap_or(b"");
                let hex = std::str::from_utf8(hex).map_err(|_| value_error())?.trim();
                let size = usize::from_str_radix(hex, 16).map_err(|_| value_error())?;
                while self.end < eol + 2 + size + 2 {
                    self.fill()?;
                }
                self.body.extend_from_slice(&self.buf[eol + 2..eol + 2 + size]);
                pos = eol + 2 + size + 2;
                if size == 0 {
                    break;
                }
            }
        }
        self.start = pos;
        Ok(Response { status, location })
    }
}

/// (status, content length, chunked, Location) from the status line and headers; each
/// Set-Cookie's name=value (before the first ';') goes into the jar.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("storm_client: {msg}");
    eprintln!(
        "usage: storm_client --port P --client-id ID --redirect URI --password PW --device-cookie NAME \
         --concurrency C --seconds S [--limit N] [--keep-devices] < people.json"
    );
    exit(2);
}

fn main() {
    let mut opts: HashMap<String, String> = HashMap::new();
    let mut keep_devices = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--keep-devices" => keep_devices = true,
            "-h" | "--help" => usage("the login storm's load generator"),
            "--port" | "--client-id" | "--redirect" | "--password" | "--device-cookie" | "--concurrency"
            | "--seconds" | "--limit" => {
                let v = args.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
                opts.insert(a[2..].to_string(), v);
            }
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let need = |k: &str| opts.get(k).cloned().unwrap_or_else(|| usage(&format!("--{k} is required")));
    let port: u16 = need("port").parse().unwrap_or_else(|_| usage("--port: a port number"));
    let concurrency: usize = need("concurrency").parse().unwrap_or_else(|_| usage("--concurrency: a number"));
    let seconds: f64 = need("seconds").parse().unwrap_or_else(|_| usage("--seconds: a number"));
    let limit: Option<usize> = opts.get("limit").map(|v| v.parse().unwrap_or_else(|_| usage("--limit: a number")));
    let (client_id, redirect, password) = (need("client-id"), need("redirect"), need("password"));
    let conf = Conf {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        host: format!("127.0.0.1:{port}"),
        client_id_enc: encoded(&client_id),
        redirect_enc: encoded(&redirect),
        password_enc: encoded(&password),
        redirect,
        device_cookie: need("device-cookie"),
        keep_devices,
        concurrency,
        seconds,
        limit,
    };

    let mut input = Vec::new();
    if let Err(e) = io::stdin().read_to_end(&mut input) {
        usage(&format!("reading stdin: {e}"));
    }
    let input: serde_json::Value =
        serde_json::from_slice(&input).unwrap_or_else(|e| usage(&format!("stdin is not JSON: {e}")));
    let list = input
        .get("people")
        .and_then(|p| p.as_array())
        .unwrap_or_else(|| usage("stdin: {\"people\": [[username, device cookie or null], ...]}"));
    let mut slot_of: HashMap<String, usize> = HashMap::new();
    let mut people = Vec::with_capacity(list.len());
    let mut slots: Vec<Mutex<Slot>> = Vec::new();
    for entry in list {
        let name = entry.get(0).and_then(|v| v.as_str()).unwrap_or_else(|| usage("stdin: a person without a name"));
        let given = entry.get(1).and_then(|v| v.as_str()).map(str::to_string);
        let slot = *slot_of.entry(name.to_string()).or_insert_with(|| {
            slots.push(Mutex::new(Slot { device: given.clone(), learned: false }));
            slots.len() - 1
        });
        people.push(Person { name: name.to_string(), name_enc: encoded(name), given, slot });
    }
    if people.is_empty() {
        usage("stdin: no people");
    }

    let started = Instant::now();
    let shared = Shared {
        deadline: started + Duration::from_secs_f64(conf.seconds.max(0.0)),
        conf,
        people,
        slots,
        counter: AtomicUsize::new(0),
    };
    let (mut flows, mut posts, mut errors) = (Vec::new(), Vec::new(), HashMap::<String, u64>::new());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..shared.conf.concurrency)
            .map(|k| {
                let sh = &shared;
                std::thread::Builder::new()
                    .name(format!("person-{k}"))
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || {
                        let mut w = Worker::new(sh);
                        w.run();
                        (w.flows, w.posts, w.errors)
                    })
                    .expect("spawning a person's thread")
            })
            .collect();
        for h in handles {
            let (f, p, e) = h.join().expect("a person's thread");
            flows.extend(f);
            posts.extend(p);
            for (k, v) in e {
                *errors.entry(k).or_insert(0) += v;
            }
        }
    });
    let took = started.elapsed().as_secs_f64();

    let mut devices = serde_json::Map::new();
    for (p, slot) in shared.people.iter().map(|p| (p, &shared.slots[p.slot])) {
        let s = slot.lock().unwrap();
        if let (true, Some(d)) = (s.learned, &s.device) {
            devices.insert(p.name.clone(), serde_json::Value::String(d.clone()));
        }
    }
    let out = serde_json::json!({
        "flows": flows,
        "posts": posts,
        "errors": errors,
        "devices": devices,
        "cpu_s": cpu_seconds(),
        "seconds": took,
    });
    let mut stdout = io::stdout().lock();
    let _ = serde_json::to_writer(&mut stdout, &out);
    let _ = stdout.write_all(b"\n");
}
