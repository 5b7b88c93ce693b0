//! FHIR R4 export of a patient's administration record: a collection Bundle of the Patient,
//! the MedicationRequests involved (their schedule as FHIR Timing), a MedicationAdministration
//! per dose record (completed, or not-done with a coded statusReason; entered-in-error when
//! corrected), a MedicationDispense per in-possession supply, and a Practitioner for everyone
//! who prescribed, gave, witnessed or handed over. Every quantity is UCUM-coded and every
//! entry has a `fullUrl`.

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
/// Where the resources of this service live, for each entry's `fullUrl`.
pub const FHIR_BASE: &str = "https://prison-pharmacy.example/fhir";
const UCUM: &str = "http://unitsofmeasure.org";
/// Dose outcomes as this service records them, for not-given reasons.
const OUTCOME_SYSTEM: &str = "https://prison-pharmacy.example/fhir/CodeSystem/dose-outcome";
/// Reasonable adjustment categories, as the service names them (no national code set fits yet).
const ADJUSTMENT_SYSTEM: &str =
    "https://prison-pharmacy.example/fhir/CodeSystem/reasonable-adjustment";
const USER_SYSTEM: &str = "https://prison-pharmacy.example/fhir/sid/username";
const GMC_SYSTEM: &str = "https://fhir.hl7.org.uk/Id/gmc-number";

/// The UCUM code of a unit as products and prescriptions name it: units of measure as UCUM
/// writes them, countable things as annotations (`{tablet}`).
pub fn ucum_code(unit: &str) -> String {
    let u = unit.trim().to_lowercase();
    match u.as_str() {
        "mg" | "g" | "kg" => u,
        "mcg" | "microgram" | "micrograms" | "ug" => "ug".into(),
        "ml" => "mL".into(),
        "l" => "L".into(),
        "unit" | "units" | "iu" => "[iU]".into(),
        "day" | "days" => "d".into(),
        _ => {
            // Countable: the last word, singular ("pre-filled syringe" -> "{syringe}").
            let word = u.split_whitespace().last().unwrap_or("unit");
            format!("{{{}}}", word.trim_end_matches('s'))
        }
    }
}

/// A UCUM-coded quantity.
fn quantity(value: Quantity, unit: &str) -> Value {
    json!({"value": number(value), "unit": unit, "system": UCUM, "code": ucum_code(unit)})
}

/// A Practitioner reference for a user of the service.
fn user_ref(id: i64) -> Value {
    json!({"reference": format!("Practitioner/u{id}")})
}

/// A prescriber as written on the prescription ("Dr A Khan GMC 7012345"): their Practitioner id
/// and resource, with the GMC number when one is given.
fn prescriber(text: &str) -> (String, Value) {
    let gmc = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| {
            w[0].eq_ignore_ascii_case("GMC")
                && w[1].len() == 7
                && w[1].bytes().all(|b| b.is_ascii_digit())
        })
        .map(|w| w[1].to_string());
    let id = match &gmc {
        Some(n) => format!("gmc-{n}"),
        None => format!(
            "prescriber-{}",
            &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()))[..12]
        ),
    };
    let mut r = json!({"resourceType": "Practitioner", "id": id, "name": [{"text": text}]});
    if let Some(n) = gmc {
        r["identifier"] = json!([{"system": GMC_SYSTEM, "value": n}]);
    }
    (id, r)
}

/// FHIR's event timing code for a round.
fn when(slot: crate::prescribing::model::Slot) -> &'static str {
    use crate::prescribing::model::Slot;
    match slot {
        Slot::Morning => "MORN",
        Slot::Lunchtime => "NOON",
        Slot::Teatime => "EVE",
        Slot::Night => "NIGHT",
    }
}

