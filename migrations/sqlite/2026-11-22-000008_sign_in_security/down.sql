DROP INDEX audit_events_action;
DROP TABLE witness_redemptions;
DROP TABLE sign_in_throttle;
