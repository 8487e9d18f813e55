-- Transaction signers (issue 13): proof of possession, approvals, revocation checking and
-- notices. Kept in step with migrations/sqlite/0019_cert_trust.sql.
-- `status` stays the administrators' own revocation record; what the certificate authority says
-- (CRL, OCSP, BSrE) is kept apart in the check_* columns, so one never overwrites the other.

-- What a binding still waits for: '' (nothing, it is in force), 'proof' (the holder's proof of
-- possession, or a second administrator's approval), 'approval' (a name that does not match:
-- an administrator other than the one who asked approves).
ALTER TABLE certificates ADD COLUMN pending TEXT NOT NULL DEFAULT '';
-- How possession of the private key was shown: 'none' (older bindings: never a signer until
-- the holder proves it), 'signature' (raw signature over a challenge), 'cms' (CMS detached
-- signature over a challenge), 'approved' (a second administrator vouched).
ALTER TABLE certificates ADD COLUMN possession TEXT NOT NULL DEFAULT 'none';
ALTER TABLE certificates ADD COLUMN possession_at BIGINT;
ALTER TABLE certificates ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';
-- How the certificate was matched to its holder: 'name', 'email', or 'none' (approved anyway).
ALTER TABLE certificates ADD COLUMN name_match TEXT NOT NULL DEFAULT '';
-- The last revocation check: 'unchecked', 'good', 'revoked', 'unknown' (the authority does not
-- know it), 'failed' (no answer could be had; the last good answer stands).
ALTER TABLE certificates ADD COLUMN check_status TEXT NOT NULL DEFAULT 'unchecked';
-- Where the answer came from: 'crl', 'ocsp', 'bsre' or ''.
ALTER TABLE certificates ADD COLUMN check_source TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN check_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN checked_at BIGINT;
-- Until when the answer holds (the CRL's or OCSP response's nextUpdate); a check after it asks again.
ALTER TABLE certificates ADD COLUMN check_valid_until BIGINT;
-- Read from the certificate at binding: its OCSP responder and CRL distribution points (space-separated).
ALTER TABLE certificates ADD COLUMN ocsp_url TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN crl_urls TEXT NOT NULL DEFAULT '';
-- The certificate of the CA that issued it (PEM), found by path validation: OCSP requests and
-- CRL signatures need it.
ALTER TABLE certificates ADD COLUMN issuer_pem TEXT NOT NULL DEFAULT '';
CREATE INDEX certificates_pending ON certificates (pending);

-- Certificate revocation lists, fetched from distribution points or uploaded by an
-- administrator, kept until their nextUpdate and shared by every replica.
CREATE TABLE crl_cache (
    -- The distribution point URL, or 'upload:' followed by the issuer's name hash.
    source          TEXT PRIMARY KEY,
    issuer          TEXT NOT NULL,
    der             BYTEA NOT NULL,
    this_update     BIGINT NOT NULL,
    next_update     BIGINT,
    fetched_at      BIGINT NOT NULL,
    last_attempt_at BIGINT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT ''
);

-- Notices already sent (expiring, expired, revoked, failing): one per certificate and kind, so
-- replicas running the daily check at once send each notice once.
CREATE TABLE certificate_notices (
    certificate_id TEXT NOT NULL REFERENCES certificates(id),
    kind           TEXT NOT NULL,
    sent_at        BIGINT NOT NULL,
    PRIMARY KEY (certificate_id, kind)
);
