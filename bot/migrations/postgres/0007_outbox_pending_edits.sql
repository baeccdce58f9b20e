-- A repeat of an open incident replaces the body of its pending root edit
-- (`UPDATE outbox … WHERE incident_id = ? AND kind = 'edit' AND state =
-- 'pending'`). Without this index that statement read every pending row
-- of the outbox, and in an alert storm the outbox holds thousands.
CREATE INDEX outbox_pending_edits ON outbox (incident_id) WHERE kind = 'edit' AND state = 'pending';
