DROP INDEX alerts_patient;
