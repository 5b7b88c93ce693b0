//! Signed checkpoints: the service signs each page's (page, entry count, balance, head hash,
//! time) with an Ed25519 key held outside the database. Someone who can rewrite the database
//! can recompute every hash, but not these signatures, so a rewrite or truncation below a
//! checkpoint an auditor keeps is found.

use std::path::Path;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::Page;
use super::queries;
use crate::config::Config;
use crate::db::schema::cd_checkpoints;
use crate::db::{now, AnyConnection};
use crate::domain::register::format_time;
use crate::domain::Quantity;
use crate::error::AppError;
use crate::text_enum;

/// The signing key, loaded once at start from outside the database.
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// `CD_SIGNING_KEY` (64 hex digits), else the file `CD_SIGNING_KEY_FILE` names, else
    /// `cd-signing.key` beside a SQLite database (or under `data/`), created on first start.
    pub fn from_config(config: &Config) -> Result<Signer, AppError> {
        if let Some(hex_seed) = &config.cd_signing_key {
            return Signer::from_hex(hex_seed.trim());
        }
        let path = match &config.cd_signing_key_file {
            Some(p) => std::path::PathBuf::from(p),
            None => default_key_path(&config.database_url),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Signer::from_hex(text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let signer = Signer::generate();
                write_key_file(&path, &hex::encode(signer.key.to_bytes()))?;
                tracing::info!(path = %path.display(), public_key = %signer.public_key(),
                    "created the CD register signing key");
                Ok(signer)
            }
            Err(e) => Err(AppError::internal(format!(
                "cannot read the CD register signing key {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn generate() -> Signer {
        Signer {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    fn from_hex(seed: &str) -> Result<Signer, AppError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(seed, &mut bytes).map_err(|_| {
            AppError::internal("the CD register signing key must be 64 hexadecimal digits")
        })?;
        Ok(Signer {
            key: SigningKey::from_bytes(&bytes),
        })
    }

    /// The public key, as 64 hex digits.
    pub fn public_key(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }
}

fn default_key_path(database_url: &str) -> std::path::PathBuf {
    if crate::db::Backend::of_url(database_url) == crate::db::Backend::Sqlite {
        let db = Path::new(crate::db::sqlite_path(database_url));
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            return dir.join("cd-signing.key");
        }
    }
    Path::new("data").join("cd-signing.key")
}

fn write_key_file(path: &Path, hex_seed: &str) -> Result<(), AppError> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::internal(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| AppError::internal(format!("cannot create {}: {e}", path.display())))?;
    writeln!(f, "{hex_seed}")
        .map_err(|e| AppError::internal(format!("cannot write {}: {e}", path.display())))
}

text_enum!(Occasion {
    Export => "export",
    Schedule => "schedule",
    Request => "request",
});

/// One signed checkpoint, as stored and as auditors download it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub site_id: i64,
    pub page_id: i64,
    pub entry_count: i64,
    /// Page balance after the last entry counted, in the product's unit.
    pub balance: Quantity,
    pub head_hash: String,
    /// UTC.
    #[serde(with = "crate::domain::time::utc")]
    pub signed_at: NaiveDateTime,
    /// Ed25519 public key, 64 hex digits.
    pub public_key: String,
    /// Ed25519 signature of the checkpoint's message, 128 hex digits.
    pub signature: String,
}

impl Checkpoint {
    /// The exact bytes signed: one `name=value` line per field, in this order.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "cd-checkpoint-v1\nsite_id={}\npage_id={}\nentry_count={}\nbalance={}\nhead_hash={}\nsigned_at={}\n",
            self.site_id,
            self.page_id,
            self.entry_count,
            self.balance.scaled(),
            self.head_hash,
            format_time(self.signed_at)
        )
        .into_bytes()
    }

    /// Whether the signature is the named key's signature of this checkpoint.
    pub fn signature_holds(&self) -> bool {
        let mut key = [0u8; 32];
        let mut sig = [0u8; 64];
        if hex::decode_to_slice(&self.public_key, &mut key).is_err()
            || hex::decode_to_slice(&self.signature, &mut sig).is_err()
        {
            return false;
        }
        let Ok(key) = VerifyingKey::from_bytes(&key) else {
            return false;
        };
        key.verify(&self.message(), &Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// The checkpoints of a site's register, as an auditor downloads and keeps them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct CheckpointDocument {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The key the service signs with now.
    pub public_key: String,
    pub site_id: i64,
    #[validate(length(max = 1000000))]
    #[schema(max_items = 1000000)]
    pub checkpoints: Vec<Checkpoint>,
}

/// Signs the current head of every open page of a site that has changed since its last
/// checkpoint, with an audit event naming who asked (the service itself on export and on its
/// schedule); returns how many were signed.
pub fn sign_site(
    conn: &mut AnyConnection,
    signer: &Signer,
    site_id: i64,
    occasion: Occasion,
    requested_by: Option<&crate::audit::Actor>,
) -> Result<usize, AppError> {
    let latest = latest_counts(conn, site_id)?;
    let mut signed = 0;
    for page in queries::pages_of_site(conn, site_id)? {
        if page.entry_count == 0 || latest.get(&page.id) == Some(&page.entry_count) {
            continue;
        }
        let mut cp = Checkpoint {
            site_id,
            page_id: page.id,
            entry_count: page.entry_count,
            balance: Quantity::from_scaled(page.balance),
            head_hash: page.head_hash.clone(),
            signed_at: now(),
            public_key: signer.public_key(),
            signature: String::new(),
        };
        cp.signature = signer.sign(&cp.message());
        diesel::insert_into(cd_checkpoints::table)
            .values((
                cd_checkpoints::site_id.eq(cp.site_id),
                cd_checkpoints::page_id.eq(cp.page_id),
                cd_checkpoints::entry_count.eq(cp.entry_count),
                cd_checkpoints::balance.eq(cp.balance.scaled()),
                cd_checkpoints::head_hash.eq(&cp.head_hash),
                cd_checkpoints::signed_at.eq(cp.signed_at),
                cd_checkpoints::public_key.eq(&cp.public_key),
                cd_checkpoints::signature.eq(&cp.signature),
                cd_checkpoints::occasion.eq(occasion.as_str()),
            ))
            .execute(conn)?;
        signed += 1;
    }
    if signed > 0 {
        let action = format!("cd.checkpoint.{occasion}");
        match requested_by {
            Some(actor) => crate::audit::record(
                conn,
                actor,
                Some(site_id),
                &action,
                "site",
                site_id,
                Some(serde_json::json!({"pages": signed})),
            )?,
            None => crate::audit::record_system(
                conn,
                "cd-checkpoints",
                Some(site_id),
                &action,
                "site",
                site_id,
            )?,
        }
    }
    Ok(signed)
}

/// Signs every site's pages (the scheduled run).
pub fn sign_all(
    conn: &mut AnyConnection,
    signer: &Signer,
    occasion: Occasion,
) -> Result<usize, AppError> {
    let mut signed = 0;
    for site in crate::sites::queries::all(conn)? {
        signed += crate::db::transaction(conn, |c| sign_site(c, signer, site.id, occasion, None))?;
    }
    Ok(signed)
}

fn latest_counts(
    conn: &mut AnyConnection,
    site_id: i64,
) -> Result<std::collections::HashMap<i64, i64>, AppError> {
    let rows: Vec<(i64, Option<i64>)> = cd_checkpoints::table
        .filter(cd_checkpoints::site_id.eq(site_id))
        .group_by(cd_checkpoints::page_id)
        .select((
            cd_checkpoints::page_id,
            diesel::dsl::max(cd_checkpoints::entry_count),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, n)| n.map(|n| (p, n)))
        .collect())
}

