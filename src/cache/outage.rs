//! Whether the request being served met an unavailable cache (or database). The HTTP layer runs
//! each request in [`scope`]; the Redis backend [`record`]s an outage there, and so does the
//! store when the database is unreachable (down, restarting, pool exhausted), so however a
//! handler turned the failed step into an answer (a `server_error`, a "flow expired" page, an
//! error redirect), the client is told 503 + `Retry-After` instead — without threading a new
//! error variant through every domain error type.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static SEEN: Cell<bool>;
}

/// Runs `f`, returning its output and whether it met an unavailable cache.
pub async fn scope<F: Future>(f: F) -> (F::Output, bool) {
    SEEN.scope(Cell::new(false), async move {
        let out = f.await;
        (out, seen())
    })
    .await
}

/// Marks the current request (if any: background tasks have no scope) as having met an outage.
pub(crate) fn record() {
    let _ = SEEN.try_with(|c| c.set(true));
}

/// Whether the current request met an unavailable cache so far.
pub fn seen() -> bool {
    SEEN.try_with(Cell::get).unwrap_or(false)
}
