-- An incident's severity level, P0–P3 (`[incidents.severity]` maps each
-- source's alert level to one when the incident opens). NULL for
-- incidents opened before.
ALTER TABLE incidents ADD COLUMN priority TEXT;
