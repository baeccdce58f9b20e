-- Which replica runs an accepted command (its duty holder id): a replica
-- that starts, or the housekeeping duty, runs again only the commands of
-- replicas that are gone, not those another live replica is running.
ALTER TABLE command_runs ADD COLUMN runner TEXT;