/// The prescription's schedule as FHIR Timing, one dosage instruction per stepped-plan step.
fn dosage_instructions(rx: &PrescriptionView) -> Vec<Value> {
    use crate::domain::schedule::ScheduleKind as K;
    let s = &rx.schedule;
    let mut repeat = json!({"boundsPeriod": {"start": rx.start_date.to_string()}});
    if let Some(end) = rx.end_date {
        repeat["boundsPeriod"]["end"] = json!(end.to_string());
    }
    let times = rx.slots.len().max(1);
    if !rx.slots.is_empty() {
        repeat["when"] = json!(rx.slots.iter().map(|s| when(*s)).collect::<Vec<_>>());
    }
    let days: Vec<&str> = s.days.iter().flatten().map(|d| d.as_str()).collect();
    match s.kind {
        K::Daily | K::Stepped => {
            repeat["frequency"] = json!(times);
            repeat["period"] = json!(1);
            repeat["periodUnit"] = json!("d");
        }
        K::EveryNDays => {
            repeat["frequency"] = json!(times);
            repeat["period"] = json!(s.every_days.unwrap_or(1));
            repeat["periodUnit"] = json!("d");
        }
        K::Weekdays | K::Weekly => {
            repeat["frequency"] = json!(times * days.len().max(1));
            repeat["period"] = json!(1);
            repeat["periodUnit"] = json!("wk");
            repeat["dayOfWeek"] = json!(days);
        }
        K::Monthly => {
            repeat["frequency"] = json!(times);
            repeat["period"] = json!(1);
            repeat["periodUnit"] = json!("mo");
        }
        K::Once => {
            repeat["count"] = json!(1);
        }
        K::AsNeeded => {}
    }
    let text = match s.kind {
        K::Monthly => format!(
            "{} {} {} on day {} of each month",
            rx.dose,
            rx.dose_unit,
            rx.route,
            s.day_of_month.unwrap_or(1)
        ),
        K::AsNeeded => format!(
            "{} {} {} when required, up to {} in 24 hours{}",
            rx.dose,
            rx.dose_unit,
            rx.route,
            rx.max_doses_per_day.unwrap_or(1),
            s.min_interval_minutes
                .map(|m| format!(", at least {m} minutes apart"))
                .unwrap_or_default()
        ),
        _ => format!("{} {} {} ({})", rx.dose, rx.dose_unit, rx.route, s.kind),
    };
    let base = |dose: Quantity, repeat: Value, text: String| {
        let mut d = json!({
            "text": text,
            "timing": {"repeat": repeat},
            "asNeededBoolean": rx.as_needed,
            "route": {"text": rx.route.as_str()},
            "doseAndRate": [{"doseQuantity": quantity(dose, &rx.dose_unit)}]
        });
        if rx.as_needed {
            d.as_object_mut().map(|o| o.remove("timing"));
            d["maxDosePerPeriod"] = json!({
                "numerator": quantity(
                    Quantity::from_scaled(dose.scaled().saturating_mul(rx.max_doses_per_day.unwrap_or(1))),
                    &rx.dose_unit
                ),
                "denominator": {"value": 24, "unit": "hours", "system": UCUM, "code": "h"}
            });
        }
        d
    };
    match &s.steps {
        Some(steps) if s.kind == K::Stepped => steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let mut r = repeat.clone();
                r["boundsPeriod"] =
                    json!({"start": step.from.to_string(), "end": step.to.to_string()});
                let mut d = base(
                    step.dose,
                    r,
                    format!(
                        "{} {} {} from {} to {}",
                        step.dose, rx.dose_unit, rx.route, step.from, step.to
                    ),
                );
                d["sequence"] = json!(i + 1);
                d
            })
            .collect(),
        _ => vec![base(rx.dose, repeat, text)],
    }
}

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
    prescriber_id: &str,
) -> Result<Value, AppError> {
    Ok(json!({
        "resourceType": "MedicationRequest",
        "id": format!("rx-{}", rx.id),
        "status": rx.status.as_str(),
        "intent": "order",
        "medicationCodeableConcept": medication(conn, rx.product_id)?,
        "subject": {"reference": patient_ref},
        "authoredOn": instant(rx.created_at),
        "requester": {"reference": format!("Practitioner/{prescriber_id}"), "display": rx.prescriber},
        "dosageInstruction": dosage_instructions(rx)
    }))
}

fn administration(
    conn: &mut AnyConnection,
    d: &DoseView,
    product_id: i64,
    dose_unit: &str,
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
        "performer": [{"function": {"text": "performer"}, "actor": user_ref(d.nurse_id)}],
        "request": {"reference": format!("MedicationRequest/rx-{}", d.prescription_id)},
        "note": [{"text": format!("round {} {}; entered {}{}", d.date, d.slot, instant(d.recorded_at),
                                  if d.late_entry { " (late entry)" } else { "" })}]
    });
    if d.outcome != DoseOutcome::Given {
        let text = match &d.reason {
            Some(reason) => format!("{}: {reason}", d.outcome),
            None => d.outcome.to_string(),
        };
        r["statusReason"] = json!([{
            "coding": [{"system": OUTCOME_SYSTEM, "code": d.outcome.as_str()}],
            "text": text
        }]);
    }
    if let Some(q) = d.quantity {
        r["dosage"] = json!({"dose": quantity(q, dose_unit)});
        if let Some(site) = d.injection_site {
            r["dosage"]["site"] = json!({"text": site.as_str().replace('_', " ")});
        }
    }
    if let Some(w) = d.witness_id {
        if let Some(performers) = r["performer"].as_array_mut() {
            performers.push(json!({"function": {"text": "witness"}, "actor": user_ref(w)}));
        }
    }
    Ok(r)
}