/// Every checkpoint the service has signed for a site, oldest first.
pub fn of_site(conn: &mut AnyConnection, site_id: i64) -> Result<Vec<Checkpoint>, AppError> {
    type Row = (i64, i64, i64, i64, String, NaiveDateTime, String, String);
    let rows: Vec<Row> = cd_checkpoints::table
        .filter(cd_checkpoints::site_id.eq(site_id))
        .order(cd_checkpoints::id.asc())
        .select((
            cd_checkpoints::site_id,
            cd_checkpoints::page_id,
            cd_checkpoints::entry_count,
            cd_checkpoints::balance,
            cd_checkpoints::head_hash,
            cd_checkpoints::signed_at,
            cd_checkpoints::public_key,
            cd_checkpoints::signature,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| Checkpoint {
            site_id: r.0,
            page_id: r.1,
            entry_count: r.2,
            balance: Quantity::from_scaled(r.3),
            head_hash: r.4,
            signed_at: r.5,
            public_key: r.6,
            signature: r.7,
        })
        .collect())
}

pub fn document(
    conn: &mut AnyConnection,
    signer: &Signer,
    site_id: i64,
) -> Result<CheckpointDocument, AppError> {
    Ok(CheckpointDocument {
        algorithm: "Ed25519".into(),
        public_key: signer.public_key(),
        site_id,
        checkpoints: of_site(conn, site_id)?,
    })
}

/// What is wrong with a page against one of its checkpoints, if anything: a signature that
/// does not hold, fewer entries than were signed, or an entry at the signed count whose hash or
/// balance is not the one signed (the chain was rewritten below the checkpoint).
pub fn compare(
    conn: &mut AnyConnection,
    page: &Page,
    walked_entries: i64,
    cp: &Checkpoint,
) -> Result<Option<String>, AppError> {
    if !cp.signature_holds() {
        return Ok(Some(
            "the checkpoint's signature does not verify with its public key".into(),
        ));
    }
    if cp.site_id != page.site_id {
        return Ok(Some("the checkpoint names another prison".into()));
    }
    if walked_entries.max(page.entry_count) < cp.entry_count {
        return Ok(Some(format!(
            "the page has {} entries but {} were signed: entries were removed",
            walked_entries.max(page.entry_count),
            cp.entry_count
        )));
    }
    let Some(entry) = queries::entry_at_seq(conn, page.id, cp.entry_count)? else {
        return Ok(Some(format!("entry {} is missing", cp.entry_count)));
    };
    if entry.hash != cp.head_hash || entry.balance_after != cp.balance.scaled() {
        return Ok(Some(format!(
            "entry {} no longer has the signed hash and balance: the chain was rewritten",
            cp.entry_count
        )));
    }
    Ok(None)
}
