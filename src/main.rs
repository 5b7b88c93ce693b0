use std::io::Read;

use actix_web::{web, HttpServer};
use clap::{Parser, Subcommand};

use prison_pharmacy::config::Config;
use prison_pharmacy::db::{self, Db};
use prison_pharmacy::domain::Role;
use prison_pharmacy::error::AppError;
use prison_pharmacy::{build_app, fixtures, telemetry, users, AppState};

#[derive(Parser)]
#[command(
    name = "prison-pharmacy",
    version,
    about = "Medicines management and dispensing for prison pharmacies"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP service (the default). Applies pending migrations first.
    Serve {
        /// Load the demo data set if the database is empty.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Demo data.
    Fixtures {
        #[command(subcommand)]
        command: FixturesCommand,
    },
    /// The controlled drug register.
    Cd {
        #[command(subcommand)]
        command: CdCommand,
    },
}

#[derive(Subcommand)]
enum CdCommand {
    /// Recompute every register page's hash chain of a site (or of all sites) and report
    /// "intact" with the count and head hash, or the first broken entry. Exits 1 if broken.
    Verify {
        /// Site code, e.g. FWI; every site when absent.
        #[arg(long)]
        site: Option<String>,
        /// A checkpoint file downloaded from `/cd/checkpoints`: any page whose chain no longer
        /// holds a checkpoint's head at its count is reported broken. Without it, the
        /// checkpoints the service stored are used.
        #[arg(long)]
        checkpoints: Option<std::path::PathBuf>,
    },
    /// Write a site's register to standard output as CSV, JSON or PDF.
    Export {
        #[arg(long)]
        site: String,
        /// csv, json or pdf.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Only this product's page.
        #[arg(long)]
        product_id: Option<i64>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from standard input (one line) unless
    /// NEW_USER_PASSWORD is set; with neither, one is generated and printed once.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// pharmacist, pharmacy_technician, nurse, auditor or admin.
        #[arg(long)]
        role: String,
        /// Site code the user may act at (repeat for several), e.g. FWI.
        #[arg(long = "site", required = true)]
        sites: Vec<String>,
        /// Appointed to witness destruction of controlled drugs.
        #[arg(long)]
        authorised_witness: bool,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum FixturesCommand {
    /// Load the demo data set: the ten establishments, their locations and the demo users.
    /// Loading twice changes nothing.
    Load,
}

/// Migrates as the owner (MIGRATION_DATABASE_URL where the service's own role may only read
/// and append), then opens the service's pool.
fn open_db(config: &Config) -> Result<Db, AppError> {
    let applied = migrate(config)?;
    let db = Db::connect(&config.database_url, config.db_pool_size)?;
    if applied > 0 {
        tracing::info!(applied, backend = db.backend().name(), "migrations applied");
    }
    Ok(db)
}

/// Where the command line's exports and verification read: DATABASE_READ_URL when set.
fn reports_db(db: &Db, config: &Config) -> Result<Db, AppError> {
    Ok(match &config.database_read_url {
        Some(url) => db
            .clone()
            .with_replica(url, config.db_pool_size)?
            .for_reports(),
        None => db.clone(),
    })
}

fn migrate(config: &Config) -> Result<usize, AppError> {
    let url = config
        .migration_database_url
        .as_deref()
        .unwrap_or(&config.database_url);
    let mut conn = db::establish(url)
        .map_err(|e| AppError::internal(format!("cannot connect to migrate: {e}")))?;
    prison_pharmacy::migrate(&mut conn)
}

fn load_fixtures(db: &Db, config: &Config) -> Result<(), AppError> {
    let report = fixtures::load(&mut *db.get()?, config.demo_password.as_deref())?;
    println!(
        "demo data: {} sites, {} locations, {} users, {} products, {} suppliers, {} patients added",
        report.sites,
        report.locations,
        report.users,
        report.products,
        report.suppliers,
        report.patients
    );
    if let Some(pw) = report.generated_password {
        // Printed, not logged: shown once to the person starting the service.
        println!("demo users' password (shown once): {pw}");
    }
    Ok(())
}

fn create_user(db: &Db, cmd: UserCommand) -> Result<(), AppError> {
    let UserCommand::Create {
        username,
        display_name,
        role,
        sites,
        authorised_witness,
        password_stdin,
    } = cmd;
    let role =
        Role::parse(&role).ok_or_else(|| AppError::invalid("role", "enum", "unknown role"))?;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_to_string(&mut line)
            .map_err(|e| AppError::internal(e.to_string()))?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    } else if let Ok(pw) = std::env::var("NEW_USER_PASSWORD") {
        (pw, false)
    } else {
        (prison_pharmacy::auth::password::generate(), true)
    };
    let hash = users::service::hash_new_password(&username, &password)?;
    let mut conn = db.get()?;
    let mut site_ids = Vec::new();
    for code in &sites {
        let site = prison_pharmacy::sites::queries::by_code(&mut conn, code)?.ok_or_else(|| {
            AppError::invalid("site", "exists", format!("no site with code {code}"))
        })?;
        site_ids.push(site.id);
    }
    let req = users::model::CreateUser {
        username,
        display_name,
        role,
        password: String::new(),
        site_ids,
        authorised_witness,
    };
    let view = db::transaction(&mut conn, |c| {
        let id = users::queries::insert(
            c,
            &req.username,
            &req.display_name,
            req.role.as_str(),
            &hash,
            req.authorised_witness,
        )?;
        users::queries::replace_sites(c, id, &req.site_ids)?;
        prison_pharmacy::audit::record_system(
            c,
            "cli-user-create",
            None,
            "user.create",
            "user",
            id,
        )?;
        users::service::view(c, id)
    })?;
    println!(
        "created user {} (id {}, role {})",
        view.username, view.id, view.role
    );
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

fn site_by_code(
    conn: &mut db::AnyConnection,
    code: &str,
) -> Result<prison_pharmacy::sites::model::Site, AppError> {
    prison_pharmacy::sites::queries::by_code(conn, code)?
        .ok_or_else(|| AppError::invalid("site", "exists", format!("no site with code {code}")))
}

fn cd_verify(
    db: &Db,
    site: Option<String>,
    checkpoints: Option<std::path::PathBuf>,
) -> Result<(), AppError> {
    use prison_pharmacy::cd_register::checkpoints::CheckpointDocument;
    use prison_pharmacy::cd_register::{model::VerificationStatus, verify};
    let signed = match checkpoints {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                AppError::invalid(
                    "checkpoints",
                    "readable",
                    format!("{}: {e}", path.display()),
                )
            })?;
            let doc: CheckpointDocument = serde_json::from_str(&text).map_err(|e| {
                AppError::invalid(
                    "checkpoints",
                    "document",
                    format!("not a checkpoint file: {e}"),
                )
            })?;
            Some(doc.checkpoints)
        }
        None => None,
    };
    let mut conn = db.get()?;
    let sites = match site {
        Some(code) => vec![site_by_code(&mut conn, &code)?],
        None => prison_pharmacy::sites::queries::all(&mut conn)?,
    };
    drop(conn);
    let mut broken = false;
    for site in sites {
        let result = verify::verify_site_parallel(db, site.id, signed.as_deref())?;
        for page in &result.pages {
            println!("{} {}", site.code, verify::describe(page));
        }
        for u in &result.unrecorded_stock {
            println!(
                "{} cabinet {} product {}: BROKEN: {} held that no register page records",
                site.code, u.location_id, u.product_id, u.stock_on_hand
            );
        }
        for page_id in &result.missing_pages {
            println!(
                "{} page {page_id}: BROKEN: signed in a checkpoint but no longer in the register",
                site.code
            );
        }
        println!(
            "{}: {} ({} pages, {} entries)",
            site.code,
            result.status,
            result.pages.len(),
            result.entries
        );
        broken |= result.status == VerificationStatus::Broken;
    }
    if broken {
        Err(AppError::conflict(
            "register_broken",
            "the register did not verify",
        ))
    } else {
        Ok(())
    }
}

