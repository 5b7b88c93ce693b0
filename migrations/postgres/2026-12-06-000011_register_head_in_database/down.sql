DROP TRIGGER cd_register_entries_advance_page ON cd_register_entries;
DROP FUNCTION cd_register_advance_page();
