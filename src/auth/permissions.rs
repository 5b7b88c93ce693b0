//! Who may do what: one table of role x action. Anything not listed is denied.

use crate::domain::Role;
use crate::text_enum;

text_enum!(Action {
    SiteRead => "site.read",
    SiteManage => "site.manage",
    LocationManage => "location.manage",
    UserRead => "user.read",
    UserManage => "user.manage",
    AuditRead => "audit.read",
    FormularyRead => "formulary.read",
    FormularyManage => "formulary.manage",
    BatchCreate => "batch.create",
    BatchRecall => "batch.recall",
    StockRead => "stock.read",
    StockAdjust => "stock.adjust",
    TransferDispatch => "transfer.dispatch",
    TransferReceive => "transfer.receive",
    StocktakeCount => "stocktake.count",
    StocktakeApprove => "stocktake.approve",
    ReorderManage => "reorder.manage",
    CdRead => "cd.read",
    CdExportRead => "cd.export.read",
    CdWitness => "cd.witness",
    CdDestroy => "cd.destroy",
    CdBalanceCheck => "cd.balance_check",
    CdInvestigationResolve => "cd.investigation.resolve",
    CdCorrect => "cd.correct",
    CdPatientReturn => "cd.patient_return",
    CdCabinetTransfer => "cd.cabinet_transfer",
    CdCheckpointSign => "cd.checkpoint.sign",
    SupplierRead => "supplier.read",
    SupplierManage => "supplier.manage",
    OrderRead => "purchase_order.read",
    OrderCreate => "purchase_order.create",
    OrderApprove => "purchase_order.approve",
    OrderSend => "purchase_order.send",
    OrderCancel => "purchase_order.cancel",
    GoodsReceive => "goods.receive",
    OverReceiptAccept => "goods.over_receipt",
    InvoiceRecord => "invoice.record",
    SpendRead => "spend.read",
    PatientRead => "patient.read",
    PatientManage => "patient.manage",
    AllergyRecord => "allergy.record",
    PatientTransfer => "patient.transfer",
    IpAssess => "ip_assessment.record",
    ReconciliationComplete => "reconciliation.complete",
    PrescriptionRead => "prescription.read",
    PrescriptionCreate => "prescription.create",
    PrescriptionChange => "prescription.change",
    ScreeningRead => "screening.read",
    ScreeningDecide => "screening.decide",
    RoundRead => "round.read",
    DoseRecord => "dose.record",
    DoseCorrect => "dose.correct",
    IpSupply => "ip_supply.record",
    ComplianceRecord => "compliance.record",
    AlertRead => "alert.read",
    AlertAcknowledge => "alert.acknowledge",
    FhirRead => "fhir.read",
    EmergencyKitRead => "emergency_kit.read",
    EmergencyKitManage => "emergency_kit.manage",
    EmergencyKitCheck => "emergency_kit.check",
    EmergencyKitOpen => "emergency_kit.open",
    EmergencyKitRestock => "emergency_kit.restock",
    OutbreakRead => "outbreak.read",
    OutbreakManage => "outbreak.manage",
    VaccinationRecord => "vaccination.record",
    BatchRecipientsRead => "batch_recipients.read",
    BudgetRead => "budget.read",
    BudgetManage => "budget.manage",
    AdjustmentRecord => "adjustment.record",
});

use Role::{Admin, Auditor, Nurse, Pharmacist, PharmacyTechnician};

