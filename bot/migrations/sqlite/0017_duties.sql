-- Work only one replica does at a time (the incident worker, the outbox,
-- the reminders, the on-call schedule, housekeeping): a lease per duty,
-- held by one process and renewed while it works. A holder that dies
-- stops renewing, and another takes the duty once `expires_at` passes.
CREATE TABLE duties (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);
