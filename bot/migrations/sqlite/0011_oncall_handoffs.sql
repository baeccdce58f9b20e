-- The likely cause medic found for an incident, in one line, kept with it
-- for the handoff digest (and later the postmortem); set in the
-- transaction that queues the "Likely cause" message.
ALTER TABLE incidents ADD COLUMN likely_cause TEXT;

-- One handoff digest posted (or queued) in one rotation's channel on one
-- platform. A scheduled one is unique per handover instant: two replicas,
-- or a restart at the handover minute, insert it once and only the one
-- that inserted it queues the message, in the same transaction. A digest
-- asked for with /handoff has no scheduled_for (NULLs never collide).
CREATE TABLE handoffs (
    id             TEXT    PRIMARY KEY,
    rotation       TEXT    NOT NULL,
    platform       TEXT    NOT NULL,
    channel        TEXT    NOT NULL,
    scheduled_for  BIGINT,
    outgoing       TEXT,
    incoming       TEXT    NOT NULL,
    view           TEXT    NOT NULL,
    root_row       BIGINT,
    created_at     BIGINT  NOT NULL,
    remind_at      BIGINT,
    reminders      BIGINT  NOT NULL,
    taken_by       TEXT,
    taken_at       BIGINT
);
CREATE UNIQUE INDEX handoffs_once ON handoffs (rotation, platform, scheduled_for);
CREATE INDEX handoffs_remind ON handoffs (remind_at) WHERE remind_at IS NOT NULL;
