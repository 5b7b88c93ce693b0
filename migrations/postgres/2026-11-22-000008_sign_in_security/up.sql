-- Sign-in and witness throttling kept in the database, so every instance shares one count.
-- Keys: 'client:<address>' (failed sign-ins from an address), 'account:<user id>' (failed
-- sign-ins of an account, from anywhere), 'witness-by:<user id>' (failed witness attempts of
-- the person submitting them). Rows expire; an unknown username never gets a row of its own.
CREATE TABLE sign_in_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_throttle_updated ON sign_in_throttle (updated_at);
-- Working state: the service counts, resets and expires it.
GRANT UPDATE, DELETE ON sign_in_throttle TO pharmacy_app;

-- Each witness assertion is redeemed once: its id is the key.
CREATE TABLE witness_redemptions (
    assertion_id TEXT PRIMARY KEY NOT NULL,
    witness_id BIGINT NOT NULL REFERENCES users(id),
    site_id BIGINT NOT NULL REFERENCES sites(id),
    act TEXT NOT NULL,
    redeemed_by BIGINT NOT NULL REFERENCES users(id),
    redeemed_at TIMESTAMP NOT NULL
);
CREATE TRIGGER witness_redemptions_append_only BEFORE UPDATE OR DELETE ON witness_redemptions
    FOR EACH ROW EXECUTE FUNCTION reject_append_only_change();

-- Usernames are kept as they are compared: trimmed and case-folded.
UPDATE users SET username = lower(trim(username)) WHERE username <> lower(trim(username));

CREATE INDEX audit_events_action ON audit_events (action, id);
