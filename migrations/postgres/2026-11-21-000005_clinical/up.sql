-- Demographics and where the patient is now; what happened to them is in patient_events.
CREATE TABLE patients (
    id BIGSERIAL PRIMARY KEY,
    prison_number TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    date_of_birth DATE NOT NULL,
    site_id BIGINT NOT NULL REFERENCES sites(id),
    wing TEXT,
    landing TEXT,
    cell TEXT,
    status TEXT NOT NULL CHECK (status IN ('in_custody', 'transferred', 'released')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX patients_site ON patients (site_id, status, wing);

CREATE TABLE patient_events (
    id BIGSERIAL PRIMARY KEY,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL,
    from_site_id BIGINT REFERENCES sites(id),
    to_site_id BIGINT REFERENCES sites(id),
    detail TEXT,
    actor_id BIGINT NOT NULL REFERENCES users(id),
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX patient_events_patient ON patient_events (patient_id, id);

CREATE TABLE allergies (
    id BIGSERIAL PRIMARY KEY,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    substance TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('allergy', 'intolerance')),
    reaction TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('mild', 'moderate', 'severe')),
    recorded_by BIGINT NOT NULL REFERENCES users(id),
    recorded_at TIMESTAMP NOT NULL,
    retracts_id BIGINT REFERENCES allergies(id),
    retraction_reason TEXT
);
CREATE INDEX allergies_patient ON allergies (patient_id);

CREATE TABLE ip_assessments (
    id BIGSERIAL PRIMARY KEY,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    outcome TEXT NOT NULL CHECK (outcome IN ('in_possession', 'named_products_only', 'supervised_only')),
    reasons TEXT NOT NULL,
    assessed_by BIGINT NOT NULL REFERENCES users(id),
    assessed_on DATE NOT NULL,
    review_date DATE NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ip_assessments_patient ON ip_assessments (patient_id, id);

CREATE TABLE ip_assessment_products (
    id BIGSERIAL PRIMARY KEY,
    assessment_id BIGINT NOT NULL REFERENCES ip_assessments(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    UNIQUE (assessment_id, product_id)
);

-- Events that make an in-possession review due before its date.
CREATE TABLE ip_review_triggers (
    id BIGSERIAL PRIMARY KEY,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    reason TEXT NOT NULL CHECK (reason IN ('transfer', 'failed_compliance_check', 'self_harm_concern', 'found_trading', 'other')),
    note TEXT,
    raised_by BIGINT NOT NULL REFERENCES users(id),
    raised_at TIMESTAMP NOT NULL
);
CREATE INDEX ip_review_triggers_patient ON ip_review_triggers (patient_id, id);

CREATE TABLE reconciliation_tasks (
    id BIGSERIAL PRIMARY KEY,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    due_date DATE NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX reconciliation_tasks_site ON reconciliation_tasks (site_id, due_date);

-- A reconciliation is done once, by a linked record.
CREATE TABLE reconciliation_completions (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL UNIQUE REFERENCES reconciliation_tasks(id),
    completed_by BIGINT NOT NULL REFERENCES users(id),
    note TEXT NOT NULL,
    completed_at TIMESTAMP NOT NULL
);

-- The prescription as written; its status is a projection of prescription_status_events.
CREATE TABLE prescriptions (
    id BIGSERIAL PRIMARY KEY,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    dose BIGINT NOT NULL CHECK (dose > 0),
    dose_unit TEXT NOT NULL,
    route TEXT NOT NULL,
    slots TEXT NOT NULL,
    as_needed BOOLEAN NOT NULL,
    max_doses_per_day BIGINT,
    start_date DATE NOT NULL,
    end_date DATE,
    possession TEXT NOT NULL CHECK (possession IN ('in_possession', 'supervised')),
    supply_days BIGINT,
    prescriber TEXT NOT NULL,
    indication TEXT,
    status TEXT NOT NULL CHECK (status IN ('draft', 'active', 'on-hold', 'stopped', 'completed', 'cancelled', 'entered-in-error')),
    screening TEXT NOT NULL CHECK (screening IN ('pending', 'approved', 'rejected', 'queried')),
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, status);

CREATE TABLE prescription_status_events (
    id BIGSERIAL PRIMARY KEY,
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    status TEXT NOT NULL,
    reason TEXT,
    actor_id BIGINT NOT NULL REFERENCES users(id),
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX prescription_status_events_rx ON prescription_status_events (prescription_id, id);

CREATE TABLE screening_findings (
    id BIGSERIAL PRIMARY KEY,
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    check_kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'caution', 'block')),
    message TEXT NOT NULL,
    source TEXT,
    related_prescription_id BIGINT REFERENCES prescriptions(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX screening_findings_rx ON screening_findings (prescription_id);

CREATE TABLE screening_decisions (
    id BIGSERIAL PRIMARY KEY,
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'approve_with_note', 'reject', 'query')),
    note TEXT,
    override_reason TEXT,
    pharmacist_id BIGINT NOT NULL REFERENCES users(id),
    decided_at TIMESTAMP NOT NULL
);
CREATE INDEX screening_decisions_rx ON screening_decisions (prescription_id, id);

-- Medicines to take out on release.
CREATE TABLE release_supplies (
    id BIGSERIAL PRIMARY KEY,
    patient_id BIGINT NOT NULL REFERENCES patients(id),
    prescription_id BIGINT NOT NULL REFERENCES prescriptions(id),
    days BIGINT NOT NULL CHECK (days > 0),
    recorded_by BIGINT NOT NULL REFERENCES users(id),
    recorded_at TIMESTAMP NOT NULL
);

CREATE TRIGGER patient_events_append_only BEFORE UPDATE OR DELETE ON patient_events
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER patient_events_no_truncate BEFORE TRUNCATE ON patient_events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER allergies_append_only BEFORE UPDATE OR DELETE ON allergies
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER allergies_no_truncate BEFORE TRUNCATE ON allergies
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER ip_assessments_append_only BEFORE UPDATE OR DELETE ON ip_assessments
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER ip_assessments_no_truncate BEFORE TRUNCATE ON ip_assessments
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER ip_assessment_products_append_only BEFORE UPDATE OR DELETE ON ip_assessment_products
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER ip_assessment_products_no_truncate BEFORE TRUNCATE ON ip_assessment_products
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER ip_review_triggers_append_only BEFORE UPDATE OR DELETE ON ip_review_triggers
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER ip_review_triggers_no_truncate BEFORE TRUNCATE ON ip_review_triggers
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER prescription_status_events_append_only BEFORE UPDATE OR DELETE ON prescription_status_events
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER prescription_status_events_no_truncate BEFORE TRUNCATE ON prescription_status_events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER screening_findings_append_only BEFORE UPDATE OR DELETE ON screening_findings
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER screening_findings_no_truncate BEFORE TRUNCATE ON screening_findings
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER screening_decisions_append_only BEFORE UPDATE OR DELETE ON screening_decisions
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER screening_decisions_no_truncate BEFORE TRUNCATE ON screening_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER release_supplies_append_only BEFORE UPDATE OR DELETE ON release_supplies
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER release_supplies_no_truncate BEFORE TRUNCATE ON release_supplies
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

-- A prescription's content is never rewritten: only its status and screening state move.
CREATE TRIGGER prescriptions_content_fixed BEFORE UPDATE OF patient_id, product_id, dose, dose_unit, route, slots, as_needed, max_doses_per_day, start_date, end_date, possession, supply_days, prescriber, indication, created_by, created_at ON prescriptions
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER prescriptions_no_delete BEFORE DELETE ON prescriptions
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER reconciliation_tasks_append_only BEFORE UPDATE OR DELETE ON reconciliation_tasks
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER reconciliation_tasks_no_truncate BEFORE TRUNCATE ON reconciliation_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();

CREATE TRIGGER reconciliation_completions_append_only BEFORE UPDATE OR DELETE ON reconciliation_completions
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();
CREATE TRIGGER reconciliation_completions_no_truncate BEFORE TRUNCATE ON reconciliation_completions
    FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change();
