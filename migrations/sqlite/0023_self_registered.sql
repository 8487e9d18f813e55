-- Accounts a citizen created through /register (issue 14, federation review). Their NIK is the
-- registrant's word only, until an officer verifies the person: an upstream login asserting
-- that NIK is not linked to such an account, or whoever registered someone else's NIK would
-- capture its holder's logins. Accounts registered before this migration are found by the audit
-- record their registration wrote. Kept in step with the other folder's 0023.
ALTER TABLE accounts ADD COLUMN self_registered BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE accounts SET self_registered = TRUE
    WHERE id IN (SELECT subject FROM audit_events WHERE kind = 'account.registered');
