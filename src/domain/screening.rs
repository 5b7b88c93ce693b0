//! The pharmacist's clinical screen of a new prescription: allergy, interaction, maximum daily
//! dose, duplicate therapy and possession checks, each producing findings with a severity.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Deserialize;

use super::stock::{CdSchedule, Possession};
use crate::text_enum;

text_enum!(Severity {
    Info => "info",
    Caution => "caution",
    Block => "block",
});

text_enum!(CheckKind {
    Allergy => "allergy",
    Interaction => "interaction",
    MaxDose => "max_dose",
    DuplicateTherapy => "duplicate_therapy",
    Possession => "possession",
    Frequency => "frequency",
});

text_enum!(AllergyKind {
    Allergy => "allergy",
    Intolerance => "intolerance",
});

text_enum!(IpOutcome {
    InPossession => "in_possession",
    NamedProductsOnly => "named_products_only",
    SupervisedOnly => "supervised_only",
});

/// What screening needs to know of a medicine.
#[derive(Debug, Clone)]
pub struct DrugFacts {
    pub product_id: i64,
    pub name: String,
    pub ingredient: String,
    pub therapeutic_class: String,
    pub dose_unit: String,
    /// Maximum daily dose in `dose_unit`, scaled by 1000.
    pub max_daily_dose: Option<i64>,
    pub cd_schedule: CdSchedule,
    pub opioid_substitution: bool,
    pub medicine_of_concern: bool,
    /// Taken once a week at most (methotrexate, or as the formulary flags).
    pub weekly_only: bool,
}

