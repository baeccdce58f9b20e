-- Remediation buttons. An offer is what a button's opaque id points at:
-- an action on a target, bound to a thread and an expiry. A request is
-- one press of an offer's button (at most one per offer: single use), and
-- moves pending → approved → running → succeeded | failed | skipped, or
-- pending → denied | expired. Each move is one conditional UPDATE, so a
-- double click or two medic processes move it once.
CREATE TABLE action_offers (
    id          TEXT    PRIMARY KEY,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    params      TEXT    NOT NULL,
    platform    TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    thread      TEXT,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE TABLE action_requests (
    id                TEXT    PRIMARY KEY,
    offer_id          TEXT    NOT NULL UNIQUE,
    action            TEXT    NOT NULL,
    target            TEXT    NOT NULL,
    params            TEXT    NOT NULL,
    platform          TEXT    NOT NULL,
    channel           TEXT    NOT NULL,
    thread            TEXT,
    requester         TEXT    NOT NULL,
    requester_name    TEXT    NOT NULL,
    approvals_needed  BIGINT  NOT NULL,
    state             TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    outcome           TEXT,
    output            TEXT,
    message_ts        TEXT
);
-- One run of an action per target at a time, enforced by the database.
CREATE UNIQUE INDEX action_requests_one_running ON action_requests (action, target) WHERE state = 'running';
CREATE INDEX action_requests_finished ON action_requests (action, target, finished_at);
CREATE INDEX action_requests_pending ON action_requests (state, expires_at);

CREATE TABLE action_approvals (
    request_id     TEXT    NOT NULL,
    approver       TEXT    NOT NULL,
    approver_name  TEXT    NOT NULL,
    at             BIGINT  NOT NULL,
    PRIMARY KEY (request_id, approver)
);

-- Append-only: every offer, request, approval, denial, expiry and run,
-- each row's hash covering its fields and the previous row's hash.
CREATE TABLE audit_log (
    seq        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT  NOT NULL,
    event      TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    ref_id     TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL UNIQUE,
    hash       TEXT    NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
