DROP TABLE audit_events;
DROP FUNCTION reject_append_only_change();
DROP TABLE user_sites;
DROP TABLE users;
DROP TABLE locations;
DROP TABLE sites;
