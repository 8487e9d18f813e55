-- Certificate monitoring (issue 13, part monitor): the webhook leg of each notice. Kept in step
-- with migrations/postgres/0020_monitor.sql.
-- A notice row is claimed first (INSERT ... ON CONFLICT DO NOTHING), so e-mail goes out once
-- however many replicas run the round; the webhook may fail, so its delivery is tracked apart
-- and retried by later rounds: webhook = '' (none configured when the notice was made),
-- 'due' (to be posted), 'sent', or 'failed' (given up after too many attempts).
ALTER TABLE certificate_notices ADD COLUMN webhook TEXT NOT NULL DEFAULT '';
ALTER TABLE certificate_notices ADD COLUMN webhook_attempts BIGINT NOT NULL DEFAULT 0;
-- When a round may try it next: a round that takes it moves this ahead first (its claim), so
-- two replicas never post the same notice at once.
ALTER TABLE certificate_notices ADD COLUMN webhook_next_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE certificate_notices ADD COLUMN webhook_error TEXT NOT NULL DEFAULT '';
CREATE INDEX certificate_notices_webhook ON certificate_notices (webhook, webhook_next_at);
