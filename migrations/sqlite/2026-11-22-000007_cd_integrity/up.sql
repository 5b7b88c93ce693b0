-- The register kept per CD cabinet, pages that keep their own heading, signed checkpoints, and
-- append-only tables that no INSERT OR REPLACE or upsert can overwrite.
PRAGMA foreign_keys = OFF;
BEGIN;

-- A location marked as a CD cabinet keeps its own register pages; register-tracked stock is
-- held only in cabinets. Stock of register products already held elsewhere makes that place a
-- cabinet, so that no stock is left off a page.
ALTER TABLE locations ADD COLUMN cd_cabinet BOOLEAN NOT NULL DEFAULT 0;
UPDATE locations SET cd_cabinet = 1
WHERE kind = 'cd_cabinet'
   OR id IN (SELECT b.location_id FROM stock_balances b JOIN products p ON p.id = b.product_id
             WHERE p.cd_register AND b.quantity > 0);

-- Pages per (cabinet, product). Pages opened before cabinets existed have no location: they are
-- closed by carrying their balance to cabinet pages when the service next migrates.
CREATE TABLE cd_register_pages_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    location_id BIGINT REFERENCES locations(id),
    drug TEXT NOT NULL,
    strength TEXT NOT NULL,
    form TEXT NOT NULL,
    unit TEXT NOT NULL,
    chain_version BIGINT NOT NULL,
    entry_count BIGINT NOT NULL,
    balance BIGINT NOT NULL CHECK (balance >= 0),
    head_hash TEXT NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    last_entry_at TIMESTAMP,
    opened_after_movement_id BIGINT NOT NULL,
    closed_at TIMESTAMP,
    UNIQUE (location_id, product_id)
);
INSERT INTO cd_register_pages_v2 (id, site_id, product_id, location_id, drug, strength, form, unit,
    chain_version, entry_count, balance, head_hash, opened_at, last_entry_at, opened_after_movement_id)
SELECT g.id, g.site_id, g.product_id, NULL, p.name, p.strength, p.form, p.unit, 1, g.entry_count,
    g.balance, g.head_hash, g.opened_at, g.last_entry_at, 0
FROM cd_register_pages g JOIN products p ON p.id = g.product_id;
DROP TABLE cd_register_pages;
ALTER TABLE cd_register_pages_v2 RENAME TO cd_register_pages;
CREATE INDEX cd_register_pages_site ON cd_register_pages (site_id, product_id);

-- The author of the entries that carry legacy pages forward, only where there are any.
INSERT INTO users (username, display_name, role, password_hash, enabled, authorised_witness, created_at, updated_at)
SELECT 'system:register-migration', 'Register migration', 'admin', '!', 0, 0,
    strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE EXISTS (SELECT 1 FROM cd_register_pages);

-- Each page's (count, balance, head) signed with a key held outside the database.
CREATE TABLE cd_checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE TRIGGER cd_checkpoints_no_update BEFORE UPDATE ON cd_checkpoints
BEGIN SELECT RAISE(ABORT, 'table cd_checkpoints is append-only: UPDATE rejected'); END;
CREATE TRIGGER cd_checkpoints_no_delete BEFORE DELETE ON cd_checkpoints
BEGIN SELECT RAISE(ABORT, 'table cd_checkpoints is append-only: DELETE rejected'); END;

CREATE INDEX stock_movements_location_product ON stock_movements (location_id, product_id, id);

