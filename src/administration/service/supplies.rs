//! In-possession supplies, supplies on release, and compliance checks against them.

use super::*;

pub(super) fn supply_view(conn: &mut AnyConnection, id: i64) -> Result<SupplyView, AppError> {
    let r: (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        String,
        i64,
        NaiveDateTime,
    ) = ip_supplies::table
        .find(id)
        .select((
            ip_supplies::id,
            ip_supplies::prescription_id,
            ip_supplies::patient_id,
            ip_supplies::site_id,
            ip_supplies::location_id,
            ip_supplies::days,
            ip_supplies::quantity,
            ip_supplies::per_day,
            ip_supplies::label_text,
            ip_supplies::handed_over_by,
            ip_supplies::supplied_at,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("supply"))?;
    let stock = ip_supply_movements::table
        .filter(ip_supply_movements::supply_id.eq(id))
        .order(ip_supply_movements::id.asc())
        .select((
            ip_supply_movements::batch_id,
            ip_supply_movements::quantity,
            ip_supply_movements::movement_id,
            ip_supply_movements::register_entry_id,
        ))
        .load::<(i64, i64, i64, Option<i64>)>(conn)?
        .into_iter()
        .map(|(batch_id, q, movement_id, register_entry_id)| DrawnStock {
            batch_id,
            quantity: Quantity::from_scaled(q),
            movement_id,
            register_entry_id,
        })
        .collect();
    Ok(SupplyView {
        id: r.0,
        prescription_id: r.1,
        patient_id: r.2,
        site_id: r.3,
        location_id: r.4,
        days: r.5,
        quantity: Quantity::from_scaled(r.6),
        per_day: Quantity::from_scaled(r.7),
        label_text: r.8,
        handed_over_by: r.9,
        supplied_at: r.10,
        stock,
    })
}

pub(super) fn frequency(rx: &RxFacts) -> String {
    if rx.as_needed {
        format!("when required, up to {} times a day", rx.doses_per_day())
    } else {
        let slots: Vec<&str> = rx.slots.iter().map(|s| s.as_str()).collect();
        format!(
            "{} ({})",
            match slots.len() {
                1 => "once a day".to_string(),
                2 => "twice a day".to_string(),
                n => format!("{n} times a day"),
            },
            slots.join(", ")
        )
    }
}

/// (per day, total) for a supply of a prescription for some days, exactly in stock units.
pub(super) fn supply_quantity(rx: &RxFacts, days: i64) -> Result<(Quantity, Quantity), AppError> {
    let per_dose = rx
        .units_per_dose(Quantity::from_scaled(rx.dose))
        .ok_or_else(|| {
            AppError::conflict(
                "dose_not_convertible",
                format!(
                    "{} {} does not convert exactly to {} of {}",
                    Quantity::from_scaled(rx.dose),
                    rx.dose_unit,
                    rx.unit,
                    rx.product_name
                ),
            )
        })?;
    let per_day = per_dose
        .scaled()
        .checked_mul(rx.doses_per_day())
        .map(Quantity::from_scaled);
    let total = per_day.and_then(|d| d.scaled().checked_mul(days).map(Quantity::from_scaled));
    match (per_day, total) {
        (Some(per_day), Some(total)) => Ok((per_day, total)),
        _ => Err(AppError::invalid(
            "days",
            "range",
            "the supply would exceed the largest quantity kept",
        )),
    }
}

/// Hands over an in-possession supply: dose x doses a day x days, exactly, first expiry first
/// out. A register-tracked medicine's supply is entered in the register with the patient, the
/// prescriber, who collected, whether identity was checked, and the witness.
pub fn supply(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &SupplyRequest,
    witness_id: Option<i64>,
) -> Result<SupplyView, AppError> {
    let rx = rx_facts(conn, req.prescription_id)?;
    rx.require_in_force(site_id, Possession::InPossession)?;
    location_at(conn, site_id, req.location_id)?;
    let days = req.days.or(rx.supply_days).unwrap_or(7);
    let (per_day, quantity) = supply_quantity(&rx, days)?;
    let ts = now();
    let product =
        formulary::product(conn, rx.product_id)?.ok_or_else(|| AppError::not_found("product"))?;
    let mut label = format!(
        "{}. Take {} {} {}. {} {}. {} {} for {} days. Supplied {} by {}.",
        rx.product_name,
        Quantity::from_scaled(rx.dose),
        rx.dose_unit,
        frequency(&rx),
        rx.patient_name,
        rx.prison_number,
        quantity,
        product.unit,
        days,
        ts.date(),
        rx.register_detail()
            .counterparty_address
            .unwrap_or_default(),
    );
    // The label carries the patient's reasonable adjustments, so whoever hands it over and
    // whoever reads it knows them (an easy-read label, reminders, someone to explain).
    let adjustments = crate::patients::adjustments::in_force(conn, &[rx.patient_id])?
        .remove(&rx.patient_id)
        .unwrap_or_default();
    for line in crate::patients::adjustments::summary_lines(&adjustments) {
        label.push_str(&format!(" Adjustment - {line}."));
    }
    let id: i64 = diesel::insert_into(ip_supplies::table)
        .values((
            ip_supplies::prescription_id.eq(rx.id),
            ip_supplies::patient_id.eq(rx.patient_id),
            ip_supplies::site_id.eq(site_id),
            ip_supplies::location_id.eq(req.location_id),
            ip_supplies::days.eq(days),
            ip_supplies::quantity.eq(quantity.scaled()),
            ip_supplies::per_day.eq(per_day.scaled()),
            ip_supplies::label_text.eq(&label),
            ip_supplies::handed_over_by.eq(actor.user_id),
            ip_supplies::supplied_at.eq(ts),
        ))
        .returning(ip_supplies::id)
        .get_result(conn)?;
    let mut detail = rx.register_detail();
    detail.collected_by = Some(format!("{} (in person)", rx.patient_name));
    detail.identity_checked = req.identity_checked;
    detail.witness_id = witness_id;
    let mut events = Vec::with_capacity(1);
    let drawn = draw(
        conn,
        actor,
        &rx,
        Draw {
            location_id: req.location_id,
            batch_id: req.batch_id,
            units: quantity,
            reason: MovementReason::IpSupply,
            reference: ("ip_supply", id),
            detail,
            occurred_at: None,
        },
        &mut events,
    )?;
    audit::record_all(conn, actor, &events)?;
    for d in &drawn {
        diesel::insert_into(ip_supply_movements::table)
            .values((
                ip_supply_movements::supply_id.eq(id),
                ip_supply_movements::batch_id.eq(d.batch_id),
                ip_supply_movements::quantity.eq(d.quantity.scaled()),
                ip_supply_movements::movement_id.eq(d.movement_id),
                ip_supply_movements::register_entry_id.eq(d.register_entry_id),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        actor,
        Some(site_id),
        "ip_supply.hand_over",
        "ip_supply",
        id,
        Some(serde_json::json!({"prescription_id": rx.id, "quantity": quantity, "days": days})),
    )?;
    supply_view(conn, id)
}

/// Who took a supply out on release and how it was checked.
#[derive(Debug, Clone, Default)]
pub struct Handover {
    pub collected_by: Option<String>,
    pub identity_checked: Option<bool>,
    pub witness_id: Option<i64>,
}

/// The supply a patient takes out on release, drawn from stock through the ledger like any
/// other supply (and entered in the register for register-tracked medicines). The release
/// itself (its limits, its record, ending the prescriptions) follows in the same transaction.
pub fn supply_on_release(
    conn: &mut AnyConnection,
    actor: &Actor,
    patient_id: i64,
    index: usize,
    item: &crate::patients::model::ReleaseSupply,
    handover: &Handover,
) -> Result<(), AppError> {
    let rx = rx_facts(conn, item.prescription_id)?;
    if rx.patient_id != patient_id {
        return Err(AppError::invalid(
            format!("supplies[{index}].prescription_id"),
            "active",
            "not an active prescription of this patient",
        ));
    }
    location_at(conn, rx.site_id, item.location_id).map_err(|_| {
        AppError::invalid(
            format!("supplies[{index}].location_id"),
            "exists",
            "no such location at the patient's prison",
        )
    })?;
    let (_, quantity) = supply_quantity(&rx, item.days.max(1))?;
    let mut detail = rx.register_detail();
    detail.collected_by = Some(
        handover
            .collected_by
            .clone()
            .unwrap_or_else(|| format!("{} (in person, on release)", rx.patient_name)),
    );
    detail.identity_checked = handover.identity_checked;
    detail.witness_id = handover.witness_id;
    let mut events = Vec::with_capacity(1);
    draw(
        conn,
        actor,
        &rx,
        Draw {
            location_id: item.location_id,
            batch_id: item.batch_id,
            units: quantity,
            reason: MovementReason::IpSupply,
            reference: ("patient_release", patient_id),
            detail,
            occurred_at: None,
        },
        &mut events,
    )?;
    audit::record_all(conn, actor, &events)?;
    Ok(())
}

/// A cell count of an in-possession medicine against what the last supply and the dose
/// schedule leave. A discrepancy beyond the tolerance makes an IP review due and raises an alert.
pub fn compliance_check(
    conn: &mut AnyConnection,
    actor: &Actor,
    site_id: i64,
    req: &ComplianceRequest,
    rules: Rules,
) -> Result<ComplianceView, AppError> {
    if req.counted_quantity.is_negative() {
        return Err(AppError::invalid(
            "counted_quantity",
            "non_negative",
            "must not be negative",
        ));
    }
    let rx = rx_facts(conn, req.prescription_id)?;
    if rx.site_id != site_id {
        return Err(AppError::not_found("prescription"));
    }
    if rx.possession != Possession::InPossession {
        return Err(AppError::conflict(
            "possession",
            "only in-possession medicines are counted in the cell",
        ));
    }
    let last: (i64, i64, i64, NaiveDateTime) = ip_supplies::table
        .filter(ip_supplies::prescription_id.eq(rx.id))
        .order(ip_supplies::id.desc())
        .select((
            ip_supplies::id,
            ip_supplies::quantity,
            ip_supplies::per_day,
            ip_supplies::supplied_at,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            AppError::conflict(
                "no_supply",
                "nothing has been supplied for this prescription",
            )
        })?;
    let ts = now();
    let days = (ts.date() - last.3.date()).num_days();
    let (supplied, per_day) = (Quantity::from_scaled(last.1), Quantity::from_scaled(last.2));
    let expected = expected_remaining(supplied, per_day, days);
    let discrepancy = compliance_discrepancy(
        req.counted_quantity,
        expected,
        supplied,
        per_day,
        rules.tolerance_percent,
    );
    let id: i64 = diesel::insert_into(compliance_checks::table)
        .values((
            compliance_checks::prescription_id.eq(rx.id),
            compliance_checks::patient_id.eq(rx.patient_id),
            compliance_checks::site_id.eq(site_id),
            compliance_checks::supply_id.eq(last.0),
            compliance_checks::counted_quantity.eq(req.counted_quantity.scaled()),
            compliance_checks::expected_quantity.eq(expected.scaled()),
            compliance_checks::discrepancy.eq(discrepancy),
            compliance_checks::note.eq(&req.note),
            compliance_checks::nurse_id.eq(actor.user_id),
            compliance_checks::checked_at.eq(ts),
        ))
        .returning(compliance_checks::id)
        .get_result(conn)?;
    let alert_id = if discrepancy {
        patients_service::raise_review_trigger(
            conn,
            actor,
            rx.patient_id,
            ReviewTrigger::FailedComplianceCheck,
            Some(&format!(
                "counted {}, expected {}",
                req.counted_quantity, expected
            )),
        )?;
        let message = format!(
            "compliance check of {} for {}: counted {}, expected {} {}; in-possession review due",
            rx.product_name, rx.prison_number, req.counted_quantity, expected, rx.unit
        );
        Some(raise_alert(
            conn,
            actor,
            &rx,
            AlertKind::ComplianceDiscrepancy,
            message,
            None,
            Some(id),
        )?)
    } else {
        None
    };
    audit::record(
        conn,
        actor,
        Some(site_id),
        "compliance.check",
        "compliance_check",
        id,
        Some(serde_json::json!({"discrepancy": discrepancy})),
    )?;
    Ok(ComplianceView {
        id,
        prescription_id: rx.id,
        patient_id: rx.patient_id,
        supply_id: last.0,
        counted_quantity: req.counted_quantity,
        expected_quantity: expected,
        difference: Quantity::from_scaled(req.counted_quantity.scaled() - expected.scaled()),
        discrepancy,
        note: req.note.clone(),
        nurse_id: actor.user_id,
        checked_at: ts,
        alert_id,
    })
}

/// In-possession supplies of a patient handed over in the range, oldest first.
pub fn supplies_of_patient(
    conn: &mut AnyConnection,
    patient_id: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<SupplyView>, AppError> {
    let mut q = ip_supplies::table
        .filter(ip_supplies::patient_id.eq(patient_id))
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(ip_supplies::supplied_at.ge(f.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    if let Some(t) = to.and_then(|d| d.succ_opt()) {
        q = q.filter(ip_supplies::supplied_at.lt(t.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    let ids: Vec<i64> = q
        .order(ip_supplies::id.asc())
        .select(ip_supplies::id)
        .load(conn)?;
    ids.into_iter().map(|id| supply_view(conn, id)).collect()
}

/// (prescription, prison number, given name, family name, cell, product, dose, dose unit, CD
/// schedule, register-tracked, unit)
type PossessionRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    String,
    String,
    bool,
    String,
);

/// The approved, active in-possession prescriptions of the patients at a wing (or the whole
/// prison): what a nurse hands over or counts in cells.
pub fn possession_list(
    conn: &mut AnyConnection,
    site_id: i64,
    wing: Option<&str>,
) -> Result<Vec<PossessionItem>, AppError> {
    let mut query = prescriptions::table
        .inner_join(patients::table)
        .inner_join(products::table)
        .filter(patients::site_id.eq(site_id))
        .filter(patients::status.eq(PatientStatus::InCustody.as_str()))
        .filter(prescriptions::status.eq(RequestStatus::Active.as_str()))
        .filter(prescriptions::screening.eq(ScreeningState::Approved.as_str()))
        .filter(prescriptions::possession.eq(Possession::InPossession.as_str()))
        .into_boxed();
    if let Some(w) = wing {
        query = query.filter(patients::wing.eq(w.to_string()));
    }
    let rows: Vec<PossessionRow> = query
        .order((
            patients::cell.asc(),
            patients::prison_number.asc(),
            prescriptions::id.asc(),
        ))
        .select((
            prescriptions::id,
            patients::prison_number,
            patients::given_name,
            patients::family_name,
            patients::cell,
            products::name,
            prescriptions::dose,
            prescriptions::dose_unit,
            products::cd_schedule,
            products::cd_register,
            products::unit,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| PossessionItem {
            prescription_id: r.0,
            prison_number: r.1,
            patient_name: format!("{} {}", r.2, r.3),
            cell: r.4,
            product_name: r.5,
            dose: Quantity::from_scaled(r.6),
            dose_unit: r.7,
            witness_required: CdSchedule::from_db(&r.8) == CdSchedule::S2 || r.9,
            unit: r.10,
        })
        .collect())
}
