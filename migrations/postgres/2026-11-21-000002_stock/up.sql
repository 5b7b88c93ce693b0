CREATE TABLE products (
    id BIGSERIAL PRIMARY KEY,
    dmd_code TEXT UNIQUE,
    dmd_type TEXT NOT NULL CHECK (dmd_type IN ('vmp', 'amp')),
    name TEXT NOT NULL,
    form TEXT NOT NULL,
    strength TEXT NOT NULL,
    unit TEXT NOT NULL,
    pack_size BIGINT NOT NULL CHECK (pack_size > 0),
    ingredient TEXT NOT NULL,
    cd_schedule TEXT NOT NULL CHECK (cd_schedule IN ('none', '1', '2', '3', '4p1', '4p2', '5')),
    cd_register BOOLEAN NOT NULL,
    medicine_of_concern BOOLEAN NOT NULL,
    default_possession TEXT NOT NULL CHECK (default_possession IN ('in_possession', 'supervised')),
    max_daily_dose BIGINT,
    dose_unit TEXT NOT NULL,
    therapeutic_class TEXT NOT NULL,
    critical BOOLEAN NOT NULL,
    opioid_substitution BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX products_name ON products (name);

CREATE TABLE batches (
    id BIGSERIAL PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products(id),
    batch_number TEXT NOT NULL,
    expiry_date DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('available', 'quarantined', 'recalled')),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (product_id, batch_number)
);

-- The balance is a cache of the sum of movements, kept in the same transaction; the CHECK is the last line of defence.
CREATE TABLE stock_balances (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    location_id BIGINT NOT NULL REFERENCES locations(id),
    batch_id BIGINT NOT NULL REFERENCES batches(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    quantity BIGINT NOT NULL CHECK (quantity >= 0),
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (location_id, batch_id)
);
CREATE INDEX stock_balances_site_product ON stock_balances (site_id, product_id);
CREATE INDEX stock_balances_batch ON stock_balances (batch_id);

CREATE TABLE stock_movements (
    id BIGSERIAL PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    location_id BIGINT NOT NULL REFERENCES locations(id),
    batch_id BIGINT NOT NULL REFERENCES batches(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    reason TEXT NOT NULL CHECK (reason IN ('receipt', 'transfer_out', 'transfer_in', 'dose_given', 'ip_supply',
        'adjustment', 'stocktake_variance', 'expiry_write_off', 'wastage', 'destruction', 'patient_return',
        'return_to_supplier', 'correction')),
    reason_code TEXT,
    quantity BIGINT NOT NULL CHECK (quantity <> 0),
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    actor_id BIGINT NOT NULL REFERENCES users(id),
    request_id TEXT NOT NULL,
    reference_type TEXT,
    reference_id BIGINT,
    note TEXT
);
CREATE INDEX stock_movements_location_batch ON stock_movements (location_id, batch_id, id);
CREATE INDEX stock_movements_product ON stock_movements (product_id, site_id, id);
CREATE INDEX stock_movements_batch ON stock_movements (batch_id, id);

CREATE TABLE transfers (
    id BIGSERIAL PRIMARY KEY,
    from_site_id BIGINT NOT NULL REFERENCES sites(id),
    from_location_id BIGINT NOT NULL REFERENCES locations(id),
    to_site_id BIGINT NOT NULL REFERENCES sites(id),
    to_location_id BIGINT NOT NULL REFERENCES locations(id),
    status TEXT NOT NULL CHECK (status IN ('in_transit', 'received')),
    note TEXT,
    dispatched_by BIGINT NOT NULL REFERENCES users(id),
    dispatched_at TIMESTAMP NOT NULL,
    received_by BIGINT REFERENCES users(id),
    received_at TIMESTAMP
);
CREATE INDEX transfers_from_site ON transfers (from_site_id, id);
CREATE INDEX transfers_to_site ON transfers (to_site_id, id);

CREATE TABLE transfer_lines (
    id BIGSERIAL PRIMARY KEY,
    transfer_id BIGINT NOT NULL REFERENCES transfers(id),
    batch_id BIGINT NOT NULL REFERENCES batches(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    quantity_sent BIGINT NOT NULL CHECK (quantity_sent > 0),
    quantity_received BIGINT CHECK (quantity_received >= 0),
    discrepancy_note TEXT,
    UNIQUE (transfer_id, batch_id)
);

CREATE TABLE stocktakes (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    location_id BIGINT NOT NULL REFERENCES locations(id),
    status TEXT NOT NULL CHECK (status IN ('open', 'approved', 'cancelled')),
    note TEXT,
    opened_by BIGINT NOT NULL REFERENCES users(id),
    opened_at TIMESTAMP NOT NULL,
    closed_by BIGINT REFERENCES users(id),
    closed_at TIMESTAMP
);
CREATE INDEX stocktakes_site ON stocktakes (site_id, id);

CREATE TABLE stocktake_lines (
    id BIGSERIAL PRIMARY KEY,
    stocktake_id BIGINT NOT NULL REFERENCES stocktakes(id),
    batch_id BIGINT NOT NULL REFERENCES batches(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    snapshot_quantity BIGINT NOT NULL,
    counted_quantity BIGINT CHECK (counted_quantity >= 0),
    expected_at_count BIGINT,
    counted_by BIGINT REFERENCES users(id),
    counted_at TIMESTAMP,
    UNIQUE (stocktake_id, batch_id)
);

CREATE TABLE reorder_levels (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    reorder_level BIGINT NOT NULL CHECK (reorder_level >= 0),
    reorder_quantity BIGINT NOT NULL CHECK (reorder_quantity >= 0),
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (site_id, product_id)
);

CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER stock_movements_no_truncate BEFORE TRUNCATE ON stock_movements
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();