/// An entry of the Bundle, with its `fullUrl`.
fn entry(resource: Value) -> Value {
    let url = format!(
        "{FHIR_BASE}/{}/{}",
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    );
    json!({"fullUrl": url, "resource": resource})
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
    let mut entries = vec![entry(json!({
        "resourceType": "Patient",
        "id": format!("p{}", patient.id),
        "identifier": [{"system": NOMIS_SYSTEM, "value": patient.prison_number}],
        "name": [{"family": patient.family_name, "given": [patient.given_name]}],
        "birthDate": patient.date_of_birth.to_string(),
    }))];
    let mut users = BTreeSet::new();
    // Each reasonable adjustment in force is a Flag on the patient, so a receiving service
    // sees it beside the medicines.
    for a in &patient.adjustments {
        users.insert(a.recorded_by);
        entries.push(entry(json!({
            "resourceType": "Flag",
            "id": format!("adjustment-{}", a.id),
            "status": "active",
            "category": [{"coding": [{"system": ADJUSTMENT_SYSTEM, "code": a.category.as_str(),
                "display": a.label}], "text": "Reasonable adjustment"}],
            "code": {"text": format!("{}: {}", a.label, a.text)},
            "subject": {"reference": patient_ref},
            "period": {"start": instant(a.recorded_at)},
            "author": user_ref(a.recorded_by),
        })));
    }
    let mut practitioners = std::collections::BTreeMap::new();
    let mut products = std::collections::HashMap::new();
    for id in &rx_ids {
        let rx = prescribing::prescription(conn, *id)?;
        products.insert(rx.id, (rx.product_id, rx.dose_unit.clone()));
        let (prescriber_id, resource) = prescriber(&rx.prescriber);
        practitioners.insert(prescriber_id.clone(), resource);
        entries.push(entry(request_resource(
            conn,
            &rx,
            &patient_ref,
            &prescriber_id,
        )?));
    }
    for d in &doses {
        let (product_id, unit) = products
            .get(&d.prescription_id)
            .cloned()
            .unwrap_or_default();
        users.insert(d.nurse_id);
        users.extend(d.witness_id);
        entries.push(entry(administration(
            conn,
            d,
            product_id,
            &unit,
            &patient_ref,
        )?));
    }
    for s in &supplies {
        let (product_id, _) = products
            .get(&s.prescription_id)
            .cloned()
            .unwrap_or_default();
        let unit = formulary::product(conn, product_id)?
            .map(|p| p.unit)
            .unwrap_or_default();
        users.insert(s.handed_over_by);
        entries.push(entry(json!({
            "resourceType": "MedicationDispense",
            "id": format!("supply-{}", s.id),
            "status": "completed",
            "medicationCodeableConcept": medication(conn, product_id)?,
            "subject": {"reference": patient_ref},
            "authorizingPrescription": [{"reference": format!("MedicationRequest/rx-{}", s.prescription_id)}],
            "quantity": quantity(s.quantity, &unit),
            "daysSupply": {"value": s.days, "unit": "day", "system": UCUM, "code": "d"},
            "whenHandedOver": instant(s.supplied_at),
            "performer": [{"actor": user_ref(s.handed_over_by)}],
            "note": [{"text": s.label_text}]
        })));
    }
    for id in users {
        if let Some(u) = crate::auth::accounts::by_id(conn, id)? {
            practitioners.insert(
                format!("u{id}"),
                json!({"resourceType": "Practitioner", "id": format!("u{id}"),
                       "identifier": [{"system": USER_SYSTEM, "value": u.username}],
                       "name": [{"text": u.display_name}]}),
            );
        }
    }
    entries.extend(practitioners.into_values().map(entry));
    Ok(json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": instant(now()),
        "entry": entries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_ucum_codes() {
        assert_eq!(ucum_code("mg"), "mg");
        assert_eq!(ucum_code("ml"), "mL");
        assert_eq!(ucum_code("microgram"), "ug");
        assert_eq!(ucum_code("tablet"), "{tablet}");
        assert_eq!(ucum_code("pre-filled syringe"), "{syringe}");
        assert_eq!(ucum_code("capsules"), "{capsule}");
    }

    #[test]
    fn a_prescriber_with_a_gmc_number_is_identified_by_it() {
        let (id, r) = prescriber("Dr A Khan GMC 7012345");
        assert_eq!(id, "gmc-7012345");
        assert_eq!(r["identifier"][0]["value"], "7012345");
        let (other, r) = prescriber("Nurse prescriber J Bloggs");
        assert!(other.starts_with("prescriber-"));
        assert!(r.get("identifier").is_none());
    }
}
