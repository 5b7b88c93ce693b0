-- A register entry is accepted only as the next link of its page's chain, and the page's head
-- (count, balance, hash) moves with it inside the same statement: appending costs no statement
-- of its own, and nothing can append out of order or to a closed page.
CREATE TRIGGER cd_register_entries_advance_page AFTER INSERT ON cd_register_entries
BEGIN
    SELECT RAISE(ABORT, 'register entry does not follow the page head')
     WHERE NOT EXISTS (
        SELECT 1 FROM cd_register_pages
         WHERE id = NEW.page_id
           AND entry_count = NEW.seq - 1
           AND head_hash = NEW.prev_hash
           AND closed_at IS NULL);
    UPDATE cd_register_pages
       SET entry_count = NEW.seq,
           balance = NEW.balance_after,
           head_hash = NEW.hash,
           last_entry_at = NEW.recorded_at
     WHERE id = NEW.page_id;
END;
