//! The controlled drug register's hash chain: the canonical bytes of an entry, its hash, and
//! the check an inspector can repeat from an export without trusting the server.
//!
//! `hash = hex(SHA-256(canonical(entry) || prev_hash))`, where `prev_hash` is the previous
//! entry's hash on the same page (64 zeros for the first) as lowercase hex ASCII. The canonical
//! form starts with `cdreg-v2\n` (a cabinet page) or `cdreg-v1\n` (a site page kept from before
//! cabinets), then one line per field in the order below: `name=-` when empty, else
//! `name=<byte length>:<value>`. A cabinet page's heading (cabinet, drug, strength, form, unit
//! as at opening) is part of every entry, so a renamed product or an edited heading breaks the
//! chain. Quantities are integers in thousandths of the unit; times are UTC
//! `YYYY-MM-DDTHH:MM:SS.ffffff`.

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A cabinet page's heading as at its opening: what the page is a record of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeading<'a> {
    pub location_id: i64,
    pub drug: &'a str,
    pub strength: &'a str,
    pub form: &'a str,
    pub unit: &'a str,
}

/// Everything an entry says, in the form that is hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryContent<'a> {
    pub site_id: i64,
    pub product_id: i64,
    /// The cabinet page's heading; absent on a site page kept from before cabinets.
    pub page: Option<PageHeading<'a>>,
    pub seq: i64,
    pub entry_type: &'a str,
    pub movement_id: Option<i64>,
    pub occurred_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
    pub quantity: i64,
    pub balance_after: i64,
    pub location_id: Option<i64>,
    pub batch_id: Option<i64>,
    pub counterparty: Option<&'a str>,
    pub counterparty_address: Option<&'a str>,
    pub patient_identifier: Option<&'a str>,
    pub prescriber: Option<&'a str>,
    pub collected_by: Option<&'a str>,
    pub identity_checked: Option<bool>,
    pub author_id: i64,
    pub witness_id: Option<i64>,
    pub corrects_entry_id: Option<i64>,
    pub reason: Option<&'a str>,
}

