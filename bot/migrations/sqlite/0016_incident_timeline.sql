-- An incident's timeline (`/incident timeline`, the postmortem draft):
-- each event as it happened, with who did it. A remediation's steps are
-- read from the audit log through the offers made in the incident's
-- thread, which now say whose they are.
CREATE TABLE incident_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  BIGINT  NOT NULL,
    at           BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    actor        TEXT,
    actor_name   TEXT,
    text         TEXT    NOT NULL
);
CREATE INDEX incident_events_of ON incident_events (incident_id, at);
ALTER TABLE action_offers ADD COLUMN incident_id BIGINT;
CREATE INDEX action_offers_incident ON action_offers (incident_id);
CREATE INDEX audit_log_ref ON audit_log (ref_id);
-- `/incident ack` typed in an incident's thread finds it by its root.
CREATE INDEX incidents_root ON incidents (platform, root_ts);
