-- The register's integrity controls are not removed by a down migration: pages per cabinet,
-- checkpoints and their entries are CD records, kept for their retention period.
DO $$ BEGIN RAISE EXCEPTION 'the CD register migration is not reversible'; END $$;
