-- Where the audit chain starts after old records were removed by the retention policy: the
-- last removed record's sequence number and hash, so the remaining chain still verifies.
CREATE TABLE audit_anchor (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at   BIGINT NOT NULL
);
