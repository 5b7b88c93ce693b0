-- A register entry is accepted only as the next link of its page's chain, and the page's head
-- (count, balance, hash) moves with it inside the same statement: appending costs no round
-- trip of its own, and nothing can append out of order or to a closed page.
CREATE FUNCTION cd_register_advance_page() RETURNS trigger AS $$
BEGIN
    UPDATE cd_register_pages
       SET entry_count = NEW.seq,
           balance = NEW.balance_after,
           head_hash = NEW.hash,
           last_entry_at = NEW.recorded_at
     WHERE id = NEW.page_id
       AND entry_count = NEW.seq - 1
       AND head_hash = NEW.prev_hash
       AND closed_at IS NULL;
    IF NOT FOUND THEN
        -- A transaction that read the head before another appended is started again.
        RAISE EXCEPTION 'register entry % of page % does not follow the page head', NEW.seq, NEW.page_id
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER cd_register_entries_advance_page AFTER INSERT ON cd_register_entries
    FOR EACH ROW EXECUTE FUNCTION cd_register_advance_page();
