-- Housekeeping forgets deliveries applied more than a week ago (the
-- table grew without bound): a week is far beyond any vendor's retry
-- window, so redelivery dedup loses nothing. The index keeps that delete
-- a range scan of the oldest rows instead of a scan of the whole table.
CREATE INDEX deliveries_received ON deliveries (received_at);
