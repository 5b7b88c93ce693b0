-- One final outcome per due dose (prescription, date, slot). A correction does not change a
-- record: it is a linked record, after which the dose may be recorded again as the next attempt.
CREATE TABLE dose_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    scheduled_date DATE NOT NULL,
    slot TEXT NOT NULL,
    attempt BIGINT NOT NULL CHECK (attempt > 0),
    outcome TEXT NOT NULL CHECK (outcome IN ('given', 'refused', 'did_not_attend', 'withheld', 'away', 'not_available', 'other')),
    reason TEXT,
    quantity BIGINT,
    stock_quantity BIGINT,
    location_id BIGINT REFERENCES locations(id),
    witness_id BIGINT REFERENCES users(id),
    nurse_id BIGINT NOT NULL REFERENCES users(id),
    occurred_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    late BOOLEAN NOT NULL,
    UNIQUE (prescription_id, scheduled_date, slot, attempt)
);
CREATE INDEX dose_records_site_date ON dose_records (site_id, scheduled_date, slot);
CREATE INDEX dose_records_patient ON dose_records (patient_id, occurred_at);

-- The stock each given dose drew (a dose may span the end of one batch and the start of the next).
CREATE TABLE dose_movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dose_record_id BIGINT NOT NULL REFERENCES dose_records(id),
    batch_id BIGINT NOT NULL REFERENCES batches(id),
    quantity BIGINT NOT NULL,
    movement_id BIGINT NOT NULL REFERENCES stock_movements(id),
    register_entry_id BIGINT REFERENCES cd_register_entries(id)
);
CREATE INDEX dose_movements_dose ON dose_movements (dose_record_id);

CREATE TABLE dose_corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dose_record_id BIGINT NOT NULL UNIQUE REFERENCES dose_records(id),
    reason TEXT NOT NULL,
    corrected_by BIGINT NOT NULL REFERENCES users(id),
    corrected_at TIMESTAMP NOT NULL
);

CREATE TABLE ip_supplies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    location_id BIGINT NOT NULL REFERENCES locations(id),
    days BIGINT NOT NULL CHECK (days > 0),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    per_day BIGINT NOT NULL,
    label_text TEXT NOT NULL,
    handed_over_by BIGINT NOT NULL REFERENCES users(id),
    supplied_at TIMESTAMP NOT NULL
);
CREATE INDEX ip_supplies_prescription ON ip_supplies (prescription_id, id);
CREATE INDEX ip_supplies_patient ON ip_supplies (patient_id, supplied_at);

CREATE TABLE ip_supply_movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    supply_id BIGINT NOT NULL REFERENCES ip_supplies(id),
    batch_id BIGINT NOT NULL REFERENCES batches(id),
    quantity BIGINT NOT NULL,
    movement_id BIGINT NOT NULL REFERENCES stock_movements(id),
    register_entry_id BIGINT REFERENCES cd_register_entries(id)
);
CREATE INDEX ip_supply_movements_supply ON ip_supply_movements (supply_id);

CREATE TABLE compliance_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    supply_id BIGINT NOT NULL REFERENCES ip_supplies(id),
    counted_quantity BIGINT NOT NULL CHECK (counted_quantity >= 0),
    expected_quantity BIGINT NOT NULL,
    discrepancy BOOLEAN NOT NULL,
    note TEXT,
    nurse_id BIGINT NOT NULL REFERENCES users(id),
    checked_at TIMESTAMP NOT NULL
);
CREATE INDEX compliance_checks_patient ON compliance_checks (patient_id, id);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    prescription_id BIGINT REFERENCES prescriptions(id),
    kind TEXT NOT NULL CHECK (kind IN ('missed_ost', 'missed_critical', 'compliance_discrepancy')),
    message TEXT NOT NULL,
    dose_record_id BIGINT REFERENCES dose_records(id),
    compliance_check_id BIGINT REFERENCES compliance_checks(id),
    raised_at TIMESTAMP NOT NULL
);
CREATE INDEX alerts_site ON alerts (site_id, id);

