-- Signing-key lifecycle and master-key rotation (issue 14, part keys). Kept in step with
-- migrations/sqlite/0021_key_lifecycle.sql.
-- A key is `next` (published in JWKS, not yet signing) until `activates_at`, then `current`
-- (signing), then `previous` (no longer signing, still published until `remove_at`, when every
-- token it signed has expired), then `retired` (kept for archived statements such as audit
-- checkpoints, no longer published).
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_state_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_state_check
    CHECK (state IN ('next', 'current', 'previous', 'retired'));
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys ALTER COLUMN activates_at SET NOT NULL;
ALTER TABLE signing_keys ADD COLUMN remove_at BIGINT;
-- One key waiting per algorithm: of two replicas rotating on schedule at once, one inserts.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';

-- The secret every derived key (CSRF, login-id hashes, pairwise subjects, recovery codes, the
-- audit chain) comes from, sealed under the master key. It starts as the master key itself, so
-- nothing derived changes on upgrade, and it stays when the master key is rotated.
CREATE TABLE root_secret (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    sealed     BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
