CREATE TABLE suppliers (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    wholesale_dealer_licence TEXT NOT NULL,
    contact_name TEXT,
    contact_email TEXT,
    contact_phone TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- What each supplier sells us, at what pack price (GBP in ten-thousandths) and lead time.
CREATE TABLE supplier_products (
    id BIGSERIAL PRIMARY KEY,
    supplier_id BIGINT NOT NULL REFERENCES suppliers(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    pack_price BIGINT NOT NULL CHECK (pack_price >= 0),
    lead_time_days BIGINT NOT NULL CHECK (lead_time_days >= 0),
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (supplier_id, product_id)
);
CREATE INDEX supplier_products_product ON supplier_products (product_id);

CREATE TABLE purchase_orders (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    supplier_id BIGINT NOT NULL REFERENCES suppliers(id),
    status TEXT NOT NULL CHECK (status IN ('draft', 'approved', 'sent', 'partly_received', 'received', 'cancelled')),
    note TEXT,
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    approved_by BIGINT REFERENCES users(id),
    approved_at TIMESTAMP,
    sent_by BIGINT REFERENCES users(id),
    sent_at TIMESTAMP,
    cancelled_by BIGINT REFERENCES users(id),
    cancelled_at TIMESTAMP,
    cancel_reason TEXT,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX purchase_orders_site ON purchase_orders (site_id, id);
CREATE INDEX purchase_orders_supplier ON purchase_orders (supplier_id, id);

CREATE TABLE purchase_order_lines (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES purchase_orders(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    packs BIGINT NOT NULL CHECK (packs > 0),
    pack_price BIGINT NOT NULL CHECK (pack_price >= 0),
    vat_rate BIGINT NOT NULL CHECK (vat_rate >= 0 AND vat_rate <= 10000),
    line_net BIGINT NOT NULL,
    line_vat BIGINT NOT NULL,
    fp10cdf_reference TEXT,
    received_quantity BIGINT NOT NULL CHECK (received_quantity >= 0),
    UNIQUE (order_id, product_id)
);

-- Receipts and invoices are financial records kept 6 years: append-only.
CREATE TABLE goods_receipts (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES purchase_orders(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    location_id BIGINT NOT NULL REFERENCES locations(id),
    received_by BIGINT NOT NULL REFERENCES users(id),
    received_at TIMESTAMP NOT NULL,
    note TEXT
);
CREATE INDEX goods_receipts_order ON goods_receipts (order_id, id);
CREATE INDEX goods_receipts_site_time ON goods_receipts (site_id, received_at);

CREATE TABLE goods_receipt_lines (
    id BIGSERIAL PRIMARY KEY,
    receipt_id BIGINT NOT NULL REFERENCES goods_receipts(id),
    order_line_id BIGINT NOT NULL REFERENCES purchase_order_lines(id),
    batch_id BIGINT NOT NULL REFERENCES batches(id),
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    value_net BIGINT NOT NULL,
    value_vat BIGINT NOT NULL,
    movement_id BIGINT NOT NULL REFERENCES stock_movements(id),
    over_receipt_reason TEXT,
    over_receipt_accepted_by BIGINT REFERENCES users(id)
);
CREATE INDEX goods_receipt_lines_receipt ON goods_receipt_lines (receipt_id);

CREATE TABLE invoices (
    id BIGSERIAL PRIMARY KEY,
    receipt_id BIGINT NOT NULL UNIQUE REFERENCES goods_receipts(id),
    invoice_number TEXT NOT NULL,
    net_amount BIGINT NOT NULL,
    vat_amount BIGINT NOT NULL,
    recorded_by BIGINT NOT NULL REFERENCES users(id),
    recorded_at TIMESTAMP NOT NULL
);

CREATE TABLE invoice_lines (
    id BIGSERIAL PRIMARY KEY,
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    receipt_line_id BIGINT NOT NULL REFERENCES goods_receipt_lines(id),
    pack_price BIGINT NOT NULL CHECK (pack_price >= 0),
    UNIQUE (invoice_id, receipt_line_id)
);

CREATE TRIGGER goods_receipts_append_only BEFORE UPDATE OR DELETE ON goods_receipts
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER goods_receipts_no_truncate BEFORE TRUNCATE ON goods_receipts
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER goods_receipt_lines_append_only BEFORE UPDATE OR DELETE ON goods_receipt_lines
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER goods_receipt_lines_no_truncate BEFORE TRUNCATE ON goods_receipt_lines
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER invoices_append_only BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER invoice_lines_append_only BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER invoice_lines_no_truncate BEFORE TRUNCATE ON invoice_lines
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();