fn field(out: &mut Vec<u8>, name: &str, value: Option<&[u8]>) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    match value {
        None => out.push(b'-'),
        Some(v) => {
            out.extend_from_slice(itoa::Buffer::new().format(v.len()).as_bytes());
            out.push(b':');
            out.extend_from_slice(v);
        }
    }
    out.push(b'\n');
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff`, written digit by digit.
pub fn time_bytes(t: NaiveDateTime) -> [u8; 26] {
    use chrono::{Datelike, Timelike};
    let mut b = *b"0000-00-00T00:00:00.000000";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, t.year().clamp(0, 9999) as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 6, t.nanosecond() / 1000 % 1_000_000);
    b
}

pub fn format_time(t: NaiveDateTime) -> String {
    String::from_utf8_lossy(&time_bytes(t)).into_owned()
}

fn num(out: &mut Vec<u8>, name: &str, v: i64) {
    field(out, name, Some(itoa::Buffer::new().format(v).as_bytes()))
}

fn opt(out: &mut Vec<u8>, name: &str, v: Option<i64>) {
    match v {
        Some(v) => num(out, name, v),
        None => field(out, name, None),
    }
}

fn text(out: &mut Vec<u8>, name: &str, v: Option<&str>) {
    field(out, name, v.map(str::as_bytes))
}

impl EntryContent<'_> {
    pub fn canonical(&self, out: &mut Vec<u8>) {
        self.canonical_head(out);
        self.canonical_rest(out);
    }

    /// The leading fields, which every entry of a page shares unless one was altered: the
    /// format, the prison, the product and the page heading.
    fn canonical_head(&self, out: &mut Vec<u8>) {
        match self.page {
            Some(_) => out.extend_from_slice(b"cdreg-v2\n"),
            None => out.extend_from_slice(b"cdreg-v1\n"),
        }
        num(out, "site_id", self.site_id);
        num(out, "product_id", self.product_id);
        if let Some(h) = self.page {
            num(out, "cabinet_id", h.location_id);
            text(out, "drug", Some(h.drug));
            text(out, "strength", Some(h.strength));
            text(out, "form", Some(h.form));
            text(out, "unit", Some(h.unit));
        }
    }

    fn canonical_rest(&self, out: &mut Vec<u8>) {
        num(out, "seq", self.seq);
        text(out, "entry_type", Some(self.entry_type));
        opt(out, "movement_id", self.movement_id);
        field(out, "occurred_at", Some(&time_bytes(self.occurred_at)));
        field(out, "recorded_at", Some(&time_bytes(self.recorded_at)));
        num(out, "quantity", self.quantity);
        num(out, "balance_after", self.balance_after);
        opt(out, "location_id", self.location_id);
        opt(out, "batch_id", self.batch_id);
        text(out, "counterparty", self.counterparty);
        text(out, "counterparty_address", self.counterparty_address);
        text(out, "patient_identifier", self.patient_identifier);
        text(out, "prescriber", self.prescriber);
        text(out, "collected_by", self.collected_by);
        text(
            out,
            "identity_checked",
            self.identity_checked
                .map(|b| if b { "true" } else { "false" }),
        );
        num(out, "author_id", self.author_id);
        opt(out, "witness_id", self.witness_id);
        opt(out, "corrects_entry_id", self.corrects_entry_id);
        text(out, "reason", self.reason);
    }

    /// The entry's hash as lowercase hex, written into `out`, resuming from `head` when this
    /// entry's leading fields are the bytes `head` has already hashed.
    fn hash_hex_after(
        &self,
        prev_hash: &str,
        head: &mut SharedHead,
        scratch: &mut Vec<u8>,
        out: &mut [u8; 64],
    ) {
        scratch.clear();
        self.canonical_head(scratch);
        if *scratch != head.bytes {
            head.bytes.clone_from(scratch);
            head.hasher = Sha256::new_with_prefix(&scratch[..]);
        }
        scratch.clear();
        self.canonical_rest(scratch);
        scratch.extend_from_slice(prev_hash.as_bytes());
        let mut hasher = head.hasher.clone();
        hasher.update(&scratch[..]);
        let _ = hex::encode_to_slice(hasher.finalize(), out);
    }

    /// The entry's hash, chained to the previous entry's.
    pub fn hash(&self, prev_hash: &str) -> String {
        let mut hex = [0u8; 64];
        let mut head = SharedHead::default();
        self.hash_hex_after(
            prev_hash,
            &mut head,
            &mut Vec::with_capacity(1024),
            &mut hex,
        );
        String::from_utf8_lossy(&hex).into_owned()
    }
}

/// How far a transaction's time may run ahead of the server's clock.
pub const CLOCK_SKEW_MINUTES: i64 = 5;

/// Checks when a transaction happened, as the register will store and hash it: a leap second
/// is refused (one backend would store the next second), sub-microsecond digits are dropped
/// (neither backend keeps them), and the time lies between `window_days` ago and a few minutes
/// ahead. Returns the value to store, or the rule broken and why.
pub fn bounded_occurred_at(
    t: NaiveDateTime,
    now: NaiveDateTime,
    window_days: i64,
) -> Result<NaiveDateTime, (&'static str, String)> {
    use chrono::{SubsecRound, Timelike};
    if t.nanosecond() >= 1_000_000_000 {
        return Err(("leap_second", "leap seconds are not accepted".into()));
    }
    let t = t.trunc_subsecs(6);
    if t > now + chrono::Duration::minutes(CLOCK_SKEW_MINUTES) {
        return Err(("not_future", "must not be in the future".into()));
    }
    if t < now - chrono::Duration::days(window_days) {
        return Err((
            "window",
            format!("must be within the last {window_days} days"),
        ));
    }
    Ok(t)
}

/// The first thing wrong with a page, as an inspector would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub entry_id: i64,
    pub seq: i64,
    pub problem: &'static str,
}

/// SHA-256 already run over the leading fields that a page's entries share, so that each
/// entry of a long page hashes only the rest.
#[derive(Debug, Clone, Default)]
struct SharedHead {
    bytes: Vec<u8>,
    hasher: Sha256,
}

/// Walks a page's entries in order, checking each against the one before.
#[derive(Debug, Clone)]
pub struct ChainWalker {
    next_seq: i64,
    prev_hash: String,
    balance: i64,
    pub count: i64,
    scratch: Vec<u8>,
    head: SharedHead,
}

impl Default for ChainWalker {
    fn default() -> Self {
        ChainWalker::after(0, GENESIS_HASH.to_string(), 0)
    }
}

impl ChainWalker {
    /// Starts after an entry already accepted (for a range that begins mid-page).
    pub fn after(seq: i64, hash: String, balance: i64) -> Self {
        ChainWalker {
            next_seq: seq + 1,
            prev_hash: hash,
            balance,
            count: 0,
            scratch: Vec::with_capacity(1024),
            head: SharedHead::default(),
        }
    }

    pub fn head_hash(&self) -> &str {
        &self.prev_hash
    }

    pub fn balance(&self) -> i64 {
        self.balance
    }

    pub fn last_seq(&self) -> i64 {
        self.next_seq - 1
    }

    /// Accepts the next entry, or names what is wrong with it.
    pub fn step(
        &mut self,
        entry_id: i64,
        content: &EntryContent<'_>,
        prev_hash: &str,
        hash: &str,
    ) -> Result<(), ChainBreak> {
        let broken = |problem| ChainBreak {
            entry_id,
            seq: content.seq,
            problem,
        };
        if content.seq != self.next_seq {
            return Err(broken("entry missing or out of sequence before this one"));
        }
        if prev_hash != self.prev_hash {
            return Err(broken("previous-hash link does not match the entry before"));
        }
        let mut computed = [0u8; 64];
        content.hash_hex_after(prev_hash, &mut self.head, &mut self.scratch, &mut computed);
        if computed[..] != *hash.as_bytes() {
            return Err(broken("content does not match its hash"));
        }
        if self.balance + content.quantity != content.balance_after {
            return Err(broken(
                "running balance does not follow from the entry before",
            ));
        }
        self.next_seq += 1;
        self.prev_hash.clear();
        self.prev_hash.push_str(hash);
        self.balance = content.balance_after;
        self.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    fn entry(seq: i64, quantity: i64, balance_after: i64) -> EntryContent<'static> {
        EntryContent {
            site_id: 1,
            product_id: 2,
            page: None,
            seq,
            entry_type: "receipt",
            movement_id: Some(10 + seq),
            occurred_at: at("2026-11-21 09:00:00.123456"),
            recorded_at: at("2026-11-21 09:00:01"),
            quantity,
            balance_after,
            location_id: Some(3),
            batch_id: Some(4),
            counterparty: Some("Alliance Healthcare"),
            counterparty_address: Some("Nottingham"),
            patient_identifier: None,
            prescriber: None,
            collected_by: None,
            identity_checked: None,
            author_id: 5,
            witness_id: None,
            corrects_entry_id: None,
            reason: None,
        }
    }

    #[test]
    fn canonical_form_is_fixed_and_unambiguous() {
        let mut out = Vec::new();
        entry(1, 500_000, 500_000).canonical(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("cdreg-v1\nsite_id=1:1\nproduct_id=1:2\nseq=1:1\n"));
        assert!(text.contains("occurred_at=26:2026-11-21T09:00:00.123456\n"));
        assert!(text.contains("recorded_at=26:2026-11-21T09:00:01.000000\n"));
        assert!(text.contains("counterparty=19:Alliance Healthcare\n"));
        assert!(text.contains("patient_identifier=-\n"));
        // An empty value and an absent one hash differently.
        let mut a = entry(1, 1, 1);
        a.reason = Some("");
        assert_ne!(a.hash(GENESIS_HASH), entry(1, 1, 1).hash(GENESIS_HASH));
        // Moving text between fields changes the hash.
        let mut b = entry(1, 1, 1);
        b.counterparty = Some("Alliance");
        b.counterparty_address = Some(" HealthcareNottingham");
        assert_ne!(b.hash(GENESIS_HASH), entry(1, 1, 1).hash(GENESIS_HASH));
    }

    #[test]
    fn a_cabinet_page_heading_is_part_of_every_entry() {
        let heading = PageHeading {
            location_id: 7,
            drug: "Methadone 1mg/ml oral solution",
            strength: "1mg/ml",
            form: "oral solution",
            unit: "ml",
        };
        let mut e = entry(1, 1, 1);
        e.page = Some(heading);
        let mut out = Vec::new();
        e.canonical(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(
            "cdreg-v2\nsite_id=1:1\nproduct_id=1:2\ncabinet_id=1:7\ndrug=30:Methadone 1mg/ml oral solution\nstrength=6:1mg/ml\n"
        ));
        let renamed = EntryContent {
            page: Some(PageHeading {
                drug: "Methadone (renamed)",
                ..heading
            }),
            ..e.clone()
        };
        assert_ne!(renamed.hash(GENESIS_HASH), e.hash(GENESIS_HASH));
        let other_cabinet = EntryContent {
            page: Some(PageHeading {
                location_id: 8,
                ..heading
            }),
            ..e.clone()
        };
        assert_ne!(other_cabinet.hash(GENESIS_HASH), e.hash(GENESIS_HASH));
        assert_ne!(entry(1, 1, 1).hash(GENESIS_HASH), e.hash(GENESIS_HASH));
    }

    #[test]
    fn transaction_times_are_bounded_and_kept_at_microseconds() {
        let now = at("2026-11-22 12:00:00");
        let leap = chrono::NaiveDate::from_ymd_opt(2026, 11, 21)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap();
        assert_eq!(
            bounded_occurred_at(leap, now, 7).unwrap_err().0,
            "leap_second"
        );
        assert_eq!(
            bounded_occurred_at(at("2026-11-22 12:06:00"), now, 7)
                .unwrap_err()
                .0,
            "not_future"
        );
        assert!(bounded_occurred_at(at("2026-11-22 12:04:59"), now, 7).is_ok());
        assert_eq!(
            bounded_occurred_at(at("2026-11-15 11:59:59"), now, 7)
                .unwrap_err()
                .0,
            "window"
        );
        assert_eq!(
            bounded_occurred_at(at("2026-11-22 09:00:00.123456789"), now, 7).unwrap(),
            at("2026-11-22 09:00:00.123456")
        );
    }

    #[test]
    fn hash_is_sha256_of_canonical_bytes_and_previous_hash() {
        let e = entry(1, 500_000, 500_000);
        let mut bytes = Vec::new();
        e.canonical(&mut bytes);
        bytes.extend_from_slice(GENESIS_HASH.as_bytes());
        assert_eq!(e.hash(GENESIS_HASH), hex::encode(Sha256::digest(&bytes)));
        assert_eq!(e.hash(GENESIS_HASH).len(), 64);
    }

    #[test]
    fn walker_accepts_a_good_chain_and_names_the_first_break() {
        let e1 = entry(1, 500_000, 500_000);
        let h1 = e1.hash(GENESIS_HASH);
        let e2 = entry(2, -60_000, 440_000);
        let h2 = e2.hash(&h1);
        let mut w = ChainWalker::default();
        w.step(1, &e1, GENESIS_HASH, &h1).unwrap();
        w.step(2, &e2, &h1, &h2).unwrap();
        assert_eq!(
            (w.count, w.balance(), w.head_hash()),
            (2, 440_000, h2.as_str())
        );

        // Altered content.
        let mut tampered = e2.clone();
        tampered.quantity = -50_000;
        tampered.balance_after = 450_000;
        let mut w = ChainWalker::default();
        w.step(1, &e1, GENESIS_HASH, &h1).unwrap();
        let err = w.step(2, &tampered, &h1, &h2).unwrap_err();
        assert_eq!(
            (err.entry_id, err.seq, err.problem),
            (2, 2, "content does not match its hash")
        );

        // A missing entry.
        let mut w = ChainWalker::default();
        let err = w.step(2, &e2, &h1, &h2).unwrap_err();
        assert_eq!(
            err.problem,
            "entry missing or out of sequence before this one"
        );

        // A re-hashed entry whose link no longer matches.
        let mut w = ChainWalker::default();
        w.step(1, &e1, GENESIS_HASH, &h1).unwrap();
        let forged_prev = "f".repeat(64);
        let forged = e2.hash(&forged_prev);
        let err = w.step(2, &e2, &forged_prev, &forged).unwrap_err();
        assert_eq!(
            err.problem,
            "previous-hash link does not match the entry before"
        );

        // A balance that does not follow.
        let e2_bad = entry(2, -60_000, 400_000);
        let h2_bad = e2_bad.hash(&h1);
        let mut w = ChainWalker::default();
        w.step(1, &e1, GENESIS_HASH, &h1).unwrap();
        let err = w.step(2, &e2_bad, &h1, &h2_bad).unwrap_err();
        assert_eq!(
            err.problem,
            "running balance does not follow from the entry before"
        );
    }

    #[test]
    fn a_walker_resumes_from_a_shared_head_only_while_it_is_the_same() {
        // The hash of the canonical bytes, computed here without the walker's shortcut.
        let plain = |e: &EntryContent<'_>, prev: &str| {
            let mut bytes = Vec::new();
            e.canonical(&mut bytes);
            bytes.extend_from_slice(prev.as_bytes());
            hex::encode(Sha256::digest(&bytes))
        };
        let e1 = entry(1, 500_000, 500_000);
        let h1 = plain(&e1, GENESIS_HASH);
        assert_eq!(e1.hash(GENESIS_HASH), h1);
        // An entry whose leading fields differ from the one before, then one that matches again.
        let mut e2 = entry(2, -10_000, 490_000);
        e2.site_id = 9;
        let h2 = plain(&e2, &h1);
        let e3 = entry(3, -10_000, 480_000);
        let h3 = plain(&e3, &h2);
        let mut w = ChainWalker::default();
        w.step(1, &e1, GENESIS_HASH, &h1).unwrap();
        w.step(2, &e2, &h1, &h2).unwrap();
        w.step(3, &e3, &h2, &h3).unwrap();
        // Stored under the first entry's head, the second would not verify.
        let mut as_if_unchanged = e2.clone();
        as_if_unchanged.site_id = 1;
        let mut w = ChainWalker::default();
        w.step(1, &e1, GENESIS_HASH, &h1).unwrap();
        assert_eq!(
            w.step(2, &as_if_unchanged, &h1, &h2).unwrap_err().problem,
            "content does not match its hash"
        );
    }
}
