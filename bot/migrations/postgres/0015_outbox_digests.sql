-- Whether a channel is still in an alert storm (a digest began there in
-- the last minute) is asked before every small fold; this keeps it a
-- lookup as the outbox grows.
CREATE INDEX outbox_digests ON outbox (platform, channel, kind, created_at);
