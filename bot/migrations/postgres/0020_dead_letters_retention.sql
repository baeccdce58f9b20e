-- A runbook job that keeps failing (its diagnostics' results cannot be
-- written, its incident cannot be read) is tried again, but not forever:
-- attempts counts the failures, error keeps the last one, and after a few
-- the job is 'parked' (kept for `medic status`, counted on /metrics) so
-- that the jobs behind it run.
ALTER TABLE incident_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incident_jobs ADD COLUMN error TEXT;
-- The retention sweep ([retention]) deletes by age, in small batches.
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX command_runs_received ON command_runs (received_at);
CREATE INDEX incidents_resolved ON incidents (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX incident_jobs_incident ON incident_jobs (incident_id);
CREATE INDEX incident_events_incident ON incident_events (incident_id);
CREATE INDEX action_requests_created ON action_requests (created_at);
