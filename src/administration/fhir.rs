//! FHIR R4 export of a patient's administration record: a collection Bundle of the Patient,
//! the MedicationRequests involved, a MedicationAdministration per dose record (completed, or
//! not-done with a statusReason; entered-in-error when corrected) and a MedicationDispense per
//! in-possession supply.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::prelude::ToPrimitive;
use serde_json::{json, Value};

use super::model::DoseView;
use super::service;
use crate::db::{now, AnyConnection};
use crate::domain::administration::DoseOutcome;
use crate::domain::Quantity;
use crate::error::AppError;
use crate::formulary::queries as formulary;
use crate::patients::service as patients;
use crate::prescribing::model::PrescriptionView;
use crate::prescribing::service as prescribing;

/// Identifier system for prison (NOMIS) numbers.
pub const NOMIS_SYSTEM: &str = "https://prison-pharmacy.example/fhir/sid/nomis-number";
const DMD_SYSTEM: &str = "https://dmd.nhs.uk";

fn instant(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A FHIR decimal is a JSON number; doses and quantities have few enough digits to be exact.
fn number(q: Quantity) -> Value {
    let d = q.to_decimal();
    if d.fract().is_zero() {
        if let Some(whole) = d.to_i64() {
            return Value::from(whole);
        }
    }
    d.to_f64()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn medication(conn: &mut AnyConnection, product_id: i64) -> Result<Value, AppError> {
    let p = formulary::product(conn, product_id)?.ok_or_else(|| AppError::not_found("product"))?;
    Ok(match p.dmd_code {
        Some(code) => {
            json!({"coding": [{"system": DMD_SYSTEM, "code": code, "display": p.name}], "text": p.name})
        }
        None => json!({"text": p.name}),
    })
}

fn request_resource(
    conn: &mut AnyConnection,
    rx: &PrescriptionView,
    patient_ref: &str,
) -> Result<Value, AppError> {
    let timing = if rx.as_needed {
        format!(
            "when required, up to {} a day",
            rx.max_doses_per_day.unwrap_or(1)
        )
    } else {
        rx.slots
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(json!({
        "resourceType": "MedicationRequest",
        "id": format!("rx-{}", rx.id),
        "status": rx.status.as_str(),
        "intent": "order",
        "medicationCodeableConcept": medication(conn, rx.product_id)?,
        "subject": {"reference": patient_ref},
        "authoredOn": instant(rx.created_at),
        "requester": {"display": rx.prescriber},
        "dosageInstruction": [{
            "text": format!("{} {} {} ({})", rx.dose, rx.dose_unit, rx.route, timing),
            "asNeededBoolean": rx.as_needed,
            "doseAndRate": [{"doseQuantity": {"value": number(rx.dose), "unit": rx.dose_unit}}]
        }]
    }))
}

fn administration(
    conn: &mut AnyConnection,
    d: &DoseView,
    product_id: i64,
    patient_ref: &str,
) -> Result<Value, AppError> {
    let status = if d.correction.is_some() {
        "entered-in-error"
    } else {
        d.outcome.fhir_status()
    };
    let mut r = json!({
        "resourceType": "MedicationAdministration",
        "id": format!("dose-{}", d.id),
        "status": status,
        "medicationCodeableConcept": medication(conn, product_id)?,
        "subject": {"reference": patient_ref},
        "effectiveDateTime": instant(d.occurred_at),
        "performer": [{"actor": {"display": format!("user {}", d.nurse_id)}}],
        "request": {"reference": format!("MedicationRequest/rx-{}", d.prescription_id)},
        "note": [{"text": format!("round {} {}; entered {}{}", d.date, d.slot, instant(d.recorded_at),
                                  if d.late_entry { " (late entry)" } else { "" })}]
    });
    if d.outcome != DoseOutcome::Given {
        let text = match &d.reason {
            Some(reason) => format!("{}: {reason}", d.outcome),
            None => d.outcome.to_string(),
        };
        r["statusReason"] = json!([{"text": text}]);
    }
    if let Some(q) = d.quantity {
        r["dosage"] = json!({"dose": {"value": number(q), "unit": "dose"}});
    }
    if let Some(w) = d.witness_id {
        if let Some(performers) = r["performer"].as_array_mut() {
            performers.push(
                json!({"function": {"text": "witness"}, "actor": {"display": format!("user {w}")}}),
            );
        }
    }
    Ok(r)
}

pub fn bundle(
    conn: &mut AnyConnection,
    patient_id: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Value, AppError> {
    let patient = patients::patient(conn, patient_id)?;
    let patient_ref = format!("Patient/p{}", patient.id);
    let doses = service::doses_of_patient(conn, patient_id, from, to)?;
    let supplies = service::supplies_of_patient(conn, patient_id, from, to)?;
    let rx_ids: BTreeSet<i64> = doses
        .iter()
        .map(|d| d.prescription_id)
        .chain(supplies.iter().map(|s| s.prescription_id))
        .collect();
    let mut entries = vec![json!({"resource": {
        "resourceType": "Patient",
        "id": format!("p{}", patient.id),
        "identifier": [{"system": NOMIS_SYSTEM, "value": patient.prison_number}],
        "name": [{"family": patient.family_name, "given": [patient.given_name]}],
        "birthDate": patient.date_of_birth.to_string(),
    }})];
    let mut products = std::collections::HashMap::new();
    for id in &rx_ids {
        let rx = prescribing::prescription(conn, *id)?;
        products.insert(rx.id, (rx.product_id, rx.dose_unit.clone()));
        entries.push(json!({"resource": request_resource(conn, &rx, &patient_ref)?}));
    }
    for d in &doses {
        let (product_id, unit) = products
            .get(&d.prescription_id)
            .cloned()
            .unwrap_or_default();
        let mut r = administration(conn, d, product_id, &patient_ref)?;
        if let Some(dose) = r.get_mut("dosage") {
            dose["dose"]["unit"] = json!(unit);
        }
        entries.push(json!({"resource": r}));
    }
    for s in &supplies {
        let (product_id, _) = products
            .get(&s.prescription_id)
            .cloned()
            .unwrap_or_default();
        let unit = formulary::product(conn, product_id)?
            .map(|p| p.unit)
            .unwrap_or_default();
        entries.push(json!({"resource": {
            "resourceType": "MedicationDispense",
            "id": format!("supply-{}", s.id),
            "status": "completed",
            "medicationCodeableConcept": medication(conn, product_id)?,
            "subject": {"reference": patient_ref},
            "authorizingPrescription": [{"reference": format!("MedicationRequest/rx-{}", s.prescription_id)}],
            "quantity": {"value": number(s.quantity), "unit": unit},
            "daysSupply": {"value": s.days, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
            "whenHandedOver": instant(s.supplied_at),
            "performer": [{"actor": {"display": format!("user {}", s.handed_over_by)}}],
            "note": [{"text": s.label_text}]
        }}));
    }
    Ok(json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": instant(now()),
        "entry": entries,
    }))
}
