-- Federation with upstream identity providers (issue 12, part 1). Kept in step with
-- migrations/postgres/0015_upstream.sql.

-- Which person at an upstream provider (SIASN, INApas, another OIDC provider named by an
-- `[[upstream]]` table) is which account here. Made at the first login there, only after the
-- upstream's NIP/NIK claim matched the account; never by name or e-mail. One link per account
-- per upstream, and one account per upstream subject.
CREATE TABLE upstream_links (
    upstream_id   TEXT NOT NULL,
    subject       TEXT NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT,
    PRIMARY KEY (upstream_id, subject),
    UNIQUE (upstream_id, account_id)
);
CREATE INDEX upstream_links_account ON upstream_links (account_id);
