use crate::text_enum;

text_enum!(Role {
    Pharmacist => "pharmacist",
    PharmacyTechnician => "pharmacy_technician",
    Nurse => "nurse",
    Auditor => "auditor",
    Admin => "admin",
});
