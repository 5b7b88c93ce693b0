-- Emergency kits on the wings (emergency bags, naloxone and anaphylaxis kits): a location with
-- a contents list, sealed, checked on a schedule, opened in an emergency and restocked.
CREATE TABLE emergency_kits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    location_id BIGINT NOT NULL UNIQUE REFERENCES locations(id),
    kind TEXT NOT NULL CHECK (kind IN ('wing_emergency_bag', 'naloxone_kit', 'anaphylaxis_kit')),
    check_interval_days BIGINT NOT NULL CHECK (check_interval_days BETWEEN 1 AND 366),
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX emergency_kits_site ON emergency_kits (site_id);
-- What the kit should hold: configuration, replaced whole (audited), like reorder levels.
CREATE TABLE emergency_kit_contents (
    kit_id BIGINT NOT NULL REFERENCES emergency_kits(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (kit_id, product_id)
);
-- A check of the seal and of each item: evidence, never changed.
CREATE TABLE emergency_kit_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kit_id BIGINT NOT NULL REFERENCES emergency_kits(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    seal_number TEXT NOT NULL,
    seal_intact BOOLEAN NOT NULL,
    complete BOOLEAN NOT NULL,
    note TEXT,
    checked_by BIGINT NOT NULL REFERENCES users(id),
    checked_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX emergency_kit_checks_kit ON emergency_kit_checks (kit_id, checked_at);
CREATE TABLE emergency_kit_check_items (
    check_id BIGINT NOT NULL REFERENCES emergency_kit_checks(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    present BOOLEAN NOT NULL,
    in_date BOOLEAN NOT NULL,
    PRIMARY KEY (check_id, product_id)
);
-- A kit opened (seal broken, items used, for whom if known) or restocked and resealed; the
-- stock itself moves through the ledger, linked here.
CREATE TABLE emergency_kit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kit_id BIGINT NOT NULL REFERENCES emergency_kits(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    kind TEXT NOT NULL CHECK (kind IN ('opened', 'restocked')),
    seal_number TEXT NOT NULL,
    patient_id BIGINT REFERENCES patients(id),
    note TEXT,
    recorded_by BIGINT NOT NULL REFERENCES users(id),
    occurred_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX emergency_kit_events_kit ON emergency_kit_events (kit_id, id);
CREATE TABLE emergency_kit_event_movements (
    event_id BIGINT NOT NULL REFERENCES emergency_kit_events(id),
    movement_id BIGINT NOT NULL REFERENCES stock_movements(id),
    PRIMARY KEY (event_id, movement_id)
);

-- Outbreaks (seasonal flu, norovirus) declared at a prison for some wings, and closed.
CREATE TABLE outbreaks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    condition TEXT NOT NULL,
    declared_on DATE NOT NULL,
    wings TEXT NOT NULL,
    note TEXT,
    declared_by BIGINT NOT NULL REFERENCES users(id),
    declared_at TIMESTAMP NOT NULL
);
CREATE INDEX outbreaks_site ON outbreaks (site_id, declared_on);
CREATE TABLE outbreak_closures (
    outbreak_id BIGINT PRIMARY KEY REFERENCES outbreaks(id),
    closed_on DATE NOT NULL,
    note TEXT,
    closed_by BIGINT NOT NULL REFERENCES users(id),
    closed_at TIMESTAMP NOT NULL
);
-- Treatment and prophylaxis courses are prescribed as usual, tagged to their outbreak.
ALTER TABLE prescriptions ADD COLUMN outbreak_id BIGINT REFERENCES outbreaks(id);
ALTER TABLE prescriptions ADD COLUMN outbreak_purpose TEXT CHECK (outbreak_purpose IN ('treatment', 'prophylaxis'));
CREATE INDEX prescriptions_outbreak ON prescriptions (outbreak_id);
CREATE TRIGGER prescriptions_outbreak_fixed BEFORE UPDATE OF outbreak_id, outbreak_purpose ON prescriptions
BEGIN SELECT RAISE(ABORT, 'table prescriptions is append-only: UPDATE rejected'); END;
-- A vaccination given, with its batch (for a recall) and the stock it drew.
CREATE TABLE vaccinations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    batch_id BIGINT NOT NULL REFERENCES batches(id),
    location_id BIGINT NOT NULL REFERENCES locations(id),
    quantity BIGINT NOT NULL,
    movement_id BIGINT NOT NULL REFERENCES stock_movements(id),
    injection_site TEXT NOT NULL,
    outbreak_id BIGINT REFERENCES outbreaks(id),
    given_by BIGINT NOT NULL REFERENCES users(id),
    given_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX vaccinations_batch ON vaccinations (batch_id);
CREATE INDEX vaccinations_outbreak ON vaccinations (outbreak_id);
CREATE INDEX vaccinations_patient ON vaccinations (patient_id);

-- Budgets per prison, financial year and service line; a revision is a new row.
CREATE TABLE budgets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    financial_year BIGINT NOT NULL,
    service_line TEXT NOT NULL CHECK (service_line IN ('general_pharmacy', 'substance_misuse')),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    note TEXT,
    set_by BIGINT NOT NULL REFERENCES users(id),
    set_at TIMESTAMP NOT NULL
);
CREATE INDEX budgets_site_year ON budgets (site_id, financial_year, service_line, id);
-- Which budget pays for a product: opioid substitution and naloxone from the ring-fenced
-- substance misuse funding, the rest from general pharmacy.
ALTER TABLE products ADD COLUMN service_line TEXT NOT NULL DEFAULT 'general_pharmacy'
    CHECK (service_line IN ('general_pharmacy', 'substance_misuse'));
UPDATE products SET service_line = 'substance_misuse'
    WHERE opioid_substitution OR lower(ingredient) = 'naloxone';

-- Reasonable adjustments (easy-read labels, reminders, hearing impairment, ADHD ...): notes
-- on the patient, retracted by a linked record, never edited.
CREATE TABLE reasonable_adjustments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    category TEXT NOT NULL CHECK (category IN ('easy_read', 'needs_reminders', 'explain_changes',
        'hearing_impairment', 'visual_impairment', 'learning_disability', 'autism', 'adhd', 'other')),
    text TEXT NOT NULL,
    recorded_by BIGINT NOT NULL REFERENCES users(id),
    recorded_at TIMESTAMP NOT NULL,
    retracts_id BIGINT REFERENCES reasonable_adjustments(id),
    retraction_reason TEXT
);
CREATE INDEX reasonable_adjustments_patient ON reasonable_adjustments (patient_id, id);
CREATE UNIQUE INDEX reasonable_adjustments_one_retraction ON reasonable_adjustments (retracts_id);

-- Evidence: the database refuses to change or remove it, or to overwrite it by REPLACE or upsert.
CREATE TRIGGER emergency_kit_checks_no_update BEFORE UPDATE ON emergency_kit_checks
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_checks is append-only: UPDATE rejected'); END;
CREATE TRIGGER emergency_kit_checks_no_delete BEFORE DELETE ON emergency_kit_checks
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_checks is append-only: DELETE rejected'); END;
CREATE TRIGGER emergency_kit_checks_no_overwrite BEFORE INSERT ON emergency_kit_checks
WHEN EXISTS (SELECT 1 FROM emergency_kit_checks WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_checks is append-only: overwrite rejected'); END;
CREATE TRIGGER emergency_kit_check_items_no_update BEFORE UPDATE ON emergency_kit_check_items
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_check_items is append-only: UPDATE rejected'); END;
CREATE TRIGGER emergency_kit_check_items_no_delete BEFORE DELETE ON emergency_kit_check_items
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_check_items is append-only: DELETE rejected'); END;
CREATE TRIGGER emergency_kit_check_items_no_overwrite BEFORE INSERT ON emergency_kit_check_items
WHEN EXISTS (SELECT 1 FROM emergency_kit_check_items WHERE check_id = NEW.check_id AND product_id = NEW.product_id)
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_check_items is append-only: overwrite rejected'); END;
CREATE TRIGGER emergency_kit_events_no_update BEFORE UPDATE ON emergency_kit_events
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_events is append-only: UPDATE rejected'); END;
CREATE TRIGGER emergency_kit_events_no_delete BEFORE DELETE ON emergency_kit_events
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_events is append-only: DELETE rejected'); END;
CREATE TRIGGER emergency_kit_events_no_overwrite BEFORE INSERT ON emergency_kit_events
WHEN EXISTS (SELECT 1 FROM emergency_kit_events WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_events is append-only: overwrite rejected'); END;
CREATE TRIGGER emergency_kit_event_movements_no_update BEFORE UPDATE ON emergency_kit_event_movements
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_event_movements is append-only: UPDATE rejected'); END;
CREATE TRIGGER emergency_kit_event_movements_no_delete BEFORE DELETE ON emergency_kit_event_movements
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_event_movements is append-only: DELETE rejected'); END;
CREATE TRIGGER emergency_kit_event_movements_no_overwrite BEFORE INSERT ON emergency_kit_event_movements
WHEN EXISTS (SELECT 1 FROM emergency_kit_event_movements WHERE event_id = NEW.event_id AND movement_id = NEW.movement_id)
BEGIN SELECT RAISE(ABORT, 'table emergency_kit_event_movements is append-only: overwrite rejected'); END;
CREATE TRIGGER outbreaks_no_update BEFORE UPDATE ON outbreaks
BEGIN SELECT RAISE(ABORT, 'table outbreaks is append-only: UPDATE rejected'); END;
CREATE TRIGGER outbreaks_no_delete BEFORE DELETE ON outbreaks
BEGIN SELECT RAISE(ABORT, 'table outbreaks is append-only: DELETE rejected'); END;
CREATE TRIGGER outbreaks_no_overwrite BEFORE INSERT ON outbreaks
WHEN EXISTS (SELECT 1 FROM outbreaks WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table outbreaks is append-only: overwrite rejected'); END;
CREATE TRIGGER outbreak_closures_no_update BEFORE UPDATE ON outbreak_closures
BEGIN SELECT RAISE(ABORT, 'table outbreak_closures is append-only: UPDATE rejected'); END;
CREATE TRIGGER outbreak_closures_no_delete BEFORE DELETE ON outbreak_closures
BEGIN SELECT RAISE(ABORT, 'table outbreak_closures is append-only: DELETE rejected'); END;
CREATE TRIGGER outbreak_closures_no_overwrite BEFORE INSERT ON outbreak_closures
WHEN EXISTS (SELECT 1 FROM outbreak_closures WHERE outbreak_id = NEW.outbreak_id)
BEGIN SELECT RAISE(ABORT, 'table outbreak_closures is append-only: overwrite rejected'); END;
CREATE TRIGGER vaccinations_no_update BEFORE UPDATE ON vaccinations
BEGIN SELECT RAISE(ABORT, 'table vaccinations is append-only: UPDATE rejected'); END;
CREATE TRIGGER vaccinations_no_delete BEFORE DELETE ON vaccinations
BEGIN SELECT RAISE(ABORT, 'table vaccinations is append-only: DELETE rejected'); END;
CREATE TRIGGER vaccinations_no_overwrite BEFORE INSERT ON vaccinations
WHEN EXISTS (SELECT 1 FROM vaccinations WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table vaccinations is append-only: overwrite rejected'); END;
CREATE TRIGGER budgets_no_update BEFORE UPDATE ON budgets
BEGIN SELECT RAISE(ABORT, 'table budgets is append-only: UPDATE rejected'); END;
CREATE TRIGGER budgets_no_delete BEFORE DELETE ON budgets
BEGIN SELECT RAISE(ABORT, 'table budgets is append-only: DELETE rejected'); END;
CREATE TRIGGER budgets_no_overwrite BEFORE INSERT ON budgets
WHEN EXISTS (SELECT 1 FROM budgets WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table budgets is append-only: overwrite rejected'); END;
CREATE TRIGGER reasonable_adjustments_no_update BEFORE UPDATE ON reasonable_adjustments
BEGIN SELECT RAISE(ABORT, 'table reasonable_adjustments is append-only: UPDATE rejected'); END;
CREATE TRIGGER reasonable_adjustments_no_delete BEFORE DELETE ON reasonable_adjustments
BEGIN SELECT RAISE(ABORT, 'table reasonable_adjustments is append-only: DELETE rejected'); END;
CREATE TRIGGER reasonable_adjustments_no_overwrite BEFORE INSERT ON reasonable_adjustments
WHEN EXISTS (SELECT 1 FROM reasonable_adjustments WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'table reasonable_adjustments is append-only: overwrite rejected'); END;
