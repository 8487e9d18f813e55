//! The OPD tree, the roles and the roles given to units, read whole and kept in memory for
//! `directory_cache_seconds` (default 2), for userinfo: its `opd` claim and a person's inherited
//! roles would otherwise cost two recursive queries per request.
//!
//! Only what is shared by many people is kept, never anything about one person or one token: a
//! person's unit, their own roles and whether their tokens still count are read fresh on every
//! request. So a change to the tree, a new role or a role given to a unit shows within the TTL,
//! while taking a role away (which revokes the grants that carried it), a move to another unit or
//! a suspension counts at once. Anything the snapshot does not know yet (a unit or role created
//! after it was read) sends the request to the exact queries instead.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::opd::OpdClaim;
use crate::store::access as store;
use crate::store::opd::OpdRow;
use crate::store::roles::RoleRow;
use crate::store::{Db, StoreError};

/// The deepest chain of units followed, as the recursive queries do.
const MAX_DEPTH: usize = 32;

#[derive(Default)]
struct Snapshot {
    units: HashMap<String, OpdRow>,
    /// Each role with its position in the database's `ORDER BY client_id, name`, so a person's
    /// roles come out in the order (and collation) the exact query gives.
    roles: HashMap<String, (usize, RoleRow)>,
    /// Unit id → the roles assigned to that unit itself.
    unit_roles: HashMap<String, Vec<String>>,
}

pub struct Directory {
    ttl: Duration,
    current: RwLock<Option<(Arc<Snapshot>, Instant)>>,
    /// One reader refreshes at a time; the others keep using the snapshot they have meanwhile.
    refreshing: tokio::sync::Mutex<()>,
}

/// What a person gets from the directory: the `opd` claim of their unit and their effective
/// roles (their own and those of their unit and every unit above it).
pub struct Inherited {
    pub opd: Option<OpdClaim>,
    pub roles: Vec<RoleRow>,
}

impl Directory {
    pub fn new(ttl: Duration) -> Directory {
        Directory { ttl, current: RwLock::new(None), refreshing: tokio::sync::Mutex::new(()) }
    }

    /// The `opd` claim and effective roles of a person in `opd_id` holding `direct` (role ids)
    /// themselves; `None` when the cache is off or the snapshot does not know one of them.
    pub async fn resolve(
        &self,
        db: &Db,
        opd_id: Option<&str>,
        direct: &[&str],
    ) -> Result<Option<Inherited>, StoreError> {
        if self.ttl.is_zero() {
            return Ok(None);
        }
        let snap = self.snapshot(db).await?;
        Ok(snap.resolve(opd_id, direct))
    }

    async fn snapshot(&self, db: &Db) -> Result<Arc<Snapshot>, StoreError> {
        let fresh = |c: &Option<(Arc<Snapshot>, Instant)>| {
            c.as_ref().filter(|(_, at)| at.elapsed() < self.ttl).map(|(s, _)| s.clone())
        };
        if let Some(s) = fresh(&self.current.read().unwrap_or_else(|p| p.into_inner())) {
            return Ok(s);
        }
        let _turn = self.refreshing.lock().await;
        // Someone else may have refreshed while this request waited its turn.
        if let Some(s) = fresh(&self.current.read().unwrap_or_else(|p| p.into_inner())) {
            return Ok(s);
        }
        let read_at = Instant::now();
        let snap = Arc::new(load(db).await?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some((snap.clone(), read_at));
        Ok(snap)
    }
}

async fn load(db: &Db) -> Result<Snapshot, StoreError> {
    let units = crate::store::opd::list(db).await?.into_iter().map(|u| (u.id.clone(), u)).collect();
    let roles =
        crate::store::roles::list(db).await?.into_iter().enumerate().map(|(i, r)| (r.id.clone(), (i, r))).collect();
    let mut unit_roles: HashMap<String, Vec<String>> = HashMap::new();
    for (unit, role) in store::unit_role_assignments(db).await? {
        unit_roles.entry(unit).or_default().push(role);
    }
    Ok(Snapshot { units, roles, unit_roles })
}

impl Snapshot {
    fn resolve(&self, opd_id: Option<&str>, direct: &[&str]) -> Option<Inherited> {
        let mut chain: Vec<&OpdRow> = Vec::new();
        if let Some(id) = opd_id {
            let mut next = Some(id);
            while let Some(id) = next {
                if chain.len() > MAX_DEPTH || chain.iter().any(|u| u.id == id) {
                    break;
                }
                let unit = self.units.get(id)?;
                chain.push(unit);
                next = unit.parent_id.as_deref();
            }
        }
        let mut held: Vec<&(usize, RoleRow)> = Vec::new();
        let from_units = chain.iter().filter_map(|u| self.unit_roles.get(&u.id)).flatten().map(String::as_str);
        for id in direct.iter().copied().chain(from_units) {
            let role = self.roles.get(id)?;
            if !held.iter().any(|(_, r)| r.id == role.1.id) {
                held.push(role);
            }
        }
        held.sort_by_key(|(rank, _)| *rank);
        let opd = chain.first().map(|unit| OpdClaim {
            code: unit.code.clone(),
            name: unit.name.clone(),
            kind: unit.kind.clone(),
            path: chain.iter().rev().map(|u| u.name.clone()).collect(),
        });
        Some(Inherited { opd, roles: held.into_iter().map(|(_, r)| r.clone()).collect() })
    }
}
