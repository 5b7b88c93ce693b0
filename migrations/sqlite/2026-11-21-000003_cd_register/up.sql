-- A register page per premises and drug/strength/form. The page row holds the chain's head so
-- that appending never reads the rest of the page; the entries are the record.
CREATE TABLE cd_register_pages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    entry_count BIGINT NOT NULL,
    balance BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    last_entry_at TIMESTAMP,
    UNIQUE (site_id, product_id)
);

CREATE TABLE cd_register_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    page_id BIGINT NOT NULL REFERENCES cd_register_pages(id),
    seq BIGINT NOT NULL CHECK (seq > 0),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    entry_type TEXT NOT NULL,
    movement_id BIGINT REFERENCES stock_movements(id),
    occurred_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    quantity BIGINT NOT NULL,
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    location_id BIGINT REFERENCES locations(id),
    batch_id BIGINT REFERENCES batches(id),
    counterparty TEXT,
    counterparty_address TEXT,
    patient_identifier TEXT,
    prescriber TEXT,
    collected_by TEXT,
    identity_checked BOOLEAN,
    author_id BIGINT NOT NULL REFERENCES users(id),
    witness_id BIGINT REFERENCES users(id),
    corrects_entry_id BIGINT REFERENCES cd_register_entries(id),
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (page_id, seq)
);
CREATE INDEX cd_register_entries_site ON cd_register_entries (site_id, page_id, seq);
CREATE INDEX cd_register_entries_movement ON cd_register_entries (movement_id);

-- Two people count a page; a discrepancy stays open until a pharmacist resolves it.
CREATE TABLE cd_balance_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    page_id BIGINT NOT NULL REFERENCES cd_register_pages(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    expected_quantity BIGINT NOT NULL,
    counted_quantity BIGINT NOT NULL CHECK (counted_quantity >= 0),
    outcome TEXT NOT NULL CHECK (outcome IN ('match', 'discrepancy')),
    counted_by BIGINT NOT NULL REFERENCES users(id),
    witness_id BIGINT NOT NULL REFERENCES users(id),
    note TEXT,
    checked_at TIMESTAMP NOT NULL
);
CREATE INDEX cd_balance_checks_site ON cd_balance_checks (site_id, id);

CREATE TABLE cd_check_resolutions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    check_id BIGINT NOT NULL UNIQUE REFERENCES cd_balance_checks(id),
    resolved_by BIGINT NOT NULL REFERENCES users(id),
    explanation TEXT NOT NULL,
    adjustment_entry_id BIGINT REFERENCES cd_register_entries(id),
    resolved_at TIMESTAMP NOT NULL
);

-- Patients' own controlled drugs handed in: never stock, so never in the ledger or the register.
CREATE TABLE cd_patient_returns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    patient_identifier TEXT NOT NULL,
    product_id BIGINT REFERENCES products(id),
    description TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit TEXT NOT NULL,
    received_by BIGINT NOT NULL REFERENCES users(id),
    received_at TIMESTAMP NOT NULL,
    note TEXT
);
CREATE INDEX cd_patient_returns_site ON cd_patient_returns (site_id, id);

CREATE TABLE cd_patient_return_destructions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    return_id BIGINT NOT NULL UNIQUE REFERENCES cd_patient_returns(id),
    destroyed_by BIGINT NOT NULL REFERENCES users(id),
    witness_id BIGINT NOT NULL REFERENCES users(id),
    method TEXT NOT NULL,
    note TEXT,
    destroyed_at TIMESTAMP NOT NULL
);

CREATE TRIGGER cd_register_entries_no_update BEFORE UPDATE ON cd_register_entries
BEGIN SELECT RAISE(ABORT, 'table cd_register_entries is append-only: UPDATE rejected'); END;
CREATE TRIGGER cd_register_entries_no_delete BEFORE DELETE ON cd_register_entries
BEGIN SELECT RAISE(ABORT, 'table cd_register_entries is append-only: DELETE rejected'); END;

CREATE TRIGGER cd_balance_checks_no_update BEFORE UPDATE ON cd_balance_checks
BEGIN SELECT RAISE(ABORT, 'table cd_balance_checks is append-only: UPDATE rejected'); END;
CREATE TRIGGER cd_balance_checks_no_delete BEFORE DELETE ON cd_balance_checks
BEGIN SELECT RAISE(ABORT, 'table cd_balance_checks is append-only: DELETE rejected'); END;

CREATE TRIGGER cd_check_resolutions_no_update BEFORE UPDATE ON cd_check_resolutions
BEGIN SELECT RAISE(ABORT, 'table cd_check_resolutions is append-only: UPDATE rejected'); END;
CREATE TRIGGER cd_check_resolutions_no_delete BEFORE DELETE ON cd_check_resolutions
BEGIN SELECT RAISE(ABORT, 'table cd_check_resolutions is append-only: DELETE rejected'); END;

CREATE TRIGGER cd_patient_returns_no_update BEFORE UPDATE ON cd_patient_returns
BEGIN SELECT RAISE(ABORT, 'table cd_patient_returns is append-only: UPDATE rejected'); END;
CREATE TRIGGER cd_patient_returns_no_delete BEFORE DELETE ON cd_patient_returns
BEGIN SELECT RAISE(ABORT, 'table cd_patient_returns is append-only: DELETE rejected'); END;

CREATE TRIGGER cd_patient_return_destructions_no_update BEFORE UPDATE ON cd_patient_return_destructions
BEGIN SELECT RAISE(ABORT, 'table cd_patient_return_destructions is append-only: UPDATE rejected'); END;
CREATE TRIGGER cd_patient_return_destructions_no_delete BEFORE DELETE ON cd_patient_return_destructions
BEGIN SELECT RAISE(ABORT, 'table cd_patient_return_destructions is append-only: DELETE rejected'); END;
