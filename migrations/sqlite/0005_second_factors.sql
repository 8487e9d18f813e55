-- Second factors: one TOTP authenticator per account (secret sealed under the master key,
-- the last accepted time step to refuse replays) and single-use recovery codes (keyed hashes).
CREATE TABLE totp_factors (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret     BLOB NOT NULL,
    confirmed  BOOLEAN NOT NULL DEFAULT FALSE,
    last_step  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, code_hash)
);
