-- Development clients may use loopback redirect URIs; pairwise clients see a per-application
-- subject identifier instead of the account id (OIDC Core §8.1).
ALTER TABLE clients ADD COLUMN development BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'public';
