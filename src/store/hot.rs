//! A few SQLite connections kept outside the pool for the hottest read: the grant behind an
//! access token, which userinfo and introspection read at every call.
//!
//! sqlx runs each SQLite connection on a thread of its own, so a statement is a hop to that
//! thread and back; and a connection returned to the pool is pinged there, one more hop that does
//! no work for SQLite. Under load those hops (thread switches, wake-ups) cost Gerbang more CPU
//! than SQLite's own work. The connections here are never returned to the pool, so they are never
//! pinged. On PostgreSQL the pool is used as it is: there the ping is a round trip the server
//! pays anyway, and dropping it was measured slower.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::Mutex;

use super::access::{self, LiveGrant};
use super::{Db, Exec, StoreError};

/// The hot-read connections of one database (none on PostgreSQL).
#[derive(Default)]
pub struct HotReads {
    sqlite: Option<Readers>,
}

struct Readers {
    /// The pool they came from: once it is closed (shutdown, a test's outage) they are not used.
    pool: SqlitePool,
    /// `None` once a connection failed: that slot then falls back to the pool.
    conns: Vec<Mutex<Option<SqliteConnection>>>,
    next: AtomicUsize,
}

impl HotReads {
    /// Takes up to `n` connections out of `db`'s pool for good (the pool opens others in their
    /// place). On PostgreSQL, or when none can be had, every read goes through the pool.
    pub async fn open(db: &Db, n: usize) -> HotReads {
        let Db::Sqlite(pool) = db else { return HotReads::default() };
        let mut conns = Vec::new();
        for _ in 0..n {
            match pool.acquire().await {
                Ok(c) => conns.push(Mutex::new(Some(c.detach()))),
                Err(e) => {
                    tracing::warn!(error = %e, "no connection for the hot reads; they use the pool");
                    break;
                }
            }
        }
        if conns.is_empty() {
            return HotReads::default();
        }
        HotReads { sqlite: Some(Readers { pool: pool.clone(), conns, next: AtomicUsize::new(0) }) }
    }

    /// [`access::live_grant`] on a connection of its own when there is one.
    pub async fn live_grant(
        &self,
        db: &Db,
        grant_id: &str,
        jti: &str,
        now: i64,
        full: bool,
    ) -> Result<Option<LiveGrant>, StoreError> {
        if let Some(r) = self.sqlite.as_ref().filter(|r| !r.pool.is_closed()) {
            let mut slot = r.pick().await;
            if let Some(conn) = slot.as_mut() {
                let out = access::live_grant_on(Exec::SqliteTx(conn), db, grant_id, jti, now, full).await;
                if let Err(StoreError::Db(e)) = &out {
                    if !matches!(
                        e,
                        sqlx::Error::Database(_) | sqlx::Error::RowNotFound | sqlx::Error::ColumnDecode { .. }
                    ) {
                        // The connection itself failed (its thread gone): never use it again.
                        tracing::warn!(error = %e, "a hot-read connection failed; its reads use the pool");
                        *slot = None;
                    }
                }
                return out;
            }
        }
        access::live_grant(db, grant_id, jti, now, full).await
    }
}

impl Readers {
    /// A free connection if one is; else the next in turn, waited for (a task queued on a lock
    /// costs less than the pool's hops).
    async fn pick(&self) -> tokio::sync::MutexGuard<'_, Option<SqliteConnection>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        for i in 0..n {
            if let Ok(g) = self.conns[(start + i) % n].try_lock() {
                return g;
            }
        }
        self.conns[start % n].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::grants::{self, GrantRow};

    fn pool(db: &Db) -> &SqlitePool {
        match db {
            Db::Sqlite(p) => p,
            Db::Postgres(_) => unreachable!("a SQLite test"),
        }
    }

    fn grant(id: &str) -> GrantRow {
        GrantRow {
            id: id.into(),
            account_id: "akun".into(),
            client_id: "aplikasi".into(),
            scope: "openid".into(),
            sid: "sesi".into(),
            auth_time: 1,
            acr: "urn:gerbang:loa:1".into(),
            amr: "pwd".into(),
            created_at: 1,
            expires_at: 10_000,
            revoked_at: None,
            roles: String::new(),
            rp_sid: None,
        }
    }

    /// What the pool commits, the hot connections see at once (a revocation counts at the next
    /// userinfo); once the pool is closed they are no longer used, so an outage is an outage.
    #[tokio::test]
    async fn hot_reads_see_every_commit_and_stop_with_the_pool() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("hot.db").display());
        let db = Db::connect(&url, 4).await.expect("db");
        db.migrate().await.expect("migrate");
        let hot = HotReads::open(&db, 2).await;
        assert_eq!(hot.sqlite.as_ref().map(|r| r.conns.len()), Some(2));

        assert!(hot.live_grant(&db, "g1", "jti", 5, true).await.expect("read").is_none());
        for sql in [
            "INSERT INTO accounts (id, kind, nip, name, is_admin, status, created_at, updated_at) \
             VALUES ('akun', 'asn', '198503122010011001', 'Uji', FALSE, 'active', 1, 1)",
            "INSERT INTO clients (id, name, secret_hash, public_client, first_party, redirect_uris, \
             post_logout_redirect_uris, scopes, grant_types, token_alg, created_at, updated_at) \
             VALUES ('aplikasi', 'Uji', NULL, TRUE, FALSE, '', '', 'openid', '', 'RS256', 1, 1)",
        ] {
            sqlx::query(sql).execute(pool(&db)).await.expect("seed");
        }
        grants::insert_grant(&db, &grant("g1")).await.expect("insert");
        for _ in 0..4 {
            let live = hot.live_grant(&db, "g1", "jti", 5, true).await.expect("read").expect("found");
            assert_eq!((live.grant.revoked_at, live.jti_revoked), (None, false));
        }
        grants::revoke_grant(&db, "g1", 7).await.expect("revoke");
        grants::revoke_jti(&db, "jti", 10_000).await.expect("revoke jti");
        for _ in 0..4 {
            let live = hot.live_grant(&db, "g1", "jti", 8, false).await.expect("read").expect("found");
            assert_eq!((live.grant.revoked_at, live.jti_revoked), (Some(7), true));
        }

        db.close().await;
        let err = hot.live_grant(&db, "g1", "jti", 8, false).await.expect_err("the pool is closed");
        assert!(matches!(err, StoreError::Db(sqlx::Error::PoolClosed)), "{err}");
    }
}
