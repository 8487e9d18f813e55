//! The signing-key lifecycle: `next` (in JWKS, not yet signing) → `current` (signing) →
//! `previous` (in JWKS until every token it signed has expired) → `retired` (out of JWKS, kept
//! for archived statements such as audit checkpoints).
//!
//! Every step is a compare-and-set in the database, so with several replicas running the
//! upkeep one makes each step and the others see it at their next reload. Which key signs is
//! decided from the times alone (the newest key whose `activates_at` has passed), so a replica
//! that loaded a `next` key switches to it on time even before any replica has recorded the step.

use super::keys::{Alg, KeyError, Keys};
use crate::config::keys::RELOAD_SECONDS;
use crate::config::Config;
use crate::store::keys::{self as key_store, KeyRow};
use crate::store::{Db, StoreError};

/// A replica that could not reload while a successor was published (the database unreachable for
/// a while) may still sign with a key after its successor activated, and clocks of replicas and
/// relying parties drift: a previous key stays published this much longer than the longest token
/// lifetime.
pub const RETIRE_GRACE: i64 = 4 * RELOAD_SECONDS + 60;

/// When keys move from one state to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Seconds a new key is published before it signs.
    pub publish_delay: i64,
    /// Seconds a key stays published after it stopped signing: the longest time a token it
    /// signed is still presented, plus [`RETIRE_GRACE`]. That is the access- and ID-token
    /// lifetime, and the SSO session's: an ID token is sent back as `id_token_hint` at logout,
    /// expired, for as long as the session it names. Refresh tokens are opaque.
    pub retire_after: i64,
    /// Seconds between scheduled rotations (0: only on demand).
    pub rotation_interval: i64,
}

impl KeyPolicy {
    pub fn from_config(c: &Config) -> KeyPolicy {
        KeyPolicy {
            publish_delay: c.keys.publish_seconds,
            retire_after: c.access_token_ttl.max(c.id_token_ttl).max(c.session_ttl) + RETIRE_GRACE,
            rotation_interval: c.keys.rotation_days * 86_400,
        }
    }
}

/// What one [`Keys::step`] did: keys it activated (with the key each replaced) and keys it
/// took out of JWKS.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    pub activated: Vec<(String, Alg, Option<String>)>,
    pub retired: Vec<String>,
}

/// What [`Keys::replace_compromised`] did: the keys it retired (with the state each had) and the
/// keys that sign from now on, one per algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    pub retired: Vec<RetiredKey>,
    pub signing: Vec<(String, Alg)>,
}

/// A key the emergency switch took out of JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredKey {
    pub kid: String,
    pub alg: String,
    /// `next`, `current` (it was signing) or `previous`.
    pub was: String,
}

/// Whether `row` belongs in JWKS at `now`: a previous key leaves at its `remove_at` even before a
/// replica has recorded it retired.
pub fn is_published(row: &KeyRow, now: i64) -> bool {
    match row.state.as_str() {
        "next" | "current" => true,
        "previous" => row.remove_at.is_none_or(|t| t > now),
        _ => false,
    }
}

/// The key of `alg` that signs at `now`: the published one activated last; when none has
/// activated yet (clocks apart), the earliest.
pub fn signer_for<'a>(rows: &'a [KeyRow], alg: &str, now: i64) -> Option<&'a KeyRow> {
    let of_alg = || rows.iter().filter(move |r| r.alg == alg && is_published(r, now));
    of_alg()
        .filter(|r| r.activates_at <= now)
        .max_by_key(|r| (r.activates_at, r.created_at))
        .or_else(|| of_alg().min_by_key(|r| r.activates_at))
}

impl Keys {
    /// Activates every `next` key whose time has come and retires every `previous` key whose
    /// tokens have all expired, then reloads. Safe to run on every replica at once.
    pub async fn step(&self, db: &Db, now: i64) -> Result<Step, KeyError> {
        let mut done = Step::default();
        let rows = key_store::list_published(db).await?;
        for row in rows.iter().filter(|r| r.state == "next" && r.activates_at <= now) {
            let Some(alg) = Alg::parse(&row.alg) else { continue };
            let remove_at = row.activates_at + self.policy.retire_after;
            if let Some(replaced) = key_store::activate(db, &row.alg, &row.kid, row.activates_at, remove_at).await? {
                done.activated.push((row.kid.clone(), alg, replaced));
            }
        }
        done.retired = key_store::retire_due(db, now, self.policy.retire_after).await?;
        self.reload_at(db, now).await?;
        Ok(done)
    }

