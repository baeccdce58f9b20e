-- Every chat call goes through the outbox now, not only incidents':
--   run_id     the /diag run a row belongs to (its root becomes the run's
--              root message; the run is posted when its last row is);
--   parent_id  the row whose message this one goes under (a reply in that
--              message's thread) or replaces (an edit): a report's thread,
--              a remediation request's status and its edits;
--   thread_ts  the thread to post in, when it is known at queueing time
--              (an @mention's thread, a button's thread);
--   title      the name of the thread a root starts, on platforms that
--              name threads (Discord).
ALTER TABLE outbox ADD COLUMN run_id BIGINT;
ALTER TABLE outbox ADD COLUMN parent_id BIGINT;
ALTER TABLE outbox ADD COLUMN thread_ts TEXT;
ALTER TABLE outbox ADD COLUMN title TEXT;
CREATE INDEX outbox_run ON outbox (run_id, state) WHERE run_id IS NOT NULL;
-- A request's status edits coalesce into the one still waiting.
CREATE INDEX outbox_pending_parent_edits ON outbox (parent_id)
    WHERE kind = 'edit' AND state = 'pending' AND parent_id IS NOT NULL;

-- What a restarted medic needs to deliver a run it accepted before: the
-- thread it answers in (an @mention's), Slack's response_url (the private
-- answer where medic may not post), Discord's interaction token (valid
-- 15 minutes; cleared once the run is posted).
ALTER TABLE command_runs ADD COLUMN thread_ts TEXT;
ALTER TABLE command_runs ADD COLUMN response_url TEXT;
ALTER TABLE command_runs ADD COLUMN interaction_token TEXT;

-- A request's status message is an outbox row; its edits name it.
ALTER TABLE action_requests ADD COLUMN status_row BIGINT;
