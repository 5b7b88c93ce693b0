DROP TABLE cd_patient_return_destructions;
DROP TABLE cd_patient_returns;
DROP TABLE cd_check_resolutions;
DROP TABLE cd_balance_checks;
DROP TABLE cd_register_entries;
DROP TABLE cd_register_pages;
