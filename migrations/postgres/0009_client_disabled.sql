-- A disabled application can neither log people in nor obtain tokens; its grants are revoked
-- when it is disabled.
ALTER TABLE clients ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
