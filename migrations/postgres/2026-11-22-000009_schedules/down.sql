DROP TABLE naloxone_offers;
ALTER TABLE dose_records DROP COLUMN injection_site;
ALTER TABLE products DROP COLUMN weekly_only;
DROP TABLE prescription_steps;
ALTER TABLE prescriptions DROP COLUMN min_interval_minutes;
ALTER TABLE prescriptions DROP COLUMN day_of_month;
ALTER TABLE prescriptions DROP COLUMN weekdays;
ALTER TABLE prescriptions DROP COLUMN every_days;
ALTER TABLE prescriptions DROP COLUMN schedule;
