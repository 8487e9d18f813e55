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
    pinned: Mutex<Option<usize>>,
    /// The backend index of every connection passed on, in order.
    served: Mutex<Vec<usize>>,
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
            pinned: Mutex::new(None),
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
        *self.inner.pinned.lock().expect("pin") = i;
    }

    /// The backends that served the connections since the last call, in order.
    pub fn take_served(&self) -> Vec<usize> {
        std::mem::take(&mut *self.inner.served.lock().expect("served"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn pass(inner: Arc<Inner>, mut client: TcpStream) {
    let n = inner.backends.len();
    let first = match *inner.pinned.lock().expect("pin") {
        Some(i) => i,
        None => inner.next.fetch_add(1, Ordering::Relaxed) % n,
    };
    for k in 0..n {
        let i = (first + k) % n;
        if let Ok(mut backend) = TcpStream::connect(inner.backends[i]).await {
            inner.served.lock().expect("served").push(i);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
            return;
        }
    }
    // No backend accepts: the client sees its connection closed, as behind a balancer with
    // every pod down.
}
