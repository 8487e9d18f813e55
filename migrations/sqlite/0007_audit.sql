-- The audit trail: append-only, each record carrying the hash of the one before it, so an
-- altered or deleted record breaks the chain (`gerbang audit verify`). Kept in step with
-- migrations/postgres/0007_audit.sql (only the sequence column's type differs).
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    actor     TEXT NOT NULL DEFAULT '',
    subject   TEXT NOT NULL DEFAULT '',
    ip        TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_subject ON audit_events (subject);
