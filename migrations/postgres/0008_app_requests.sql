-- Application registration requests: an OPD asks, Diskominfo reviews. On approval the client
-- secret waits here sealed under the master key until the requester fetches it, once.
CREATE TABLE app_requests (
    id             TEXT PRIMARY KEY,
    requester_id   TEXT NOT NULL REFERENCES accounts (id),
    opd_id         TEXT NOT NULL REFERENCES opd_units (id),
    name           TEXT NOT NULL,
    category       TEXT NOT NULL,
    redirect_uris  TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    min_level      BIGINT NOT NULL,
    public_client  BOOLEAN NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason         TEXT NOT NULL DEFAULT '',
    client_id      TEXT,
    sealed_secret  BYTEA,
    reviewed_by    TEXT,
    created_at     BIGINT NOT NULL,
    reviewed_at    BIGINT,
    fetched_at     BIGINT
);
CREATE INDEX app_requests_opd ON app_requests (opd_id);
