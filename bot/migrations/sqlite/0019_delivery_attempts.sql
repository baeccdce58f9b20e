-- A delivery the incident logic cannot apply is tried again, but not
-- forever: attempts counts the failures, error keeps the last one, and
-- after a few the delivery is 'parked' (kept, shown on /metrics and in the
-- log) so that those behind it are applied.
ALTER TABLE deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN error TEXT;
