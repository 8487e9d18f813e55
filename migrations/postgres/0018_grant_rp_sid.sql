-- The session id an application was told for a grant (issue 12, back-channel logout). Kept in
-- step with migrations/sqlite/0018_grant_rp_sid.sql.
-- `sid` follows the person's login across re-logins in the same browser, so that ending the new
-- session ends the grant; `rp_sid` stays the one the application's ID tokens named, so its later
-- tokens and its back-channel logout token name the session it knows. NULL on older grants:
-- read as `sid`.
ALTER TABLE grants ADD COLUMN rp_sid TEXT;