-- INSERT OR REPLACE deletes the row it replaces without firing DELETE triggers, and an upsert
-- rewrites it: refuse any insert that would meet an existing row of an append-only table.
CREATE TRIGGER alert_acknowledgements_no_overwrite BEFORE INSERT ON alert_acknowledgements
WHEN EXISTS (SELECT 1 FROM alert_acknowledgements WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table alert_acknowledgements is append-only: overwrite rejected'); END;
CREATE TRIGGER alert_acknowledgements_no_replace_alert_id BEFORE INSERT ON alert_acknowledgements
WHEN EXISTS (SELECT 1 FROM alert_acknowledgements WHERE alert_id = NEW.alert_id)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: alert_acknowledgements.alert_id (append-only: no replacement)'); END;
CREATE TRIGGER alerts_no_overwrite BEFORE INSERT ON alerts
WHEN EXISTS (SELECT 1 FROM alerts WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table alerts is append-only: overwrite rejected'); END;
CREATE TRIGGER allergies_no_overwrite BEFORE INSERT ON allergies
WHEN EXISTS (SELECT 1 FROM allergies WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table allergies is append-only: overwrite rejected'); END;
CREATE TRIGGER audit_events_no_overwrite BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table audit_events is append-only: overwrite rejected'); END;
CREATE TRIGGER cd_balance_checks_no_overwrite BEFORE INSERT ON cd_balance_checks
WHEN EXISTS (SELECT 1 FROM cd_balance_checks WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table cd_balance_checks is append-only: overwrite rejected'); END;
CREATE TRIGGER cd_check_resolutions_no_overwrite BEFORE INSERT ON cd_check_resolutions
WHEN EXISTS (SELECT 1 FROM cd_check_resolutions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table cd_check_resolutions is append-only: overwrite rejected'); END;
CREATE TRIGGER cd_check_resolutions_no_replace_check_id BEFORE INSERT ON cd_check_resolutions
WHEN EXISTS (SELECT 1 FROM cd_check_resolutions WHERE check_id = NEW.check_id)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: cd_check_resolutions.check_id (append-only: no replacement)'); END;
CREATE TRIGGER cd_patient_return_destructions_no_overwrite BEFORE INSERT ON cd_patient_return_destructions
WHEN EXISTS (SELECT 1 FROM cd_patient_return_destructions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table cd_patient_return_destructions is append-only: overwrite rejected'); END;
CREATE TRIGGER cd_patient_return_destructions_no_replace_return_id BEFORE INSERT ON cd_patient_return_destructions
WHEN EXISTS (SELECT 1 FROM cd_patient_return_destructions WHERE return_id = NEW.return_id)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: cd_patient_return_destructions.return_id (append-only: no replacement)'); END;
CREATE TRIGGER cd_patient_returns_no_overwrite BEFORE INSERT ON cd_patient_returns
WHEN EXISTS (SELECT 1 FROM cd_patient_returns WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table cd_patient_returns is append-only: overwrite rejected'); END;
CREATE TRIGGER cd_register_entries_no_overwrite BEFORE INSERT ON cd_register_entries
WHEN EXISTS (SELECT 1 FROM cd_register_entries WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table cd_register_entries is append-only: overwrite rejected'); END;
CREATE TRIGGER cd_register_entries_no_replace_page_id_seq BEFORE INSERT ON cd_register_entries
WHEN EXISTS (SELECT 1 FROM cd_register_entries WHERE page_id = NEW.page_id AND seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: cd_register_entries.page_id, cd_register_entries.seq (append-only: no replacement)'); END;
CREATE TRIGGER compliance_checks_no_overwrite BEFORE INSERT ON compliance_checks
WHEN EXISTS (SELECT 1 FROM compliance_checks WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table compliance_checks is append-only: overwrite rejected'); END;
CREATE TRIGGER dose_corrections_no_overwrite BEFORE INSERT ON dose_corrections
WHEN EXISTS (SELECT 1 FROM dose_corrections WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table dose_corrections is append-only: overwrite rejected'); END;
CREATE TRIGGER dose_corrections_no_replace_dose_record_id BEFORE INSERT ON dose_corrections
WHEN EXISTS (SELECT 1 FROM dose_corrections WHERE dose_record_id = NEW.dose_record_id)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: dose_corrections.dose_record_id (append-only: no replacement)'); END;
CREATE TRIGGER dose_movements_no_overwrite BEFORE INSERT ON dose_movements
WHEN EXISTS (SELECT 1 FROM dose_movements WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table dose_movements is append-only: overwrite rejected'); END;
CREATE TRIGGER dose_records_no_overwrite BEFORE INSERT ON dose_records
WHEN EXISTS (SELECT 1 FROM dose_records WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table dose_records is append-only: overwrite rejected'); END;
CREATE TRIGGER dose_records_no_replace_prescription_id_scheduled_date_slot_attempt BEFORE INSERT ON dose_records
WHEN EXISTS (SELECT 1 FROM dose_records WHERE prescription_id = NEW.prescription_id AND scheduled_date = NEW.scheduled_date AND slot = NEW.slot AND attempt = NEW.attempt)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: dose_records.prescription_id, dose_records.scheduled_date, dose_records.slot, dose_records.attempt (append-only: no replacement)'); END;
CREATE TRIGGER goods_receipt_lines_no_overwrite BEFORE INSERT ON goods_receipt_lines
WHEN EXISTS (SELECT 1 FROM goods_receipt_lines WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table goods_receipt_lines is append-only: overwrite rejected'); END;
CREATE TRIGGER goods_receipts_no_overwrite BEFORE INSERT ON goods_receipts
WHEN EXISTS (SELECT 1 FROM goods_receipts WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table goods_receipts is append-only: overwrite rejected'); END;
CREATE TRIGGER invoice_lines_no_overwrite BEFORE INSERT ON invoice_lines
WHEN EXISTS (SELECT 1 FROM invoice_lines WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table invoice_lines is append-only: overwrite rejected'); END;
CREATE TRIGGER invoice_lines_no_replace_invoice_id_receipt_line_id BEFORE INSERT ON invoice_lines
WHEN EXISTS (SELECT 1 FROM invoice_lines WHERE invoice_id = NEW.invoice_id AND receipt_line_id = NEW.receipt_line_id)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: invoice_lines.invoice_id, invoice_lines.receipt_line_id (append-only: no replacement)'); END;
CREATE TRIGGER invoices_no_overwrite BEFORE INSERT ON invoices
WHEN EXISTS (SELECT 1 FROM invoices WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table invoices is append-only: overwrite rejected'); END;
CREATE TRIGGER invoices_no_replace_receipt_id BEFORE INSERT ON invoices
WHEN EXISTS (SELECT 1 FROM invoices WHERE receipt_id = NEW.receipt_id)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: invoices.receipt_id (append-only: no replacement)'); END;
CREATE TRIGGER ip_assessment_products_no_overwrite BEFORE INSERT ON ip_assessment_products
WHEN EXISTS (SELECT 1 FROM ip_assessment_products WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table ip_assessment_products is append-only: overwrite rejected'); END;
CREATE TRIGGER ip_assessment_products_no_replace_assessment_id_product_id BEFORE INSERT ON ip_assessment_products
WHEN EXISTS (SELECT 1 FROM ip_assessment_products WHERE assessment_id = NEW.assessment_id AND product_id = NEW.product_id)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: ip_assessment_products.assessment_id, ip_assessment_products.product_id (append-only: no replacement)'); END;
CREATE TRIGGER ip_assessments_no_overwrite BEFORE INSERT ON ip_assessments
WHEN EXISTS (SELECT 1 FROM ip_assessments WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table ip_assessments is append-only: overwrite rejected'); END;
CREATE TRIGGER ip_review_triggers_no_overwrite BEFORE INSERT ON ip_review_triggers
WHEN EXISTS (SELECT 1 FROM ip_review_triggers WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table ip_review_triggers is append-only: overwrite rejected'); END;
CREATE TRIGGER ip_supplies_no_overwrite BEFORE INSERT ON ip_supplies
WHEN EXISTS (SELECT 1 FROM ip_supplies WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table ip_supplies is append-only: overwrite rejected'); END;
CREATE TRIGGER ip_supply_movements_no_overwrite BEFORE INSERT ON ip_supply_movements
WHEN EXISTS (SELECT 1 FROM ip_supply_movements WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table ip_supply_movements is append-only: overwrite rejected'); END;
CREATE TRIGGER patient_events_no_overwrite BEFORE INSERT ON patient_events
WHEN EXISTS (SELECT 1 FROM patient_events WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table patient_events is append-only: overwrite rejected'); END;
CREATE TRIGGER prescription_status_events_no_overwrite BEFORE INSERT ON prescription_status_events
WHEN EXISTS (SELECT 1 FROM prescription_status_events WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table prescription_status_events is append-only: overwrite rejected'); END;
CREATE TRIGGER reconciliation_completions_no_overwrite BEFORE INSERT ON reconciliation_completions
WHEN EXISTS (SELECT 1 FROM reconciliation_completions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table reconciliation_completions is append-only: overwrite rejected'); END;
CREATE TRIGGER reconciliation_completions_no_replace_task_id BEFORE INSERT ON reconciliation_completions
WHEN EXISTS (SELECT 1 FROM reconciliation_completions WHERE task_id = NEW.task_id)
BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: reconciliation_completions.task_id (append-only: no replacement)'); END;
CREATE TRIGGER reconciliation_tasks_no_overwrite BEFORE INSERT ON reconciliation_tasks
WHEN EXISTS (SELECT 1 FROM reconciliation_tasks WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table reconciliation_tasks is append-only: overwrite rejected'); END;
CREATE TRIGGER release_supplies_no_overwrite BEFORE INSERT ON release_supplies
WHEN EXISTS (SELECT 1 FROM release_supplies WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table release_supplies is append-only: overwrite rejected'); END;
CREATE TRIGGER screening_decisions_no_overwrite BEFORE INSERT ON screening_decisions
WHEN EXISTS (SELECT 1 FROM screening_decisions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table screening_decisions is append-only: overwrite rejected'); END;
CREATE TRIGGER screening_findings_no_overwrite BEFORE INSERT ON screening_findings
WHEN EXISTS (SELECT 1 FROM screening_findings WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table screening_findings is append-only: overwrite rejected'); END;
CREATE TRIGGER stock_movements_no_overwrite BEFORE INSERT ON stock_movements
WHEN EXISTS (SELECT 1 FROM stock_movements WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table stock_movements is append-only: overwrite rejected'); END;
CREATE TRIGGER cd_checkpoints_no_overwrite BEFORE INSERT ON cd_checkpoints
WHEN EXISTS (SELECT 1 FROM cd_checkpoints WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table cd_checkpoints is append-only: overwrite rejected'); END;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
