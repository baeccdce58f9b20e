-- One incident per alert fingerprint while it is open; a thread in its routed
-- channel. seen_count and last_seen feed the root's "seen 37 times" line.
CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    service      TEXT,
    host         TEXT,
    link         TEXT,
    platform     TEXT,
    channel      TEXT,
    root_ts      TEXT,
    seen_count   BIGINT  NOT NULL,
    first_seen   BIGINT  NOT NULL,
    last_seen    BIGINT  NOT NULL,
    resolved_at  BIGINT,
    alert_json   TEXT    NOT NULL
);
-- At most one open incident per fingerprint.
CREATE UNIQUE INDEX incidents_open ON incidents (source, fingerprint) WHERE state = 'open';
CREATE INDEX incidents_fingerprint ON incidents (source, fingerprint, id);

-- Work that follows an incident and must survive a restart: running its
-- runbook's diagnostics. A job is taken, run, and marked done in the same
-- transaction that queues its messages.
CREATE TABLE incident_jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    done_at      BIGINT
);
CREATE INDEX incident_jobs_state ON incident_jobs (state, id);

-- Every chat call medic makes for incidents, in order per channel. A row is
-- pending until the platform has it; 'sending' marks a call in flight, so a
-- restart can find out whether it landed before sending it again.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    platform     TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    incident_id  BIGINT,
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    not_before   BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    sent_ts      TEXT,
    error        TEXT
);
CREATE INDEX outbox_pending ON outbox (state, platform, channel, id);