CREATE TABLE alert_acknowledgements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id BIGINT NOT NULL UNIQUE REFERENCES alerts(id),
    acknowledged_by BIGINT NOT NULL REFERENCES users(id),
    note TEXT NOT NULL,
    acknowledged_at TIMESTAMP NOT NULL
);

-- A retried request with the same Idempotency-Key gets the first answer.
CREATE TABLE idempotency_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, key)
);

CREATE TRIGGER dose_records_no_update BEFORE UPDATE ON dose_records
BEGIN SELECT RAISE(ABORT, 'table dose_records is append-only: UPDATE rejected'); END;
CREATE TRIGGER dose_records_no_delete BEFORE DELETE ON dose_records
BEGIN SELECT RAISE(ABORT, 'table dose_records is append-only: DELETE rejected'); END;

CREATE TRIGGER dose_movements_no_update BEFORE UPDATE ON dose_movements
BEGIN SELECT RAISE(ABORT, 'table dose_movements is append-only: UPDATE rejected'); END;
CREATE TRIGGER dose_movements_no_delete BEFORE DELETE ON dose_movements
BEGIN SELECT RAISE(ABORT, 'table dose_movements is append-only: DELETE rejected'); END;

CREATE TRIGGER dose_corrections_no_update BEFORE UPDATE ON dose_corrections
BEGIN SELECT RAISE(ABORT, 'table dose_corrections is append-only: UPDATE rejected'); END;
CREATE TRIGGER dose_corrections_no_delete BEFORE DELETE ON dose_corrections
BEGIN SELECT RAISE(ABORT, 'table dose_corrections is append-only: DELETE rejected'); END;

CREATE TRIGGER ip_supplies_no_update BEFORE UPDATE ON ip_supplies
BEGIN SELECT RAISE(ABORT, 'table ip_supplies is append-only: UPDATE rejected'); END;
CREATE TRIGGER ip_supplies_no_delete BEFORE DELETE ON ip_supplies
BEGIN SELECT RAISE(ABORT, 'table ip_supplies is append-only: DELETE rejected'); END;

CREATE TRIGGER ip_supply_movements_no_update BEFORE UPDATE ON ip_supply_movements
BEGIN SELECT RAISE(ABORT, 'table ip_supply_movements is append-only: UPDATE rejected'); END;
CREATE TRIGGER ip_supply_movements_no_delete BEFORE DELETE ON ip_supply_movements
BEGIN SELECT RAISE(ABORT, 'table ip_supply_movements is append-only: DELETE rejected'); END;

CREATE TRIGGER compliance_checks_no_update BEFORE UPDATE ON compliance_checks
BEGIN SELECT RAISE(ABORT, 'table compliance_checks is append-only: UPDATE rejected'); END;
CREATE TRIGGER compliance_checks_no_delete BEFORE DELETE ON compliance_checks
BEGIN SELECT RAISE(ABORT, 'table compliance_checks is append-only: DELETE rejected'); END;

CREATE TRIGGER alerts_no_update BEFORE UPDATE ON alerts
BEGIN SELECT RAISE(ABORT, 'table alerts is append-only: UPDATE rejected'); END;
CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
BEGIN SELECT RAISE(ABORT, 'table alerts is append-only: DELETE rejected'); END;

CREATE TRIGGER alert_acknowledgements_no_update BEFORE UPDATE ON alert_acknowledgements
BEGIN SELECT RAISE(ABORT, 'table alert_acknowledgements is append-only: UPDATE rejected'); END;
CREATE TRIGGER alert_acknowledgements_no_delete BEFORE DELETE ON alert_acknowledgements
BEGIN SELECT RAISE(ABORT, 'table alert_acknowledgements is append-only: DELETE rejected'); END;
