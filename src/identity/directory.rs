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

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, parent: Option<&str>) -> (String, OpdRow) {
        let row = OpdRow {
            id: id.into(),
            code: format!("c-{id}"),
            name: format!("Unit {id}"),
            kind: "dinas".into(),
            parent_id: parent.map(String::from),
            created_at: 0,
            updated_at: 0,
        };
        (id.into(), row)
    }

    fn role(rank: usize, id: &str, client: Option<&str>, name: &str) -> (String, (usize, RoleRow)) {
        let row = RoleRow {
            id: id.into(),
            client_id: client.map(String::from),
            name: name.into(),
            description: String::new(),
            created_at: 0,
        };
        (id.into(), (rank, row))
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            units: [unit("top", None), unit("mid", Some("top")), unit("leaf", Some("mid"))].into_iter().collect(),
            // Ranked as the database ordered them: global roles ('' client) first, then by name.
            roles: [
                role(0, "r-aud", None, "auditor"),
                role(1, "r-peg", None, "pegawai"),
                role(2, "r-op", Some("app"), "operator"),
            ]
            .into_iter()
            .collect(),
            unit_roles: [
                ("top".to_string(), vec!["r-peg".to_string()]),
                ("mid".to_string(), vec!["r-aud".to_string()]),
            ]
            .into_iter()
            .collect(),
        }
    }

    fn names(i: &Inherited) -> Vec<&str> {
        i.roles.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn a_person_gets_the_unit_path_and_every_role_above_in_the_database_order() {
        let got = snapshot().resolve(Some("leaf"), &["r-op", "r-peg"]).expect("known");
        let opd = got.opd.as_ref().expect("claim");
        assert_eq!((opd.code.as_str(), opd.name.as_str()), ("c-leaf", "Unit leaf"));
        assert_eq!(opd.path, vec!["Unit top", "Unit mid", "Unit leaf"]);
        assert_eq!(names(&got), vec!["auditor", "pegawai", "operator"], "once each, ranked");
    }

    #[test]
    fn without_a_unit_only_the_own_roles_count() {
        let got = snapshot().resolve(None, &["r-op"]).expect("known");
        assert!(got.opd.is_none());
        assert_eq!(names(&got), vec!["operator"]);
        assert_eq!(names(&snapshot().resolve(Some("top"), &[]).expect("known")), vec!["pegawai"]);
    }

    #[test]
    fn anything_newer_than_the_snapshot_sends_the_request_to_the_exact_queries() {
        assert!(snapshot().resolve(Some("new-unit"), &[]).is_none());
        assert!(snapshot().resolve(Some("leaf"), &["new-role"]).is_none());
    }

    #[test]
    fn a_loop_in_the_tree_ends_the_walk() {
        let mut s = snapshot();
        s.units.insert("top".into(), unit("top", Some("leaf")).1);
        let got = s.resolve(Some("leaf"), &[]).expect("known");
        assert_eq!(got.opd.expect("claim").path.len(), 3);
    }

    #[tokio::test]
    async fn a_zero_ttl_turns_the_cache_off() {
        let db = Db::connect("sqlite::memory:", 1).await.expect("db");
        assert!(Directory::new(Duration::ZERO).resolve(&db, Some("leaf"), &[]).await.expect("no query").is_none());
    }
}
