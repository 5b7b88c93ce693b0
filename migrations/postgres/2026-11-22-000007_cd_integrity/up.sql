-- The register kept per CD cabinet, pages that keep their own heading, signed checkpoints, and a
-- database role for the service that can only read and append to the append-only tables.

-- A location marked as a CD cabinet keeps its own register pages; register-tracked stock is
-- held only in cabinets. Stock of register products already held elsewhere makes that place a
-- cabinet, so that no stock is left off a page.
ALTER TABLE locations ADD COLUMN cd_cabinet BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE locations SET cd_cabinet = TRUE
WHERE kind = 'cd_cabinet'
   OR id IN (SELECT b.location_id FROM stock_balances b JOIN products p ON p.id = b.product_id
             WHERE p.cd_register AND b.quantity > 0);

-- Pages per (cabinet, product). Pages opened before cabinets existed have no location: they are
-- closed by carrying their balance to cabinet pages when the service next migrates.
ALTER TABLE cd_register_pages
    ADD COLUMN location_id BIGINT REFERENCES locations(id),
    ADD COLUMN drug TEXT,
    ADD COLUMN strength TEXT,
    ADD COLUMN form TEXT,
    ADD COLUMN unit TEXT,
    ADD COLUMN chain_version BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN opened_after_movement_id BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN closed_at TIMESTAMP;
UPDATE cd_register_pages g SET drug = p.name, strength = p.strength, form = p.form, unit = p.unit
FROM products p WHERE p.id = g.product_id;
ALTER TABLE cd_register_pages
    ALTER COLUMN drug SET NOT NULL,
    ALTER COLUMN strength SET NOT NULL,
    ALTER COLUMN form SET NOT NULL,
    ALTER COLUMN unit SET NOT NULL,
    ALTER COLUMN chain_version DROP DEFAULT,
    ALTER COLUMN opened_after_movement_id DROP DEFAULT,
    DROP CONSTRAINT cd_register_pages_site_id_product_id_key,
    ADD CONSTRAINT cd_register_pages_balance_check CHECK (balance >= 0),
    ADD CONSTRAINT cd_register_pages_location_id_product_id_key UNIQUE (location_id, product_id);
CREATE INDEX cd_register_pages_site ON cd_register_pages (site_id, product_id);

-- The author of the entries that carry legacy pages forward, only where there are any.
INSERT INTO users (username, display_name, role, password_hash, enabled, authorised_witness, created_at, updated_at)
SELECT 'system:register-migration', 'Register migration', 'admin', '!', FALSE, FALSE,
    now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
WHERE EXISTS (SELECT 1 FROM cd_register_pages);

-- Each page's (count, balance, head) signed with a key held outside the database.
CREATE TABLE cd_checkpoints (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    page_id BIGINT NOT NULL REFERENCES cd_register_pages(id),
    entry_count BIGINT NOT NULL,
    balance BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    occasion TEXT NOT NULL CHECK (occasion IN ('export', 'schedule', 'request'))
);
CREATE INDEX cd_checkpoints_site ON cd_checkpoints (site_id, page_id, id);
CREATE TRIGGER cd_checkpoints_append_only BEFORE UPDATE OR DELETE ON cd_checkpoints
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER cd_checkpoints_no_truncate BEFORE TRUNCATE ON cd_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE INDEX stock_movements_location_product ON stock_movements (location_id, product_id, id);

-- The service's role: members of pharmacy_app may read every table, append to the append-only
-- ones and change only working records. It owns nothing, so it cannot disable a trigger,
-- truncate, or alter a table; migrations run as the owner.
DO $$
BEGIN
    CREATE ROLE pharmacy_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
GRANT USAGE ON SCHEMA public TO pharmacy_app;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO pharmacy_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO pharmacy_app;
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public'
        AND tablename NOT IN ('alert_acknowledgements', 'alerts', 'allergies', 'audit_events', 'cd_balance_checks', 'cd_check_resolutions', 'cd_patient_return_destructions', 'cd_patient_returns', 'cd_register_entries', 'compliance_checks', 'dose_corrections', 'dose_movements', 'dose_records', 'goods_receipt_lines', 'goods_receipts', 'invoice_lines', 'invoices', 'ip_assessment_products', 'ip_assessments', 'ip_review_triggers', 'ip_supplies', 'ip_supply_movements', 'patient_events', 'prescription_status_events', 'reconciliation_completions', 'reconciliation_tasks', 'release_supplies', 'screening_decisions', 'screening_findings', 'stock_movements', 'cd_checkpoints', '__diesel_schema_migrations')
    LOOP
        EXECUTE format('GRANT UPDATE ON %I TO pharmacy_app', t);
    END LOOP;
END
$$;
GRANT DELETE ON user_sites TO pharmacy_app;
REVOKE INSERT ON __diesel_schema_migrations FROM pharmacy_app;
-- Tables added by later migrations are readable and appendable by the service from the start;
-- a later migration grants UPDATE where a table holds working records.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO pharmacy_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO pharmacy_app;
