-- Events a chat platform may deliver more than once (Slack retries an
-- Events API delivery with the same event_id when the answer was slow, and
-- a retry can reach another replica). The first process to insert the id
-- handles the event; the others see the conflict and drop it.
-- Rows older than a day are forgotten by housekeeping.
CREATE TABLE seen_events (
    source   TEXT    NOT NULL,
    event_id TEXT    NOT NULL,
    seen_at  BIGINT  NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX seen_events_at ON seen_events (seen_at);
