//! A small round-robin TCP proxy, standing in for the load balancer in front of the replicas:
//! each accepted connection goes to the next backend, and a backend that refuses the connection
//! (killed) is skipped for the next one, as a balancer's health check would. A test can pin
//! connections to one backend to make a cycle deterministic, and reads which backend served
//! each connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub port: u16,
    inner: Arc<Inner>,
    accept: tokio::task::JoinHandle<()>,
}

struct Inner {
    backends: Vec<SocketAddr>,
    next: AtomicUsize,
    /// The pinned backend, and how many times `pin` was called: a connection remembers the
    /// call it was routed under, so one routed just before a pin is not taken for a pinned one.
    pinned: Mutex<(Option<usize>, u64)>,
    /// (pin call, backend index) of every connection passed on, in order.
    served: Mutex<Vec<(u64, usize)>>,
}

impl Proxy {
    /// Listens on a free port and passes connections to the given backend ports (which need not
    /// be listening yet).
    pub async fn start(ports: &[u16]) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let inner = Arc::new(Inner {
            backends: ports.iter().map(|p| SocketAddr::from(([127, 0, 0, 1], *p))).collect(),
            next: AtomicUsize::new(0),
            pinned: Mutex::new((None, 0)),
            served: Mutex::new(Vec::new()),
        });
        let shared = inner.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pass(shared.clone(), client));
            }
        });
        Proxy { port, inner, accept }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends every following connection to backend `i` (while it accepts them), or back to
    /// round robin with `None`.
    pub fn pin(&self, i: Option<usize>) {
        let mut p = self.inner.pinned.lock().expect("pin");
        *p = (i, p.1 + 1);
    }

    /// The backends that served the connections routed since the last `pin` and not taken yet,
    /// in order (earlier ones are dropped).
    pub fn take_served(&self) -> Vec<usize> {
        let current = self.inner.pinned.lock().expect("pin").1;
        let all = std::mem::take(&mut *self.inner.served.lock().expect("served"));
        all.into_iter().filter(|(g, _)| *g == current).map(|(_, i)| i).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn pass(inner: Arc<Inner>, mut client: TcpStream) {
    let n = inner.backends.len();
    let (pinned, generation) = *inner.pinned.lock().expect("pin");
    let first = match pinned {
        Some(i) => i,
        None => inner.next.fetch_add(1, Ordering::Relaxed) % n,
    };
    for k in 0..n {
        let i = (first + k) % n;
        if let Ok(mut backend) = TcpStream::connect(inner.backends[i]).await {
            inner.served.lock().expect("served").push((generation, i));
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
            return;
        }
    }
    // No backend accepts: the client sees its connection closed, as behind a balancer with
    // every pod down.
}
