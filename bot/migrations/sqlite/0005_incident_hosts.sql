-- Triage's correlation: the hosts and IPs an incident's alert names (title,
-- exception chain, details), as a JSON list, so that a later incident can
-- find it even when the host appears only inside the exception chain.
-- first_seen is indexed for the correlation window's range scan.
ALTER TABLE incidents ADD COLUMN named_hosts TEXT;
CREATE INDEX incidents_first_seen ON incidents (first_seen);
