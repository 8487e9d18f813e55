-- Signing-key lifecycle and master-key rotation (issue 14, part keys). Kept in step with
-- migrations/postgres/0021_key_lifecycle.sql.
-- A key is `next` (published in JWKS, not yet signing) until `activates_at`, then `current`
-- (signing), then `previous` (no longer signing, still published until `remove_at`, when every
-- token it signed has expired), then `retired` (kept for archived statements such as audit
-- checkpoints, no longer published). SQLite cannot change a CHECK constraint in place, so the
-- table is rebuilt; nothing references it.
CREATE TABLE signing_keys_new (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('next', 'current', 'previous', 'retired')),
    private_key  BLOB NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    rotated_at   BIGINT,
    activates_at BIGINT NOT NULL,
    remove_at    BIGINT
);
INSERT INTO signing_keys_new (kid, alg, state, private_key, public_jwk, created_at, rotated_at, activates_at, remove_at)
    SELECT kid, alg, state, private_key, public_jwk, created_at, rotated_at, created_at, NULL FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';
-- One key waiting per algorithm: of two replicas rotating on schedule at once, one inserts.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';

-- The secret every derived key (CSRF, login-id hashes, pairwise subjects, recovery codes, the
-- audit chain) comes from, sealed under the master key. It starts as the master key itself, so
-- nothing derived changes on upgrade, and it stays when the master key is rotated.
CREATE TABLE root_secret (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    sealed     BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
