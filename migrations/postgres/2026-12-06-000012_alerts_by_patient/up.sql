-- The round list counts each patient's open alerts; without this it reads every alert of
-- every prison for each list.
CREATE INDEX alerts_patient ON alerts (patient_id);
