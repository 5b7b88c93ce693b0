//! Typed settings from the environment and flags; handed to the app as `web::Data`.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database: `postgres://...` for PostgreSQL; a file path or `sqlite://path` for SQLite.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "data/pharmacy.db",
        global = true
    )]
    pub database_url: String,

    /// A read replica of the database (PostgreSQL streaming replication) that register
    /// exports, reports and verification read from, to keep their load off the writer. Unset:
    /// they read from the primary.
    #[arg(long, env = "DATABASE_READ_URL", global = true)]
    pub database_read_url: Option<String>,

    /// Address and port to listen on.
    #[arg(
        long,
        env = "BIND_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind_addr: String,

    /// HMAC secret for signing access tokens (at least 32 bytes). Required to serve, except
    /// with `--demo`, which uses a random one per start.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,

    /// Earlier JWT_SECRET values, comma-separated: tokens they signed are still accepted until
    /// they expire, so the secret can be rotated without signing everyone out.
    #[arg(
        long,
        env = "JWT_PREVIOUS_SECRETS",
        hide_env_values = true,
        value_delimiter = ',',
        global = true
    )]
    pub jwt_previous_secrets: Vec<String>,

    /// Lifetime of an access token in seconds.
    #[arg(long, env = "JWT_TTL_SECS", default_value_t = 900, global = true)]
    pub jwt_ttl_secs: u64,

    /// `iss` claim written and required on tokens.
    #[arg(
        long,
        env = "JWT_ISSUER",
        default_value = "prison-pharmacy",
        global = true
    )]
    pub jwt_issuer: String,

    /// `aud` claim written and required on tokens.
    #[arg(
        long,
        env = "JWT_AUDIENCE",
        default_value = "prison-pharmacy-api",
        global = true
    )]
    pub jwt_audience: String,

    /// `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,

    /// Maximum database connections in the pool.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 8, global = true)]
    pub db_pool_size: u32,

    /// Failed sign-ins from one client address after which it waits before trying again (1 s,
    /// doubling with each further failure).
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5, global = true)]
    pub login_max_failures: u32,

    /// Failed sign-ins of one account, from anywhere, that lock the account itself (and
    /// alert admins): far more than one client may make.
    #[arg(
        long,
        env = "LOGIN_ACCOUNT_LOCK_FAILURES",
        default_value_t = 50,
        global = true
    )]
    pub login_account_lock_failures: u32,

    /// Seconds a locked account stays locked; also the longest wait of one client.
    #[arg(long, env = "LOGIN_LOCKOUT_SECS", default_value_t = 900, global = true)]
    pub login_lockout_secs: u64,

    /// Addresses of reverse proxies in front of the service, comma-separated. Only from these
    /// is the client's address taken from `Forwarded` / `X-Forwarded-For`; otherwise it is
    /// the connection's.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 262_144, global = true)]
    pub max_body_bytes: usize,

    /// Goods received expiring within this many days are accepted with a warning.
    #[arg(
        long,
        env = "SHORT_EXPIRY_WARNING_DAYS",
        default_value_t = 180,
        global = true
    )]
    pub short_expiry_warning_days: i64,

    /// Consecutive missed doses of a critical medicine that raise an alert (0 turns it off).
    #[arg(
        long,
        env = "MISSED_DOSE_ALERT_CONSECUTIVE",
        default_value_t = 3,
        global = true
    )]
    pub missed_dose_alert_consecutive: usize,

    /// Whether any missed opioid substitution dose raises an alert.
    #[arg(long, env = "MISSED_OST_ALERT", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub missed_ost_alert: bool,

    /// Compliance count tolerance, percent of the supply (never less than one day's doses).
    #[arg(
        long,
        env = "COMPLIANCE_TOLERANCE_PERCENT",
        default_value_t = 10,
        global = true
    )]
    pub compliance_tolerance_percent: i64,

    /// A dose recorded more than this many minutes after it was given is flagged late.
    #[arg(long, env = "LATE_ENTRY_MINUTES", default_value_t = 60, global = true)]
    pub late_entry_minutes: i64,

    /// PostgreSQL: the owner's URL that migrations run with, when the service itself connects as
    /// a role that may only read and append (see the README). Unset: migrations use DATABASE_URL.
    #[arg(
        long,
        env = "MIGRATION_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub migration_database_url: Option<String>,

    /// How many days back a controlled drug transaction may be entered.
    #[arg(
        long,
        env = "CD_BACKDATE_WINDOW_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub cd_backdate_window_days: i64,

    /// The CD register's Ed25519 signing key as 64 hex digits (kept outside the database).
    #[arg(long, env = "CD_SIGNING_KEY", hide_env_values = true, global = true)]
    pub cd_signing_key: Option<String>,

    /// File holding the signing key; unset: `cd-signing.key` beside a SQLite database or under
    /// `data/`, created on first start.
    #[arg(long, env = "CD_SIGNING_KEY_FILE", global = true)]
    pub cd_signing_key_file: Option<String>,

    /// Seconds between scheduled checkpoints of every register page (0 turns them off).
    #[arg(
        long,
        env = "CD_CHECKPOINT_INTERVAL_SECS",
        default_value_t = 86_400,
        global = true
    )]
    pub cd_checkpoint_interval_secs: u64,

    /// Round clock times, in the server's local time zone (run with `TZ=Europe/London`), for
    /// time-critical medicines.
    #[arg(
        long,
        env = "ROUND_TIMES",
        default_value = "morning=08:00,lunchtime=12:00,teatime=17:00,night=21:00",
        global = true
    )]
    pub round_times: String,

    /// Minutes after its round a time-critical dose not yet recorded raises an alert.
    #[arg(
        long,
        env = "TIME_CRITICAL_MINUTES",
        default_value_t = 30,
        global = true
    )]
    pub time_critical_minutes: i64,

    /// Password for the demo users when demo data is loaded; generated and printed once if unset.
    #[arg(long, env = "DEMO_PASSWORD", hide_env_values = true, global = true)]
    pub demo_password: Option<String>,
}

impl Config {
    /// Settings for tests and tools: defaults with the given database.
    pub fn for_database(url: &str) -> Config {
        Config {
            database_url: url.to_string(),
            database_read_url: None,
            bind_addr: "127.0.0.1:0".into(),
            jwt_secret: Some("test-secret-test-secret-test-secret-0123".into()),
            jwt_previous_secrets: vec![],
            jwt_ttl_secs: 900,
            jwt_issuer: "prison-pharmacy".into(),
            jwt_audience: "prison-pharmacy-api".into(),
            log_format: "text".into(),
            db_pool_size: 8,
            login_max_failures: 5,
            login_account_lock_failures: 50,
            login_lockout_secs: 900,
            trusted_proxies: vec![],
            max_body_bytes: 262_144,
            short_expiry_warning_days: 180,
            missed_dose_alert_consecutive: 3,
            missed_ost_alert: true,
            compliance_tolerance_percent: 10,
            late_entry_minutes: 60,
            demo_password: None,
            round_times: "morning=08:00,lunchtime=12:00,teatime=17:00,night=21:00".into(),
            time_critical_minutes: 30,
            migration_database_url: None,
            cd_backdate_window_days: 7,
            // A fixed test key: tests never write key files.
            cd_signing_key: Some(
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60".into(),
            ),
            cd_signing_key_file: None,
            cd_checkpoint_interval_secs: 0,
        }
    }
}
