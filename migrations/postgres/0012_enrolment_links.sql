-- One-time enrolment links: the first strong factor of an administrator is enrolled only through
-- one of these, issued by another administrator or the CLI. Only a hash of the link's secret is
-- kept. `redeemed_sid` is the SSO session that opened it: that session, and no other, may then
-- enrol one factor (until `redeemed_at` + the enrolment window); `completed_at` marks that done.
CREATE TABLE enrolment_links (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    issued_by    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    redeemed_at  BIGINT,
    redeemed_sid TEXT,
    completed_at BIGINT
);
CREATE INDEX enrolment_links_account ON enrolment_links (account_id);

-- How each factor was enrolled: through an enrolment link ('link'), or from a signed-in session
-- ('session') of the level recorded, so a factor added after a password-only login is visible.
-- Factors enrolled before this migration have neither.
ALTER TABLE passkeys ADD COLUMN enrolled_via TEXT;
ALTER TABLE passkeys ADD COLUMN enrolled_level BIGINT;
ALTER TABLE totp_factors ADD COLUMN enrolled_via TEXT;
ALTER TABLE totp_factors ADD COLUMN enrolled_level BIGINT;