/// The permission table. Nurses change stock only by recording doses and supplies, so they
/// hold no stock-changing action here; auditors read and never write.
pub const PERMISSIONS: &[(Action, &[Role])] = &[
    (
        Action::SiteRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor, Admin],
    ),
    (Action::SiteManage, &[Admin]),
    (Action::LocationManage, &[Admin]),
    (Action::UserRead, &[Admin]),
    (Action::UserManage, &[Admin]),
    (Action::AuditRead, &[Auditor, Admin]),
    (
        Action::FormularyRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor, Admin],
    ),
    (Action::FormularyManage, &[Pharmacist, Admin]),
    (Action::BatchCreate, &[Pharmacist, PharmacyTechnician]),
    (Action::BatchRecall, &[Pharmacist]),
    (
        Action::StockRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor],
    ),
    (Action::StockAdjust, &[Pharmacist, PharmacyTechnician]),
    (Action::TransferDispatch, &[Pharmacist, PharmacyTechnician]),
    (Action::TransferReceive, &[Pharmacist, PharmacyTechnician]),
    (Action::StocktakeCount, &[Pharmacist, PharmacyTechnician]),
    (Action::StocktakeApprove, &[Pharmacist]),
    (Action::ReorderManage, &[Pharmacist, PharmacyTechnician]),
    (
        Action::CdRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor],
    ),
    (Action::CdExportRead, &[Pharmacist, Auditor]),
    (Action::CdWitness, &[Pharmacist, PharmacyTechnician, Nurse]),
    (Action::CdDestroy, &[Pharmacist, PharmacyTechnician]),
    (
        Action::CdBalanceCheck,
        &[Pharmacist, PharmacyTechnician, Nurse],
    ),
    (Action::CdInvestigationResolve, &[Pharmacist]),
    (Action::CdCorrect, &[Pharmacist]),
    (Action::CdCabinetTransfer, &[Pharmacist, PharmacyTechnician]),
    (Action::CdCheckpointSign, &[Pharmacist]),
    (
        Action::CdPatientReturn,
        &[Pharmacist, PharmacyTechnician, Nurse],
    ),
    (
        Action::SupplierRead,
        &[Pharmacist, PharmacyTechnician, Auditor, Admin],
    ),
    (Action::SupplierManage, &[Pharmacist, PharmacyTechnician]),
    (
        Action::OrderRead,
        &[Pharmacist, PharmacyTechnician, Auditor],
    ),
    (Action::OrderCreate, &[Pharmacist, PharmacyTechnician]),
    (Action::OrderApprove, &[Pharmacist]),
    (Action::OrderSend, &[Pharmacist, PharmacyTechnician]),
    (Action::OrderCancel, &[Pharmacist, PharmacyTechnician]),
    (Action::GoodsReceive, &[Pharmacist, PharmacyTechnician]),
    (Action::OverReceiptAccept, &[Pharmacist]),
    (Action::InvoiceRecord, &[Pharmacist, PharmacyTechnician]),
    (
        Action::SpendRead,
        &[Pharmacist, PharmacyTechnician, Auditor],
    ),
    (
        Action::PatientRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor],
    ),
    (
        Action::PatientManage,
        &[Pharmacist, PharmacyTechnician, Nurse],
    ),
    (Action::AllergyRecord, &[Pharmacist, Nurse]),
    (Action::PatientTransfer, &[Pharmacist, Nurse]),
    (Action::IpAssess, &[Pharmacist, Nurse]),
    (
        Action::ReconciliationComplete,
        &[Pharmacist, PharmacyTechnician],
    ),
    (
        Action::PrescriptionRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor],
    ),
    (
        Action::PrescriptionCreate,
        &[Pharmacist, PharmacyTechnician],
    ),
    (Action::PrescriptionChange, &[Pharmacist]),
    (
        Action::ScreeningRead,
        &[Pharmacist, PharmacyTechnician, Auditor],
    ),
    (Action::ScreeningDecide, &[Pharmacist]),
    (
        Action::RoundRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor],
    ),
    (Action::DoseRecord, &[Pharmacist, Nurse]),
    (Action::DoseCorrect, &[Pharmacist, Nurse]),
    (Action::IpSupply, &[Pharmacist, PharmacyTechnician, Nurse]),
    (Action::ComplianceRecord, &[Pharmacist, Nurse]),
    (Action::AlertRead, &[Pharmacist, Nurse, Auditor]),
    (Action::AlertAcknowledge, &[Pharmacist, Nurse]),
    (Action::FhirRead, &[Pharmacist, Nurse, Auditor]),
    (
        Action::EmergencyKitRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor],
    ),
    (
        Action::EmergencyKitManage,
        &[Pharmacist, PharmacyTechnician],
    ),
    (
        Action::EmergencyKitCheck,
        &[Pharmacist, PharmacyTechnician, Nurse],
    ),
    // Opening a kit records medicines given in an emergency, as a dose is recorded.
    (Action::EmergencyKitOpen, &[Pharmacist, Nurse]),
    (
        Action::EmergencyKitRestock,
        &[Pharmacist, PharmacyTechnician],
    ),
    (
        Action::OutbreakRead,
        &[Pharmacist, PharmacyTechnician, Nurse, Auditor],
    ),
    (Action::OutbreakManage, &[Pharmacist, Nurse]),
    (Action::VaccinationRecord, &[Pharmacist, Nurse]),
    (
        Action::BatchRecipientsRead,
        &[Pharmacist, PharmacyTechnician, Auditor],
    ),
    (
        Action::BudgetRead,
        &[Pharmacist, PharmacyTechnician, Auditor, Admin],
    ),
    (Action::BudgetManage, &[Pharmacist, Admin]),
    (Action::AdjustmentRecord, &[Pharmacist, Nurse]),
];

pub fn allowed(role: Role, action: Action) -> bool {
    PERMISSIONS
        .iter()
        .any(|(a, roles)| *a == action && roles.contains(&role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_rule() {
        for action in Action::ALL {
            assert!(
                PERMISSIONS.iter().any(|(a, _)| a == action),
                "no rule for {action}"
            );
        }
    }

    #[test]
    fn auditors_only_read() {
        for (action, roles) in PERMISSIONS {
            if roles.contains(&Auditor) {
                assert!(action.as_str().ends_with(".read"), "auditor may {action}");
            }
        }
    }

    #[test]
    fn technicians_cannot_approve_stocktakes_and_nurses_cannot_adjust() {
        assert!(!allowed(PharmacyTechnician, Action::StocktakeApprove));
        assert!(allowed(Pharmacist, Action::StocktakeApprove));
        assert!(!allowed(Nurse, Action::StockAdjust));
        assert!(!allowed(Admin, Action::StockAdjust));
    }
}
