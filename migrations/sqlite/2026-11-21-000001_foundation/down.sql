DROP TABLE audit_events;
DROP TABLE user_sites;
DROP TABLE users;
DROP TABLE locations;
DROP TABLE sites;
