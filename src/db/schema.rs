// One schema for both backends: every column uses a type that diesel's MultiBackend shares.

diesel::table! {
    sites (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        category -> Text,
        address -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    locations (id) {
        id -> BigInt,
        site_id -> BigInt,
        code -> Text,
        name -> Text,
        kind -> Text,
        active -> Bool,
        created_at -> Timestamp,
        cd_cabinet -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        display_name -> Text,
        role -> Text,
        password_hash -> Text,
        enabled -> Bool,
        authorised_witness -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    user_sites (user_id, site_id) {
        user_id -> BigInt,
        site_id -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        user_id -> Nullable<BigInt>,
        site_id -> Nullable<BigInt>,
        action -> Text,
        entity -> Text,
        entity_id -> Text,
        request_id -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    products (id) {
        id -> BigInt,
        dmd_code -> Nullable<Text>,
        dmd_type -> Text,
        name -> Text,
        form -> Text,
        strength -> Text,
        unit -> Text,
        pack_size -> BigInt,
        ingredient -> Text,
        cd_schedule -> Text,
        cd_register -> Bool,
        medicine_of_concern -> Bool,
        default_possession -> Text,
        max_daily_dose -> Nullable<BigInt>,
        dose_unit -> Text,
        therapeutic_class -> Text,
        critical -> Bool,
        opioid_substitution -> Bool,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        weekly_only -> Bool,
        time_critical -> Bool,
        service_line -> Text,
    }
}

diesel::table! {
    batches (id) {
        id -> BigInt,
        product_id -> BigInt,
        batch_number -> Text,
        expiry_date -> Date,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    stock_balances (id) {
        id -> BigInt,
        site_id -> BigInt,
        location_id -> BigInt,
        batch_id -> BigInt,
        product_id -> BigInt,
        quantity -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    stock_movements (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        recorded_at -> Timestamp,
        site_id -> BigInt,
        location_id -> BigInt,
        batch_id -> BigInt,
        product_id -> BigInt,
        reason -> Text,
        reason_code -> Nullable<Text>,
        quantity -> BigInt,
        balance_after -> BigInt,
        actor_id -> BigInt,
        request_id -> Text,
        reference_type -> Nullable<Text>,
        reference_id -> Nullable<BigInt>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    transfers (id) {
        id -> BigInt,
        from_site_id -> BigInt,
        from_location_id -> BigInt,
        to_site_id -> BigInt,
        to_location_id -> BigInt,
        status -> Text,
        note -> Nullable<Text>,
        dispatched_by -> BigInt,
        dispatched_at -> Timestamp,
        received_by -> Nullable<BigInt>,
        received_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    transfer_lines (id) {
        id -> BigInt,
        transfer_id -> BigInt,
        batch_id -> BigInt,
        product_id -> BigInt,
        quantity_sent -> BigInt,
        quantity_received -> Nullable<BigInt>,
        discrepancy_note -> Nullable<Text>,
    }
}

diesel::table! {
    stocktakes (id) {
        id -> BigInt,
        site_id -> BigInt,
        location_id -> BigInt,
        status -> Text,
        note -> Nullable<Text>,
        opened_by -> BigInt,
        opened_at -> Timestamp,
        closed_by -> Nullable<BigInt>,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    stocktake_lines (id) {
        id -> BigInt,
        stocktake_id -> BigInt,
        batch_id -> BigInt,
        product_id -> BigInt,
        snapshot_quantity -> BigInt,
        counted_quantity -> Nullable<BigInt>,
        expected_at_count -> Nullable<BigInt>,
        counted_by -> Nullable<BigInt>,
        counted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reorder_levels (id) {
        id -> BigInt,
        site_id -> BigInt,
        product_id -> BigInt,
        reorder_level -> BigInt,
        reorder_quantity -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    cd_register_pages (id) {
        id -> BigInt,
        site_id -> BigInt,
        product_id -> BigInt,
        location_id -> Nullable<BigInt>,
        drug -> Text,
        strength -> Text,
        form -> Text,
        unit -> Text,
        chain_version -> BigInt,
        entry_count -> BigInt,
        balance -> BigInt,
        head_hash -> Text,
        opened_at -> Timestamp,
        last_entry_at -> Nullable<Timestamp>,
        opened_after_movement_id -> BigInt,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cd_checkpoints (id) {
        id -> BigInt,
        site_id -> BigInt,
        page_id -> BigInt,
        entry_count -> BigInt,
        balance -> BigInt,
        head_hash -> Text,
        signed_at -> Timestamp,
        public_key -> Text,
        signature -> Text,
        occasion -> Text,
    }
}

diesel::table! {
    cd_register_entries (id) {
        id -> BigInt,
        page_id -> BigInt,
        seq -> BigInt,
        site_id -> BigInt,
        product_id -> BigInt,
        entry_type -> Text,
        movement_id -> Nullable<BigInt>,
        occurred_at -> Timestamp,
        recorded_at -> Timestamp,
        quantity -> BigInt,
        balance_after -> BigInt,
        location_id -> Nullable<BigInt>,
        batch_id -> Nullable<BigInt>,
        counterparty -> Nullable<Text>,
        counterparty_address -> Nullable<Text>,
        patient_identifier -> Nullable<Text>,
        prescriber -> Nullable<Text>,
        collected_by -> Nullable<Text>,
        identity_checked -> Nullable<Bool>,
        author_id -> BigInt,
        witness_id -> Nullable<BigInt>,
        corrects_entry_id -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    cd_balance_checks (id) {
        id -> BigInt,
        page_id -> BigInt,
        site_id -> BigInt,
        expected_quantity -> BigInt,
        counted_quantity -> BigInt,
        outcome -> Text,
        counted_by -> BigInt,
        witness_id -> BigInt,
        note -> Nullable<Text>,
        checked_at -> Timestamp,
    }
}

diesel::table! {
    cd_check_resolutions (id) {
        id -> BigInt,
        check_id -> BigInt,
        resolved_by -> BigInt,
        explanation -> Text,
        adjustment_entry_id -> Nullable<BigInt>,
        resolved_at -> Timestamp,
    }
}

diesel::table! {
    cd_patient_returns (id) {
        id -> BigInt,
        site_id -> BigInt,
        patient_identifier -> Text,
        product_id -> Nullable<BigInt>,
        description -> Text,
        quantity -> BigInt,
        unit -> Text,
        received_by -> BigInt,
        received_at -> Timestamp,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    cd_patient_return_destructions (id) {
        id -> BigInt,
        return_id -> BigInt,
        destroyed_by -> BigInt,
        witness_id -> BigInt,
        method -> Text,
        note -> Nullable<Text>,
        destroyed_at -> Timestamp,
    }
}

diesel::table! {
    suppliers (id) {
        id -> BigInt,
        name -> Text,
        address -> Text,
        wholesale_dealer_licence -> Text,
        contact_name -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    supplier_products (id) {
        id -> BigInt,
        supplier_id -> BigInt,
        product_id -> BigInt,
        pack_price -> BigInt,
        lead_time_days -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    purchase_orders (id) {
        id -> BigInt,
        site_id -> BigInt,
        supplier_id -> BigInt,
        status -> Text,
        note -> Nullable<Text>,
        created_by -> BigInt,
        created_at -> Timestamp,
        approved_by -> Nullable<BigInt>,
        approved_at -> Nullable<Timestamp>,
        sent_by -> Nullable<BigInt>,
        sent_at -> Nullable<Timestamp>,
        cancelled_by -> Nullable<BigInt>,
        cancelled_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    purchase_order_lines (id) {
        id -> BigInt,
        order_id -> BigInt,
        product_id -> BigInt,
        packs -> BigInt,
        pack_price -> BigInt,
        vat_rate -> BigInt,
        line_net -> BigInt,
        line_vat -> BigInt,
        fp10cdf_reference -> Nullable<Text>,
        received_quantity -> BigInt,
    }
}

diesel::table! {
    goods_receipts (id) {
        id -> BigInt,
        order_id -> BigInt,
        site_id -> BigInt,
        location_id -> BigInt,
        received_by -> BigInt,
        received_at -> Timestamp,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    goods_receipt_lines (id) {
        id -> BigInt,
        receipt_id -> BigInt,
        order_line_id -> BigInt,
        batch_id -> BigInt,
        quantity -> BigInt,
        value_net -> BigInt,
        value_vat -> BigInt,
        movement_id -> BigInt,
        over_receipt_reason -> Nullable<Text>,
        over_receipt_accepted_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    invoices (id) {
        id -> BigInt,
        receipt_id -> BigInt,
        invoice_number -> Text,
        net_amount -> BigInt,
        vat_amount -> BigInt,
        recorded_by -> BigInt,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        receipt_line_id -> BigInt,
        pack_price -> BigInt,
    }
}

diesel::table! {
    patients (id) {
        id -> BigInt,
        prison_number -> Text,
        given_name -> Text,
        family_name -> Text,
        date_of_birth -> Date,
        site_id -> BigInt,
        wing -> Nullable<Text>,
        landing -> Nullable<Text>,
        cell -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    patient_events (id) {
        id -> BigInt,
        patient_id -> BigInt,
        kind -> Text,
        from_site_id -> Nullable<BigInt>,
        to_site_id -> Nullable<BigInt>,
        detail -> Nullable<Text>,
        actor_id -> BigInt,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    allergies (id) {
        id -> BigInt,
        patient_id -> BigInt,
        substance -> Text,
        kind -> Text,
        reaction -> Text,
        severity -> Text,
        recorded_by -> BigInt,
        recorded_at -> Timestamp,
        retracts_id -> Nullable<BigInt>,
        retraction_reason -> Nullable<Text>,
    }
}

diesel::table! {
    ip_assessments (id) {
        id -> BigInt,
        patient_id -> BigInt,
        site_id -> BigInt,
        outcome -> Text,
        reasons -> Text,
        assessed_by -> BigInt,
        assessed_on -> Date,
        review_date -> Date,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ip_assessment_products (id) {
        id -> BigInt,
        assessment_id -> BigInt,
        product_id -> BigInt,
    }
}

diesel::table! {
    ip_review_triggers (id) {
        id -> BigInt,
        patient_id -> BigInt,
        reason -> Text,
        note -> Nullable<Text>,
        raised_by -> BigInt,
        raised_at -> Timestamp,
    }
}

diesel::table! {
    reconciliation_tasks (id) {
        id -> BigInt,
        patient_id -> BigInt,
        site_id -> BigInt,
        due_date -> Date,
        created_at -> Timestamp,
    }
}

diesel::table! {
    reconciliation_completions (id) {
        id -> BigInt,
        task_id -> BigInt,
        completed_by -> BigInt,
        note -> Text,
        completed_at -> Timestamp,
    }
}

diesel::table! {
    prescriptions (id) {
        id -> BigInt,
        patient_id -> BigInt,
        product_id -> BigInt,
        dose -> BigInt,
        dose_unit -> Text,
        route -> Text,
        slots -> Text,
        as_needed -> Bool,
        max_doses_per_day -> Nullable<BigInt>,
        start_date -> Date,
        end_date -> Nullable<Date>,
        possession -> Text,
        supply_days -> Nullable<BigInt>,
        prescriber -> Text,
        indication -> Nullable<Text>,
        status -> Text,
        screening -> Text,
        created_by -> BigInt,
        created_at -> Timestamp,
        schedule -> Text,
        every_days -> Nullable<BigInt>,
        weekdays -> Nullable<Text>,
        day_of_month -> Nullable<BigInt>,
        min_interval_minutes -> Nullable<BigInt>,
        outbreak_id -> Nullable<BigInt>,
        outbreak_purpose -> Nullable<Text>,
    }
}

diesel::table! {
    prescription_steps (prescription_id, seq) {
        prescription_id -> BigInt,
        seq -> BigInt,
        from_date -> Date,
        to_date -> Date,
        dose -> BigInt,
    }
}

diesel::table! {
    prescription_status_events (id) {
        id -> BigInt,
        prescription_id -> BigInt,
        status -> Text,
        reason -> Nullable<Text>,
        actor_id -> BigInt,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    screening_findings (id) {
        id -> BigInt,
        prescription_id -> BigInt,
        check_kind -> Text,
        severity -> Text,
        message -> Text,
        source -> Nullable<Text>,
        related_prescription_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    screening_decisions (id) {
        id -> BigInt,
        prescription_id -> BigInt,
        decision -> Text,
        note -> Nullable<Text>,
        override_reason -> Nullable<Text>,
        pharmacist_id -> BigInt,
        decided_at -> Timestamp,
    }
}

diesel::table! {
    release_supplies (id) {
        id -> BigInt,
        patient_id -> BigInt,
        prescription_id -> BigInt,
        days -> BigInt,
        recorded_by -> BigInt,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    dose_records (id) {
        id -> BigInt,
        prescription_id -> BigInt,
        patient_id -> BigInt,
        site_id -> BigInt,
        scheduled_date -> Date,
        slot -> Text,
        attempt -> BigInt,
        outcome -> Text,
        reason -> Nullable<Text>,
        quantity -> Nullable<BigInt>,
        stock_quantity -> Nullable<BigInt>,
        location_id -> Nullable<BigInt>,
        witness_id -> Nullable<BigInt>,
        nurse_id -> BigInt,
        occurred_at -> Timestamp,
        recorded_at -> Timestamp,
        late -> Bool,
        injection_site -> Nullable<Text>,
    }
}

diesel::table! {
    dose_movements (id) {
        id -> BigInt,
        dose_record_id -> BigInt,
        batch_id -> BigInt,
        quantity -> BigInt,
        movement_id -> BigInt,
        register_entry_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    dose_corrections (id) {
        id -> BigInt,
        dose_record_id -> BigInt,
        reason -> Text,
        corrected_by -> BigInt,
        corrected_at -> Timestamp,
    }
}

diesel::table! {
    ip_supplies (id) {
        id -> BigInt,
        prescription_id -> BigInt,
        patient_id -> BigInt,
        site_id -> BigInt,
        location_id -> BigInt,
        days -> BigInt,
        quantity -> BigInt,
        per_day -> BigInt,
        label_text -> Text,
        handed_over_by -> BigInt,
        supplied_at -> Timestamp,
    }
}

diesel::table! {
    ip_supply_movements (id) {
        id -> BigInt,
        supply_id -> BigInt,
        batch_id -> BigInt,
        quantity -> BigInt,
        movement_id -> BigInt,
        register_entry_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    compliance_checks (id) {
        id -> BigInt,
        prescription_id -> BigInt,
        patient_id -> BigInt,
        site_id -> BigInt,
        supply_id -> BigInt,
        counted_quantity -> BigInt,
        expected_quantity -> BigInt,
        discrepancy -> Bool,
        note -> Nullable<Text>,
        nurse_id -> BigInt,
        checked_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        site_id -> BigInt,
        patient_id -> BigInt,
        prescription_id -> Nullable<BigInt>,
        kind -> Text,
        message -> Text,
        dose_record_id -> Nullable<BigInt>,
        compliance_check_id -> Nullable<BigInt>,
        raised_at -> Timestamp,
    }
}

diesel::table! {
    alert_acknowledgements (id) {
        id -> BigInt,
        alert_id -> BigInt,
        acknowledged_by -> BigInt,
        note -> Text,
        acknowledged_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (id) {
        id -> BigInt,
        user_id -> BigInt,
        key -> Text,
        fingerprint -> Text,
        status -> BigInt,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(locations -> sites (site_id));
diesel::joinable!(user_sites -> users (user_id));
diesel::joinable!(user_sites -> sites (site_id));
diesel::joinable!(batches -> products (product_id));
diesel::joinable!(stock_balances -> batches (batch_id));
diesel::joinable!(stock_balances -> products (product_id));
diesel::joinable!(stock_balances -> locations (location_id));
diesel::joinable!(stock_movements -> batches (batch_id));
diesel::joinable!(transfer_lines -> transfers (transfer_id));
diesel::joinable!(stocktake_lines -> stocktakes (stocktake_id));
diesel::joinable!(reorder_levels -> products (product_id));
diesel::joinable!(cd_register_pages -> products (product_id));
diesel::joinable!(cd_checkpoints -> cd_register_pages (page_id));
diesel::joinable!(cd_register_entries -> cd_register_pages (page_id));
diesel::joinable!(cd_balance_checks -> cd_register_pages (page_id));
diesel::joinable!(cd_patient_return_destructions -> cd_patient_returns (return_id));
diesel::joinable!(supplier_products -> suppliers (supplier_id));
diesel::joinable!(supplier_products -> products (product_id));
diesel::joinable!(purchase_orders -> suppliers (supplier_id));
diesel::joinable!(purchase_order_lines -> purchase_orders (order_id));
diesel::joinable!(purchase_order_lines -> products (product_id));
diesel::joinable!(goods_receipts -> purchase_orders (order_id));
diesel::joinable!(goods_receipt_lines -> goods_receipts (receipt_id));
diesel::joinable!(goods_receipt_lines -> purchase_order_lines (order_line_id));
diesel::joinable!(invoices -> goods_receipts (receipt_id));
diesel::joinable!(patients -> sites (site_id));
diesel::joinable!(allergies -> patients (patient_id));
diesel::joinable!(ip_assessment_products -> ip_assessments (assessment_id));
diesel::joinable!(reconciliation_tasks -> patients (patient_id));
diesel::joinable!(reconciliation_completions -> reconciliation_tasks (task_id));
diesel::joinable!(prescriptions -> patients (patient_id));
diesel::joinable!(prescriptions -> products (product_id));
diesel::joinable!(screening_decisions -> prescriptions (prescription_id));
diesel::joinable!(release_supplies -> prescriptions (prescription_id));
diesel::joinable!(dose_records -> prescriptions (prescription_id));
diesel::joinable!(dose_records -> patients (patient_id));
diesel::joinable!(dose_movements -> dose_records (dose_record_id));
diesel::joinable!(dose_corrections -> dose_records (dose_record_id));
diesel::joinable!(ip_supplies -> prescriptions (prescription_id));
diesel::joinable!(ip_supply_movements -> ip_supplies (supply_id));
diesel::joinable!(alerts -> patients (patient_id));
diesel::joinable!(alert_acknowledgements -> alerts (alert_id));

diesel::table! {
    sign_in_throttle (key) {
        key -> Text,
        failures -> BigInt,
        window_started_at -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    witness_redemptions (assertion_id) {
        assertion_id -> Text,
        witness_id -> BigInt,
        site_id -> BigInt,
        act -> Text,
        redeemed_by -> BigInt,
        redeemed_at -> Timestamp,
    }
}

diesel::table! {
    naloxone_offers (id) {
        id -> BigInt,
        patient_id -> BigInt,
        site_id -> BigInt,
        outcome -> Text,
        movement_id -> Nullable<BigInt>,
        offered_by -> BigInt,
        offered_at -> Timestamp,
    }
}

diesel::table! {
    time_critical_alerts (prescription_id, scheduled_date, slot) {
        prescription_id -> BigInt,
        scheduled_date -> Date,
        slot -> Text,
        alert_id -> BigInt,
    }
}

diesel::table! {
    emergency_kits (id) {
        id -> BigInt,
        site_id -> BigInt,
        location_id -> BigInt,
        kind -> Text,
        check_interval_days -> BigInt,
        created_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    emergency_kit_contents (kit_id, product_id) {
        kit_id -> BigInt,
        product_id -> BigInt,
        quantity -> BigInt,
    }
}

diesel::table! {
    emergency_kit_checks (id) {
        id -> BigInt,
        kit_id -> BigInt,
        site_id -> BigInt,
        seal_number -> Text,
        seal_intact -> Bool,
        complete -> Bool,
        note -> Nullable<Text>,
        checked_by -> BigInt,
        checked_at -> Timestamp,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    emergency_kit_check_items (check_id, product_id) {
        check_id -> BigInt,
        product_id -> BigInt,
        present -> Bool,
        in_date -> Bool,
    }
}

diesel::table! {
    emergency_kit_events (id) {
        id -> BigInt,
        kit_id -> BigInt,
        site_id -> BigInt,
        kind -> Text,
        seal_number -> Text,
        patient_id -> Nullable<BigInt>,
        note -> Nullable<Text>,
        recorded_by -> BigInt,
        occurred_at -> Timestamp,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    emergency_kit_event_movements (event_id, movement_id) {
        event_id -> BigInt,
        movement_id -> BigInt,
    }
}

diesel::table! {
    outbreaks (id) {
        id -> BigInt,
        site_id -> BigInt,
        condition -> Text,
        declared_on -> Date,
        wings -> Text,
        note -> Nullable<Text>,
        declared_by -> BigInt,
        declared_at -> Timestamp,
    }
}

diesel::table! {
    outbreak_closures (outbreak_id) {
        outbreak_id -> BigInt,
        closed_on -> Date,
        note -> Nullable<Text>,
        closed_by -> BigInt,
        closed_at -> Timestamp,
    }
}

diesel::table! {
    vaccinations (id) {
        id -> BigInt,
        site_id -> BigInt,
        patient_id -> BigInt,
        product_id -> BigInt,
        batch_id -> BigInt,
        location_id -> BigInt,
        quantity -> BigInt,
        movement_id -> BigInt,
        injection_site -> Text,
        outbreak_id -> Nullable<BigInt>,
        given_by -> BigInt,
        given_at -> Timestamp,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    budgets (id) {
        id -> BigInt,
        site_id -> BigInt,
        financial_year -> BigInt,
        service_line -> Text,
        amount -> BigInt,
        note -> Nullable<Text>,
        set_by -> BigInt,
        set_at -> Timestamp,
    }
}

diesel::table! {
    reasonable_adjustments (id) {
        id -> BigInt,
        patient_id -> BigInt,
        category -> Text,
        text -> Text,
        recorded_by -> BigInt,
        recorded_at -> Timestamp,
        retracts_id -> Nullable<BigInt>,
        retraction_reason -> Nullable<Text>,
    }
}

diesel::joinable!(emergency_kits -> locations (location_id));
diesel::joinable!(emergency_kit_contents -> emergency_kits (kit_id));
diesel::joinable!(emergency_kit_contents -> products (product_id));
diesel::joinable!(emergency_kit_check_items -> emergency_kit_checks (check_id));
diesel::joinable!(emergency_kit_event_movements -> emergency_kit_events (event_id));
diesel::joinable!(emergency_kit_event_movements -> stock_movements (movement_id));
diesel::joinable!(outbreak_closures -> outbreaks (outbreak_id));
diesel::joinable!(vaccinations -> patients (patient_id));
diesel::joinable!(vaccinations -> batches (batch_id));
diesel::joinable!(vaccinations -> products (product_id));
diesel::joinable!(reasonable_adjustments -> patients (patient_id));

diesel::allow_tables_to_appear_in_same_query!(
    sites,
    emergency_kits,
    emergency_kit_contents,
    emergency_kit_checks,
    emergency_kit_check_items,
    emergency_kit_events,
    emergency_kit_event_movements,
    outbreaks,
    outbreak_closures,
    vaccinations,
    budgets,
    reasonable_adjustments,
    time_critical_alerts,
    naloxone_offers,
    prescription_steps,
    sign_in_throttle,
    witness_redemptions,
    cd_checkpoints,
    locations,
    users,
    user_sites,
    audit_events,
    products,
    batches,
    stock_balances,
    stock_movements,
    transfers,
    transfer_lines,
    stocktakes,
    stocktake_lines,
    reorder_levels,
    cd_register_pages,
    cd_register_entries,
    cd_balance_checks,
    cd_check_resolutions,
    cd_patient_returns,
    cd_patient_return_destructions,
    suppliers,
    supplier_products,
    purchase_orders,
    purchase_order_lines,
    goods_receipts,
    goods_receipt_lines,
    invoices,
    invoice_lines,
    patients,
    patient_events,
    allergies,
    ip_assessments,
    ip_assessment_products,
    ip_review_triggers,
    reconciliation_tasks,
    reconciliation_completions,
    prescriptions,
    prescription_status_events,
    screening_findings,
    screening_decisions,
    release_supplies,
    dose_records,
    dose_movements,
    dose_corrections,
    ip_supplies,
    ip_supply_movements,
    compliance_checks,
    alerts,
    alert_acknowledgements,
    idempotency_keys,
);
