-- Indexes for role lookups (issue 14, throughput). Kept in step with the other folder's 0022.
-- A person's own roles and a unit's roles are read by account and by unit on every token,
-- refresh and userinfo; the unique indexes lead with role_id and cannot serve those lookups, so
-- each was a scan of every assignment.
CREATE INDEX role_assignments_by_account ON role_assignments (account_id) WHERE account_id IS NOT NULL;
CREATE INDEX role_assignments_by_opd ON role_assignments (opd_id) WHERE opd_id IS NOT NULL;
