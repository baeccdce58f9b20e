-- Who acknowledged an incident from its thread, and when (a resolve or a
-- reopen clears it).
ALTER TABLE incidents ADD COLUMN acked_at BIGINT;
ALTER TABLE incidents ADD COLUMN acked_by TEXT;
ALTER TABLE incidents ADD COLUMN acked_by_name TEXT;
