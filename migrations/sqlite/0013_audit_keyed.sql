-- The audit chain becomes keyed (issue 10, item 7): records from here on are linked with an
-- HMAC under a key derived from the master key, so the chain cannot be recomputed by someone
-- who can edit the database but does not hold that key. Kept in step with
-- migrations/postgres/0012_audit_keyed.sql.
--
-- The head row names the newest record (sequence and hash) and is authenticated with the same
-- key, so deleting the newest records is found; its row is also what appends lock, so the
-- server and the command line never link two records to one predecessor. `keyed_from` is the
-- first sequence number written under the keyed rule: older records keep their unkeyed hashes
-- and are checked with the old rule. The migration leaves `mac` empty; the first start with
-- the master key signs it, vouching for the unkeyed records as they stand then.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    keyed_from BIGINT NOT NULL,
    mac        TEXT NOT NULL DEFAULT ''
);
INSERT INTO audit_head (id, seq, hash, keyed_from, mac)
SELECT 1, h.seq, h.hash, h.seq + 1, ''
FROM (
    SELECT
        COALESCE(
            (SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1),
            (SELECT seq FROM audit_anchor WHERE id = 1),
            0
        ) AS seq,
        COALESCE(
            (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1),
            (SELECT hash FROM audit_anchor WHERE id = 1),
            '0000000000000000000000000000000000000000000000000000000000000000'
        ) AS hash
) h;
-- The retention anchor is authenticated too: moving it forward would otherwise hide the removal
-- of the oldest records.
ALTER TABLE audit_anchor ADD COLUMN mac TEXT NOT NULL DEFAULT '';
