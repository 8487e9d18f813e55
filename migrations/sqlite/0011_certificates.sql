-- Electronic certificates (Sertifikat Elektronik) bound to accounts, so Diskominfo can monitor
-- expiry and revocation. Only the public certificate is kept; the DER's SHA-256 identifies it.
CREATE TABLE certificates (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(id),
    fingerprint       TEXT NOT NULL UNIQUE,
    subject           TEXT NOT NULL,
    issuer            TEXT NOT NULL,
    serial            TEXT NOT NULL,
    not_before        BIGINT NOT NULL,
    not_after         BIGINT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    revoked_at        BIGINT,
    revocation_reason TEXT NOT NULL DEFAULT '',
    pem               TEXT NOT NULL,
    bound_by          TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX certificates_account ON certificates (account_id);
CREATE INDEX certificates_not_after ON certificates (not_after);