    /// Publishes a `next` key per algorithm that signs after the publish delay. Refused while
    /// an earlier one is still waiting: a second key would be used before relying parties had
    /// it for the full delay, or leave the first one never signing. Returns the keys this call
    /// published: an algorithm whose next key another replica or command published meanwhile is
    /// left to it (it records its own), and the keys already published here are still returned
    /// to be recorded. Refused when it published none.
    pub async fn rotate(&self, db: &Db, now: i64) -> Result<Vec<(String, Alg)>, KeyError> {
        self.step(db, now).await?;
        let rows = key_store::list_published(db).await?;
        if let Some(waiting) = rows.iter().filter(|r| r.state == "next").map(|r| r.activates_at).max() {
            return Err(KeyError::TooSoon((waiting - now).max(1)));
        }
        let published = self.publish_each(db, Alg::ALL.into_iter(), now).await?;
        self.reload_at(db, now).await?;
        if published.is_empty() {
            return Err(KeyError::TooSoon(self.policy.publish_delay));
        }
        Ok(published)
    }

    /// The scheduled rotation: per algorithm, when the current key has signed for the rotation
    /// interval less the publish delay (so its successor activates on the interval) and none is
    /// waiting, publishes the next one. Returns the keys this call published; a replica that
    /// loses the race publishes none.
    pub async fn rotate_due(&self, db: &Db, now: i64) -> Result<Vec<(String, Alg)>, KeyError> {
        if self.policy.rotation_interval <= 0 {
            return Ok(Vec::new());
        }
        let rows = key_store::list_published(db).await?;
        let due = Alg::ALL.into_iter().filter(|alg| {
            let of_alg = || rows.iter().filter(|r| r.alg == alg.as_str());
            !of_alg().any(|r| r.state == "next")
                && of_alg().find(|r| r.state == "current").is_some_and(|current| {
                    current.activates_at + self.policy.rotation_interval - self.policy.publish_delay <= now
                })
        });
        let published = self.publish_each(db, due, now).await?;
        if !published.is_empty() {
            self.reload_at(db, now).await?;
        }
        Ok(published)
    }

    /// Publishes a next key for each of `algs`. A failure after some were published returns
    /// those, to be recorded (the rest waits for the scheduled rotation); before any, the error.
    async fn publish_each(
        &self,
        db: &Db,
        algs: impl Iterator<Item = Alg>,
        now: i64,
    ) -> Result<Vec<(String, Alg)>, KeyError> {
        let mut published = Vec::new();
        for alg in algs {
            match self.publish_next(db, alg, now).await {
                Ok(Some(kid)) => published.push((kid, alg)),
                Ok(None) => {}
                Err(e) if !published.is_empty() => {
                    tracing::error!(error = %e, alg = alg.as_str(), "a next signing key could not be published");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(published)
    }

    /// The emergency switch after a suspected compromise: a new current key per algorithm that
    /// signs at once, and every published key (next, current and previous) retired in the same
    /// transaction, then a reload, so on this replica the old keys are out of JWKS and verify
    /// nothing from now on. Other replicas follow at their next reload (within
    /// [`RELOAD_SECONDS`]), or sooner when they are shown a token of a new key. Retired keys
    /// stay in the table: an archived statement names its key (see `Keys::verify_archived`).
    pub async fn replace_compromised(&self, db: &Db, now: i64) -> Result<Replaced, KeyError> {
        let mut fresh = Vec::new();
        for alg in Alg::ALL {
            fresh.push(self.generate(alg, "current", now, now).await?);
        }
        let mut retired = key_store::replace_all(db, &fresh, now).await?;
        self.reload_at(db, now).await?;
        // For the operator's list: by state as the store gave them, each in the order of `Alg::ALL`.
        let rank = |alg: &str| Alg::ALL.iter().position(|a| a.as_str() == alg);
        retired.sort_by_key(|(_, alg, was)| (["current", "next", "previous"].iter().position(|s| s == was), rank(alg)));
        Ok(Replaced {
            retired: retired.into_iter().map(|(kid, alg, was)| RetiredKey { kid, alg, was }).collect(),
            signing: fresh.into_iter().zip(Alg::ALL).map(|(row, alg)| (row.kid, alg)).collect(),
        })
    }

    /// Inserts a `next` key of `alg`; None when one already waits (the unique index decides).
    async fn publish_next(&self, db: &Db, alg: Alg, now: i64) -> Result<Option<String>, KeyError> {
        let row = self.generate(alg, "next", now, now + self.policy.publish_delay).await?;
        match key_store::insert(db, &row).await {
            Ok(()) => Ok(Some(row.kid)),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
#[path = "key_lifecycle_tests.rs"]
mod tests;
