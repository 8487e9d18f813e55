//! The audit records of backups and restores. The archive work is `backup`'s; the trail is
//! written here, in the application layer, like every other record.

use serde_json::json;

use crate::audit::{self, ChainKey, Event};
use crate::backup::archive::MemberKind;
use crate::backup::mac::Authenticity;
use crate::backup::{Restored, Written, RESTORED, TAKEN};
use crate::store::{Db, StoreError};

/// Records a backup in the trail of the database it was taken from. `chain`: the trail's key
/// as the server derives it ([`crate::state::audit_chain_key`]).
pub async fn record_taken(db: &Db, chain: ChainKey, actor: &str, w: &Written, now: i64) -> Result<(), StoreError> {
    audit::open(db, chain, now).await?;
    let tables = w.manifest.members.iter().filter(|m| m.kind == MemberKind::Table).count();
    let detail = json!({
        "file": w.file.file_name().map(|n| n.to_string_lossy().into_owned()),
        "sha256": w.sha256,
        "bytes": w.bytes,
        "schema": w.manifest.header.schema,
        "tables": tables,
    });
    audit::append(db, Event::new(TAKEN).actor(actor).detail(detail), now).await
}

/// Records a restore in the restored trail (through the normal append, so the chain goes on
/// from the restored head) and says whether the whole chain verifies. `chain` as for
/// [`record_taken`], derived from the restored database.
pub async fn record_restored(
    db: &Db,
    chain: ChainKey,
    actor: &str,
    done: &Restored,
    now: i64,
) -> Result<bool, StoreError> {
    audit::open(db, chain, now).await?;
    let h = &done.manifest.header;
    let detail = json!({
        "created_at": h.created_at,
        "source": h.database,
        "schema": h.schema,
        "gerbang": h.gerbang,
        "rows": done.rows,
        "forced": done.forced,
        // An archive without a MAC, restored because the operator said so: the trail says it.
        "authenticated": done.authenticity.authenticated(),
        "unauthenticated_accepted": done.authenticity == Authenticity::AcceptedUnauthenticated,
    });
    audit::append(db, Event::new(RESTORED).actor(actor).detail(detail), now).await?;
    Ok(audit::verify(db).await?.ok)
}