fn cd_export(
    db: &Db,
    config: &Config,
    site: &str,
    format: &str,
    product_id: Option<i64>,
) -> Result<(), AppError> {
    use prison_pharmacy::cd_register::checkpoints::{self, Occasion, Signer};
    use prison_pharmacy::cd_register::{export::RegisterExport, model};
    use prison_pharmacy::http::ChunkSource;
    use std::io::Write;
    let format = model::ExportFormat::parse(format)
        .ok_or_else(|| AppError::invalid("format", "enum", "csv, json or pdf"))?;
    let mut conn = db.get()?;
    let site = site_by_code(&mut conn, site)?;
    let signer = Signer::from_config(config)?;
    db::transaction(&mut conn, |c| {
        checkpoints::sign_site(c, &signer, site.id, Occasion::Export, None)
    })?;
    let query = model::ExportQuery {
        format: Some(format),
        product_id,
        from: None,
        to: None,
    };
    let db = reports_db(db, config)?;
    let mut conn = db.get()?;
    let mut export = RegisterExport::new(&mut conn, &db, site, &query)?;
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = export.next_chunk(&mut conn)? {
        out.write_all(&chunk)
            .map_err(|e| AppError::internal(e.to_string()))?;
    }
    out.flush().map_err(|e| AppError::internal(e.to_string()))
}

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(&cli.config.log_format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match &e {
                AppError::Validation(issues) => {
                    for i in issues {
                        eprintln!("error: {}: {} ({})", i.field, i.message, i.rule);
                    }
                }
                other => eprintln!("error: {other}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), AppError> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Migrate => {
            let applied = migrate(&config)?;
            println!("{applied} migrations applied");
            Ok(())
        }
        Command::Fixtures {
            command: FixturesCommand::Load,
        } => load_fixtures(&open_db(&config)?, &config),
        Command::User { command } => create_user(&open_db(&config)?, command),
        Command::Cd {
            command: CdCommand::Verify { site, checkpoints },
        } => cd_verify(&reports_db(&open_db(&config)?, &config)?, site, checkpoints),
        Command::Cd {
            command:
                CdCommand::Export {
                    site,
                    format,
                    product_id,
                },
        } => cd_export(&open_db(&config)?, &config, &site, &format, product_id),
        Command::Serve { demo } => {
            // Tokens signed by a key made up at start would be refused by every other instance
            // and by this one after a restart: only the demo may do without one.
            if config.jwt_secret.is_none() && !demo {
                return Err(AppError::internal(
                    "JWT_SECRET is not set: set it (at least 32 bytes, the same on every instance), or run the demo with `serve --demo`",
                ));
            }
            let db = open_db(&config)?;
            if demo {
                if fixtures::database_is_empty(&mut *db.get()?)? {
                    load_fixtures(&db, &config)?;
                } else {
                    println!("database already holds data: demo data not loaded");
                }
            }
            let bind = config.bind_addr.clone();
            let state = web::Data::new(AppState::new(config, db)?);
            prison_pharmacy::cd_register::routes::schedule_checkpoints(state.clone());
            prison_pharmacy::administration::routes::schedule_time_critical_checks(state.clone())?;
            tracing::info!(%bind, backend = state.db.backend().name(), "listening");
            HttpServer::new(move || build_app(state.clone()))
                .bind(&bind)
                .map_err(|e| AppError::internal(format!("cannot bind {bind}: {e}")))?
                .run()
                .await
                .map_err(|e| AppError::internal(format!("server: {e}")))
        }
    }
}
