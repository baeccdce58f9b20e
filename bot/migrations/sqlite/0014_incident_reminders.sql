-- When an open, unacknowledged incident is next due a reminder (its
-- severity level's response time after it opened, then every
-- `[incidents] remind_every`), and how many were sent. NULL once it is
-- acknowledged, resolved, or done reminding.
ALTER TABLE incidents ADD COLUMN remind_at BIGINT;
ALTER TABLE incidents ADD COLUMN reminders BIGINT NOT NULL DEFAULT 0;
CREATE INDEX incidents_remind ON incidents (remind_at) WHERE remind_at IS NOT NULL;
