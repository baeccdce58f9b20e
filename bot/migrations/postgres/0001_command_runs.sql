-- Every command medic accepted: its record number is the "#42" under a report.
-- Kept column for column in step with migrations/sqlite; times are unix milliseconds.
CREATE TABLE command_runs (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform     TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    actor_id     TEXT    NOT NULL,
    actor_name   TEXT    NOT NULL,
    command      TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    received_at  BIGINT  NOT NULL,
    finished_at  BIGINT,
    status       TEXT,
    summary      TEXT,
    root_ts      TEXT,
    report_json  TEXT,
    error        TEXT
);
CREATE INDEX command_runs_state ON command_runs (state, received_at);
