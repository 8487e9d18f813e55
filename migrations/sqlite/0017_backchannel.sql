-- OpenID Connect Back-Channel Logout 1.0 (issue 12, part 4). Kept in step with
-- migrations/postgres/0017_backchannel.sql.

ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;

-- Logout tokens owed to applications: written in the same step that ends the session, sent
-- after it, retried with back-off until delivered or given up (visible to admins). The token
-- itself is made at each attempt, so a retry never resends an expired one.
CREATE TABLE logout_deliveries (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    sid             TEXT,
    reason          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    failed_at       BIGINT,
    last_error      TEXT
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX logout_deliveries_client ON logout_deliveries (client_id, created_at);
