-- When doses fall due, beyond round times every day (see src/domain/schedule.rs).
ALTER TABLE prescriptions ADD COLUMN schedule TEXT NOT NULL DEFAULT 'daily'
    CHECK (schedule IN ('daily', 'every_n_days', 'weekdays', 'weekly', 'monthly', 'once', 'stepped', 'as_needed'));
ALTER TABLE prescriptions ADD COLUMN every_days BIGINT;
ALTER TABLE prescriptions ADD COLUMN weekdays TEXT;
ALTER TABLE prescriptions ADD COLUMN day_of_month BIGINT;
ALTER TABLE prescriptions ADD COLUMN min_interval_minutes BIGINT;
UPDATE prescriptions SET schedule = 'as_needed' WHERE as_needed;
-- The schedule is part of the prescription's content: never rewritten, like the rest.
CREATE TRIGGER prescriptions_schedule_fixed BEFORE UPDATE OF schedule, every_days, weekdays, day_of_month, min_interval_minutes ON prescriptions
BEGIN SELECT RAISE(ABORT, 'table prescriptions is append-only: UPDATE rejected'); END;

-- A stepped plan's dose by date, written with the prescription and never changed.
CREATE TABLE prescription_steps (
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    seq BIGINT NOT NULL,
    from_date DATE NOT NULL,
    to_date DATE NOT NULL,
    dose BIGINT NOT NULL,
    PRIMARY KEY (prescription_id, seq)
);
CREATE TRIGGER prescription_steps_no_update BEFORE UPDATE ON prescription_steps
BEGIN SELECT RAISE(ABORT, 'table prescription_steps is append-only: UPDATE rejected'); END;
CREATE TRIGGER prescription_steps_no_delete BEFORE DELETE ON prescription_steps
BEGIN SELECT RAISE(ABORT, 'table prescription_steps is append-only: DELETE rejected'); END;

-- Medicines taken once a week at most (methotrexate): prescribing them more often is blocked.
ALTER TABLE products ADD COLUMN weekly_only BOOLEAN NOT NULL DEFAULT 0;
UPDATE products SET weekly_only = 1 WHERE lower(ingredient) = 'methotrexate';

-- Where a long-acting injection (Buvidal, a depot) was given, recorded with the dose.
ALTER TABLE dose_records ADD COLUMN injection_site TEXT;

-- Take-home naloxone offered at release to everyone with an opioid history, and the outcome.
CREATE TABLE naloxone_offers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'declined', 'already_has_kit')),
    movement_id BIGINT REFERENCES stock_movements(id),
    offered_by BIGINT NOT NULL REFERENCES users(id),
    offered_at TIMESTAMP NOT NULL
);
CREATE INDEX naloxone_offers_site ON naloxone_offers (site_id, offered_at);
CREATE TRIGGER naloxone_offers_no_update BEFORE UPDATE ON naloxone_offers
BEGIN SELECT RAISE(ABORT, 'table naloxone_offers is append-only: UPDATE rejected'); END;
CREATE TRIGGER naloxone_offers_no_delete BEFORE DELETE ON naloxone_offers
BEGIN SELECT RAISE(ABORT, 'table naloxone_offers is append-only: DELETE rejected'); END;

-- Medicines that do harm when late (Parkinson's, insulin, anti-epileptics): a dose not
-- recorded soon after its round raises an alert, once per due dose.
ALTER TABLE products ADD COLUMN time_critical BOOLEAN NOT NULL DEFAULT 0;
UPDATE products SET time_critical = 1
    WHERE lower(therapeutic_class) LIKE '%epilep%' OR lower(therapeutic_class) LIKE '%parkinson%'
       OR lower(ingredient) LIKE 'insulin%';
CREATE TABLE time_critical_alerts (
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    scheduled_date DATE NOT NULL,
    slot TEXT NOT NULL,
    alert_id BIGINT NOT NULL REFERENCES alerts(id),
    PRIMARY KEY (prescription_id, scheduled_date, slot)
);
