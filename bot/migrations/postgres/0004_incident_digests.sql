-- Alert storms: when more new incidents wait in a channel than it can take,
-- they are posted as one digest message, and that message's thread holds
-- their updates. digest_id is the outbox row that posts the digest.
ALTER TABLE incidents ADD COLUMN digest_id BIGINT;
CREATE INDEX incidents_digest ON incidents (digest_id);