impl DrugFacts {
    /// Not to be held in possession without a pharmacist's justified override.
    pub fn possession_restricted(&self) -> Option<&'static str> {
        if self.cd_schedule == CdSchedule::S2 {
            Some("a schedule 2 controlled drug")
        } else if self.opioid_substitution {
            Some("opioid substitution therapy")
        } else if self.medicine_of_concern {
            Some("a medicine of concern (tradable in custody)")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct PatientAllergy {
    pub substance: String,
    pub kind: AllergyKind,
    pub reaction: String,
}

#[derive(Debug, Clone)]
pub struct OtherMedicine {
    pub prescription_id: i64,
    pub drug: DrugFacts,
}

#[derive(Debug, Clone)]
pub struct Assessment {
    pub outcome: IpOutcome,
    pub product_ids: Vec<i64>,
    pub review_date: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct Proposed {
    pub drug: DrugFacts,
    /// Total per day in the drug's dose unit, scaled by 1000.
    pub daily_dose: i64,
    pub possession: Possession,
    /// The schedule brings doses at most once a week.
    pub at_most_weekly: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InteractionPair {
    pub a: String,
    pub b: String,
    pub severity: Severity,
    pub effect: String,
    pub source: String,
}

/// The reference table shipped in `fixtures/interactions.json`: named groups of ingredients
/// and the pairs (of groups or ingredients) that interact, each with its source.
#[derive(Debug, Clone, Deserialize)]
pub struct InteractionTable {
    pub groups: HashMap<String, Vec<String>>,
    pub pairs: Vec<InteractionPair>,
}

impl InteractionTable {
    pub fn shipped() -> InteractionTable {
        serde_json::from_str(include_str!("../../fixtures/interactions.json"))
            .expect("fixtures/interactions.json is valid")
    }

    fn covers(&self, key: &str, ingredient: &str) -> bool {
        match self.groups.get(key) {
            Some(members) => members.iter().any(|m| m.eq_ignore_ascii_case(ingredient)),
            None => key.eq_ignore_ascii_case(ingredient),
        }
    }

    /// Pairs that apply to two ingredients, in either order.
    pub fn between(&self, x: &str, y: &str) -> Vec<&InteractionPair> {
        self.pairs
            .iter()
            .filter(|p| {
                (self.covers(&p.a, x) && self.covers(&p.b, y))
                    || (self.covers(&p.a, y) && self.covers(&p.b, x))
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: CheckKind,
    pub severity: Severity,
    pub message: String,
    pub source: Option<String>,
    pub related_prescription_id: Option<i64>,
}

fn finding(check: CheckKind, severity: Severity, message: String) -> Finding {
    Finding {
        check,
        severity,
        message,
        source: None,
        related_prescription_id: None,
    }
}

fn normalise(s: &str) -> String {
    let s = s.trim().to_lowercase();
    s.strip_suffix('s').map(str::to_string).unwrap_or(s)
}

/// An allergy to a substance matches a medicine containing it or of its class.
fn allergy_matches(substance: &str, drug: &DrugFacts) -> bool {
    let s = normalise(substance);
    if s.len() < 3 {
        return false;
    }
    let ingredient = drug.ingredient.to_lowercase();
    let class = drug.therapeutic_class.to_lowercase();
    ingredient == s
        || ingredient.contains(&s)
        || class.split([' ', '(', ')']).any(|w| normalise(w) == s)
}

/// Methadone above this many mg a day needs ECG monitoring (DH clinical guidelines 2017).
const METHADONE_ECG_MG: i64 = 100_000;

pub fn screen(
    p: &Proposed,
    allergies: &[PatientAllergy],
    others: &[OtherMedicine],
    assessment: Option<&Assessment>,
    table: &InteractionTable,
    today: NaiveDate,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let drug = &p.drug;
    for a in allergies {
        if allergy_matches(&a.substance, drug) {
            let severity = match a.kind {
                AllergyKind::Allergy => Severity::Block,
                AllergyKind::Intolerance => Severity::Caution,
            };
            out.push(finding(
                CheckKind::Allergy,
                severity,
                format!(
                    "recorded {} to {} ({}) matches {}",
                    a.kind, a.substance, a.reaction, drug.name
                ),
            ));
        }
    }
    for other in others {
        for pair in table.between(&drug.ingredient, &other.drug.ingredient) {
            out.push(Finding {
                check: CheckKind::Interaction,
                severity: pair.severity,
                message: format!("{} with {}: {}", drug.name, other.drug.name, pair.effect),
                source: Some(pair.source.clone()),
                related_prescription_id: Some(other.prescription_id),
            });
        }
        if other
            .drug
            .therapeutic_class
            .eq_ignore_ascii_case(&drug.therapeutic_class)
        {
            out.push(Finding {
                check: CheckKind::DuplicateTherapy,
                severity: Severity::Caution,
                message: format!(
                    "{} is already prescribed: both are {}",
                    other.drug.name, drug.therapeutic_class
                ),
                source: None,
                related_prescription_id: Some(other.prescription_id),
            });
        }
    }
    if let Some(max) = drug.max_daily_dose {
        if p.daily_dose > max {
            out.push(finding(
                CheckKind::MaxDose,
                Severity::Block,
                format!(
                    "{} {} a day exceeds the maximum daily dose of {} {}",
                    super::Quantity::from_scaled(p.daily_dose),
                    drug.dose_unit,
                    super::Quantity::from_scaled(max),
                    drug.dose_unit
                ),
            ));
        }
    }
    if drug.weekly_only && !p.at_most_weekly {
        out.push(Finding {
            check: CheckKind::Frequency,
            severity: Severity::Block,
            message: format!(
                "{} is taken once a week on a named day; taken daily it has caused fatal \
                 overdoses. Prescribe it weekly (one day, one time)",
                drug.name
            ),
            source: Some("NPSA Patient Safety Alert 03, oral methotrexate".into()),
            related_prescription_id: None,
        });
    }
    if drug.ingredient.eq_ignore_ascii_case("methadone")
        && drug.dose_unit.eq_ignore_ascii_case("mg")
        && p.daily_dose > METHADONE_ECG_MG
    {
        out.push(finding(
            CheckKind::MaxDose,
            Severity::Caution,
            "methadone over 100 mg a day: ECG monitoring is needed".into(),
        ));
    }
    if p.possession == Possession::InPossession {
        if let Some(why) = drug.possession_restricted() {
            out.push(finding(
                CheckKind::Possession,
                Severity::Block,
                format!(
                    "{} is {why}: supervised only unless a pharmacist records a justified override",
                    drug.name
                ),
            ));
        }
        match assessment {
            None => out.push(finding(
                CheckKind::Possession,
                Severity::Block,
                "no in-possession risk assessment is recorded for this patient".into(),
            )),
            Some(a) => {
                match a.outcome {
                    IpOutcome::SupervisedOnly => out.push(finding(
                        CheckKind::Possession,
                        Severity::Block,
                        "the patient's risk assessment allows supervised medicines only".into(),
                    )),
                    IpOutcome::NamedProductsOnly if !a.product_ids.contains(&drug.product_id) => {
                        out.push(finding(
                            CheckKind::Possession,
                            Severity::Block,
                            format!(
                                "the patient's risk assessment does not name {} for possession",
                                drug.name
                            ),
                        ))
                    }
                    _ => {}
                }
                if a.review_date < today {
                    out.push(finding(
                        CheckKind::Possession,
                        Severity::Caution,
                        format!(
                            "the in-possession risk assessment was due for review on {}",
                            a.review_date
                        ),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drug(id: i64, name: &str, ingredient: &str, class: &str) -> DrugFacts {
        DrugFacts {
            product_id: id,
            name: name.into(),
            ingredient: ingredient.into(),
            therapeutic_class: class.into(),
            dose_unit: "mg".into(),
            max_daily_dose: None,
            cd_schedule: CdSchedule::None,
            opioid_substitution: false,
            medicine_of_concern: false,
            weekly_only: false,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
    }

    fn proposed(d: DrugFacts, daily_mg: i64, possession: Possession) -> Proposed {
        Proposed {
            drug: d,
            daily_dose: daily_mg * 1000,
            possession,
            at_most_weekly: false,
        }
    }

    fn checks(f: &[Finding]) -> Vec<(CheckKind, Severity)> {
        f.iter().map(|f| (f.check, f.severity)).collect()
    }

    #[test]
    fn a_weekly_only_medicine_prescribed_more_often_is_blocked() {
        let table = InteractionTable::shipped();
        let mut methotrexate = drug(
            9,
            "Methotrexate 2.5mg tablets",
            "methotrexate",
            "antimetabolite",
        );
        methotrexate.weekly_only = true;
        let daily = proposed(methotrexate.clone(), 10, Possession::Supervised);
        let f = screen(&daily, &[], &[], None, &table, today());
        assert_eq!(checks(&f), vec![(CheckKind::Frequency, Severity::Block)]);
        let mut weekly = proposed(methotrexate, 10, Possession::Supervised);
        weekly.at_most_weekly = true;
        assert!(screen(&weekly, &[], &[], None, &table, today()).is_empty());
    }

    #[test]
    fn allergy_fires_on_ingredient_or_class_and_not_on_a_near_miss() {
        let table = InteractionTable::shipped();
        let penicillin = [PatientAllergy {
            substance: "Penicillins".into(),
            kind: AllergyKind::Allergy,
            reaction: "anaphylaxis".into(),
        }];
        let amoxicillin = proposed(
            drug(
                1,
                "Amoxicillin 500mg capsules",
                "amoxicillin",
                "penicillin antibiotic",
            ),
            1500,
            Possession::Supervised,
        );
        let f = screen(&amoxicillin, &penicillin, &[], None, &table, today());
        assert_eq!(checks(&f), [(CheckKind::Allergy, Severity::Block)]);
        let clarithromycin = proposed(
            drug(
                2,
                "Clarithromycin 500mg tablets",
                "clarithromycin",
                "macrolide antibiotic",
            ),
            1000,
            Possession::Supervised,
        );
        assert!(screen(&clarithromycin, &penicillin, &[], None, &table, today()).is_empty());
    }

    #[test]
    fn pregabalin_with_methadone_is_respiratory_depression_and_sertraline_is_not() {
        let table = InteractionTable::shipped();
        let methadone = OtherMedicine {
            prescription_id: 7,
            drug: drug(1, "Methadone", "methadone", "opioid substitution"),
        };
        let pregabalin = proposed(
            drug(2, "Pregabalin 75mg capsules", "pregabalin", "gabapentinoid"),
            150,
            Possession::Supervised,
        );
        let f = screen(
            &pregabalin,
            &[],
            std::slice::from_ref(&methadone),
            None,
            &table,
            today(),
        );
        assert_eq!(checks(&f), [(CheckKind::Interaction, Severity::Caution)]);
        assert!(f[0].message.contains("Respiratory depression"));
        assert!(f[0].source.as_deref().unwrap().contains("MHRA"));
        assert_eq!(f[0].related_prescription_id, Some(7));
        let sertraline = proposed(
            drug(
                3,
                "Sertraline 50mg tablets",
                "sertraline",
                "antidepressant (SSRI)",
            ),
            50,
            Possession::Supervised,
        );
        assert!(screen(&sertraline, &[], &[methadone], None, &table, today()).is_empty());
    }

    #[test]
    fn maximum_daily_dose_fires_above_and_not_at_the_limit() {
        let table = InteractionTable::shipped();
        let mut d = drug(
            1,
            "Paracetamol 500mg tablets",
            "paracetamol",
            "non-opioid analgesic",
        );
        d.max_daily_dose = Some(4_000_000);
        let at_limit = screen(
            &proposed(d.clone(), 4000, Possession::Supervised),
            &[],
            &[],
            None,
            &table,
            today(),
        );
        assert!(at_limit.is_empty());
        let over = screen(
            &proposed(d, 4500, Possession::Supervised),
            &[],
            &[],
            None,
            &table,
            today(),
        );
        assert_eq!(checks(&over), [(CheckKind::MaxDose, Severity::Block)]);
        assert_eq!(
            over[0].message,
            "4500 mg a day exceeds the maximum daily dose of 4000 mg"
        );
    }

    #[test]
    fn duplicate_class_fires_and_a_different_class_does_not() {
        let table = InteractionTable::shipped();
        let other = OtherMedicine {
            prescription_id: 3,
            drug: drug(
                1,
                "Omeprazole 20mg capsules",
                "omeprazole",
                "proton pump inhibitor",
            ),
        };
        let lansoprazole = proposed(
            drug(
                2,
                "Lansoprazole 30mg capsules",
                "lansoprazole",
                "proton pump inhibitor",
            ),
            30,
            Possession::Supervised,
        );
        let f = screen(
            &lansoprazole,
            &[],
            std::slice::from_ref(&other),
            None,
            &table,
            today(),
        );
        assert_eq!(
            checks(&f),
            [(CheckKind::DuplicateTherapy, Severity::Caution)]
        );
        let atorvastatin = proposed(
            drug(4, "Atorvastatin 20mg tablets", "atorvastatin", "statin"),
            20,
            Possession::Supervised,
        );
        assert!(screen(&atorvastatin, &[], &[other], None, &table, today()).is_empty());
    }

    #[test]
    fn possession_follows_the_product_and_the_assessment() {
        let table = InteractionTable::shipped();
        let mut methadone = drug(1, "Methadone", "methadone", "opioid substitution");
        methadone.cd_schedule = CdSchedule::S2;
        methadone.opioid_substitution = true;
        let allowed = Assessment {
            outcome: IpOutcome::InPossession,
            product_ids: vec![],
            review_date: NaiveDate::from_ymd_opt(2027, 5, 1).unwrap(),
        };
        let ip = screen(
            &proposed(methadone.clone(), 60, Possession::InPossession),
            &[],
            &[],
            Some(&allowed),
            &table,
            today(),
        );
        assert_eq!(checks(&ip), [(CheckKind::Possession, Severity::Block)]);
        // The near miss: supervised methadone is fine.
        assert!(screen(
            &proposed(methadone, 60, Possession::Supervised),
            &[],
            &[],
            Some(&allowed),
            &table,
            today()
        )
        .is_empty());

        let sertraline = drug(2, "Sertraline", "sertraline", "antidepressant (SSRI)");
        assert!(screen(
            &proposed(sertraline.clone(), 50, Possession::InPossession),
            &[],
            &[],
            Some(&allowed),
            &table,
            today()
        )
        .is_empty());
        let none = screen(
            &proposed(sertraline.clone(), 50, Possession::InPossession),
            &[],
            &[],
            None,
            &table,
            today(),
        );
        assert_eq!(checks(&none), [(CheckKind::Possession, Severity::Block)]);
        let named = Assessment {
            outcome: IpOutcome::NamedProductsOnly,
            product_ids: vec![99],
            review_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        };
        let f = screen(
            &proposed(sertraline, 50, Possession::InPossession),
            &[],
            &[],
            Some(&named),
            &table,
            today(),
        );
        assert_eq!(
            checks(&f),
            [
                (CheckKind::Possession, Severity::Block),
                (CheckKind::Possession, Severity::Caution)
            ]
        );
    }

    #[test]
    fn methadone_over_100mg_needs_an_ecg() {
        let table = InteractionTable::shipped();
        let mut methadone = drug(1, "Methadone", "methadone", "opioid substitution");
        methadone.max_daily_dose = Some(120_000);
        assert!(screen(
            &proposed(methadone.clone(), 100, Possession::Supervised),
            &[],
            &[],
            None,
            &table,
            today()
        )
        .is_empty());
        let f = screen(
            &proposed(methadone, 110, Possession::Supervised),
            &[],
            &[],
            None,
            &table,
            today(),
        );
        assert_eq!(checks(&f), [(CheckKind::MaxDose, Severity::Caution)]);
    }
}
