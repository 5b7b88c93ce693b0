//! A whole region's morning round at once: ten prisons of 1,930 patients each, 100 nurses each
//! working through their wing's round list at a nurse's pace (controlled drugs witnessed), two
//! auditors exporting whole-prison registers and a pharmacist screening new prescriptions. The
//! service runs as a process of its own, so its peak memory is its own.

use super::*;
use prison_pharmacy::auth::jwt::JwtKeys;
use prison_pharmacy::db::schema::user_sites;
use prison_pharmacy::sites::model::{CreateLocation, CreateSite};

const PRISONS: usize = 10;
const NURSES: usize = 100;
const SECRET: &str = "regional-round-benchmark-signing-key-0123456789";

struct Prison {
    id: i64,
    code: String,
    hatches: Vec<(String, i64)>,
    /// Patients, for the pharmacist's new prescriptions.
    patients: Vec<i64>,
}

/// A nurse on a wing's round; nurses sharing a wing split its list between them.
#[derive(Clone, Copy)]
struct Nurse {
    user: i64,
    prison: usize,
    hatch: usize,
    witness: i64,
    share: i64,
    of: i64,
}

struct People {
    nurses: Vec<Nurse>,
    auditors: Vec<i64>,
    pharmacist: i64,
    technician: i64,
}

fn add_user(conn: &mut AnyConnection, name: &str, role: &str, sites: &[i64]) -> i64 {
    let id = prison_pharmacy::users::queries::insert(conn, name, name, role, "!", false).unwrap();
    for site in sites {
        diesel::insert_into(user_sites::table)
            .values((user_sites::user_id.eq(id), user_sites::site_id.eq(site)))
            .execute(conn)
            .unwrap();
    }
    id
}

fn build_region(db: &Db) -> (Vec<Prison>, People) {
    let mut conn = db.get().unwrap();
    let conn: &mut AnyConnection = &mut conn;
    prison_pharmacy::fixtures::load(conn, Some("bench-password-2026")).unwrap();
    let admin = user(conn, "admin");
    let tech = user(conn, "technician");
    let batches = bench_batches(conn, tech);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut prisons = Vec::new();
    for k in 0..PRISONS {
        let code = format!("R{k:02}");
        let site = prison_pharmacy::sites::service::create_site(
            conn,
            &actor(admin),
            &CreateSite {
                code: code.clone(),
                name: format!("HMP Region {k}"),
                category: "B".into(),
                address: format!("{k} Prison Road, Midlands"),
            },
        )
        .unwrap()
        .id;
        let hatches: Vec<(String, i64)> = WINGS
            .iter()
            .map(|w| {
                let location = prison_pharmacy::sites::service::create_location(
                    conn,
                    &actor(admin),
                    site,
                    &serde_json::from_value::<CreateLocation>(json!({
                        "code": format!("{w}-HATCH"),
                        "name": format!("{w} medication hatch"),
                        "kind": "administration_point",
                        "cd_cabinet": true,
                    }))
                    .unwrap(),
                )
                .unwrap();
                (w.to_string(), location.id)
            })
            .collect();
        populate_prison(
            conn,
            site,
            &hatches,
            tech,
            &batches,
            &mut rng,
            (b'A' + k as u8) as char,
        );
        let patients = patients::table
            .filter(patients::site_id.eq(site))
            .select(patients::id)
            .load(conn)
            .unwrap();
        prisons.push(Prison {
            id: site,
            code,
            hatches,
            patients,
        });
    }
    let all: Vec<i64> = prisons.iter().map(|p| p.id).collect();
    let wings = PRISONS * WINGS.len();
    let mut nurses: Vec<Nurse> = (0..NURSES)
        .map(|n| {
            let prison = n % PRISONS;
            let user = add_user(
                conn,
                &format!("regional-nurse-{n}"),
                "nurse",
                &[prisons[prison].id],
            );
            Nurse {
                user,
                prison,
                hatch: (n / PRISONS) % WINGS.len(),
                witness: 0,
                share: (n / wings) as i64,
                of: (NURSES / wings + usize::from(n % wings < NURSES % wings)) as i64,
            }
        })
        .collect();
    // Each nurse's witness is a colleague at the same prison.
    for n in 0..NURSES {
        nurses[n].witness = nurses[(n + PRISONS) % NURSES].user;
    }
    let people = People {
        nurses,
        auditors: (0..2)
            .map(|a| add_user(conn, &format!("regional-auditor-{a}"), "auditor", &all))
            .collect(),
        pharmacist: add_user(conn, "regional-pharmacist", "pharmacist", &all),
        technician: add_user(conn, "regional-technician", "pharmacy_technician", &all),
    };
    (prisons, people)
}

/// Latencies of one kind of request, and how many failed.
#[derive(Default)]
struct Timings {
    ok: Vec<Duration>,
    failed: usize,
}

impl Timings {
    fn add(&mut self, t: Duration, ok: bool) {
        if ok {
            self.ok.push(t);
        } else {
            self.failed += 1;
        }
    }
}

/// The answer, or None after saying why (the first few failures only).
fn answered<T>(what: &str, r: Result<T, ureq::Error>) -> Option<T> {
    static SHOWN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            if SHOWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 5 {
                let why = match e {
                    ureq::Error::Status(code, r) => {
                        format!("{code} {}", r.into_string().unwrap_or_default())
                    }
                    other => other.to_string(),
                };
                eprintln!("[region] {what} failed: {why}");
            }
            None
        }
    }
}

fn timed<T>(f: impl FnOnce() -> Option<T>) -> (Duration, Option<T>) {
    let t = Instant::now();
    let r = f();
    (t.elapsed(), r)
}

/// A nurse's round: load the wing's list, give each due dose a few seconds apart (witnessed for
/// controlled drugs), and reload the list every ten doses.
fn nurse_round(
    base: &str,
    jwt: &JwtKeys,
    prison: &Prison,
    nurse: Nurse,
    until: Instant,
    seed: u64,
) -> (Timings, Timings) {
    let Nurse {
        user: nurse,
        hatch,
        witness,
        share,
        of,
        ..
    } = nurse;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let token = format!("Bearer {}", jwt.issue(nurse).unwrap());
    let today = chrono::Utc::now().date_naive();
    let location = prison.hatches[hatch].1;
    let list_url = format!(
        "{base}/api/v1/sites/{}/rounds?date={today}&slot=morning&location_id={location}",
        prison.id
    );
    let dose_url = format!("{base}/api/v1/sites/{}/doses", prison.id);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut lists, mut doses) = (Timings::default(), Timings::default());
    // Nurses do not all start at the same instant.
    std::thread::sleep(Duration::from_millis(rng.gen_range(0..3_000)));
    'round: while Instant::now() < until {
        let (t, list) = timed(|| {
            agent
                .get(&list_url)
                .set("Authorization", &token)
                .call()
                .map_err(|e| answered::<()>("round list", Err(e)))
                .ok()?
                .into_json::<serde_json::Value>()
                .ok()
        });
        lists.add(t, list.is_some());
        let Some(list) = list else { continue };
        let due: Vec<serde_json::Value> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["recorded"].is_null())
            .filter(|i| i["prescription_id"].as_i64().unwrap_or(0) % of == share)
            .take(10)
            .cloned()
            .collect();
        if due.is_empty() {
            break;
        }
        for item in due {
            std::thread::sleep(Duration::from_millis(rng.gen_range(2_000..4_000)));
            if Instant::now() >= until {
                break 'round;
            }
            let mut body = json!({
                "prescription_id": item["prescription_id"],
                "date": item["scheduled_date"],
                "slot": "morning",
                "outcome": "given",
                "location_id": location,
            });
            if item["witness_required"] == true {
                body["witness"] = json!({"assertion": jwt
                    .issue_witness(witness, prison.id, "cd_dose")
                    .unwrap()});
            }
            let (t, r) = timed(|| {
                let r = agent
                    .post(&dose_url)
                    .set("Authorization", &token)
                    .send_json(body);
                answered("dose", r).map(|r| r.status())
            });
            doses.add(t, r == Some(201));
        }
    }
    (lists, doses)
}

/// An auditor exporting whole-prison registers one after another.
fn auditor_exports(
    base: &str,
    jwt: &JwtKeys,
    prisons: &[Prison],
    auditor: i64,
    until: Instant,
) -> Timings {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    let token = format!("Bearer {}", jwt.issue(auditor).unwrap());
    let mut exports = Timings::default();
    let mut k = auditor as usize;
    while Instant::now() < until {
        let prison = &prisons[k % prisons.len()];
        k += 1;
        let (t, r) = timed(|| {
            let mut sink = Vec::new();
            agent
                .get(&format!("{base}/api/v1/sites/{}/cd/export", prison.id))
                .set("Authorization", &token)
                .call()
                .map_err(|e| answered::<()>("export", Err(e)))
                .ok()?
                .into_reader()
                .read_to_end(&mut sink)
                .ok()
        });
        exports.add(t, r.is_some());
    }
    exports
}

/// New prescriptions written up by a technician and screened by the pharmacist, one every two
/// seconds.
fn pharmacist_screening(
    base: &str,
    jwt: &JwtKeys,
    prisons: &[Prison],
    people: &People,
    product: i64,
    until: Instant,
) -> Timings {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let technician = format!("Bearer {}", jwt.issue(people.technician).unwrap());
    let pharmacist = format!("Bearer {}", jwt.issue(people.pharmacist).unwrap());
    let mut screened = Timings::default();
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_secs(2));
        let prison = &prisons[rng.gen_range(0..prisons.len())];
        let patient = prison.patients[rng.gen_range(0..prison.patients.len())];
        let (t, r) = timed(|| {
            let rx = agent
                .post(&format!("{base}/api/v1/patients/{patient}/prescriptions"))
                .set("Authorization", &technician)
                .send_json(json!({
                    "product_id": product, "dose": "20", "dose_unit": "mg", "route": "oral",
                    "slots": ["night"], "start_date": chrono::Utc::now().date_naive(),
                    "possession": "supervised",
                    "prescriber": "Dr R Patel GMC 0000000 (demo)"
                }));
            let rx: serde_json::Value = answered("new prescription", rx)?.into_json().ok()?;
            agent
                .post(&format!(
                    "{base}/api/v1/prescriptions/{}/screening",
                    rx["id"]
                ))
                .set("Authorization", &pharmacist)
                .send_json(json!({"decision": "approve_with_note", "note": "regional benchmark"}))
                .ok()
                .map(|r| r.status())
        });
        screened.add(t, r == Some(200));
    }
    screened
}

pub fn regional(url: &str, label: &str, seconds: u64) -> (Vec<Row>, Vec<Target>) {
    eprintln!("[{label}] building a region of {PRISONS} prisons ...");
    let t = Instant::now();
    {
        let mut c = db::establish(url).unwrap();
        prison_pharmacy::migrate(&mut c).unwrap();
    }
    let db = Db::connect(url, 4).unwrap();
    let (prisons, people) = build_region(&db);
    let product = {
        let mut c = db.get().unwrap();
        prison_pharmacy::formulary::queries::product_by_name(&mut c, ROUND_PRODUCTS[8].0)
            .unwrap()
            .unwrap()
            .id
    };
    eprintln!("[{label}] built in {:.1} s", t.elapsed().as_secs_f64());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_prison-pharmacy"))
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", SECRET)
        .env("DB_POOL_SIZE", "16")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let probe = ureq::AgentBuilder::new().build();
    while probe.get(&format!("{base}/ready")).call().is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut config = Config::for_database(url);
    config.jwt_secret = Some(SECRET.into());
    let jwt = Arc::new(JwtKeys::from_config(&config).unwrap());
    let prisons = Arc::new(prisons);
    let people = Arc::new(people);
    write_out_dirty_pages();
    let until = Instant::now() + Duration::from_secs(seconds);
    eprintln!("[{label}] {NURSES} nurses, 2 auditors and a pharmacist for {seconds} s ...");

    let nurses: Vec<_> = people
        .nurses
        .iter()
        .enumerate()
        .map(|(n, &nurse)| {
            let (base, jwt, prisons) = (base.clone(), jwt.clone(), prisons.clone());
            std::thread::spawn(move || {
                nurse_round(
                    &base,
                    &jwt,
                    &prisons[nurse.prison],
                    nurse,
                    until,
                    SEED + n as u64,
                )
            })
        })
        .collect();
    let auditors: Vec<_> = people
        .auditors
        .iter()
        .map(|&a| {
            let (base, jwt, prisons) = (base.clone(), jwt.clone(), prisons.clone());
            std::thread::spawn(move || auditor_exports(&base, &jwt, &prisons, a, until))
        })
        .collect();
    let pharmacist = {
        let (base, jwt, prisons, people) =
            (base.clone(), jwt.clone(), prisons.clone(), people.clone());
        std::thread::spawn(move || {
            pharmacist_screening(&base, &jwt, &prisons, &people, product, until)
        })
    };
    let (mut lists, mut doses) = (Timings::default(), Timings::default());
    for n in nurses {
        let (l, d) = n.join().unwrap();
        lists.ok.extend(l.ok);
        lists.failed += l.failed;
        doses.ok.extend(d.ok);
        doses.failed += d.failed;
    }
    let mut exports = Timings::default();
    for a in auditors {
        let e = a.join().unwrap();
        exports.ok.extend(e.ok);
        exports.failed += e.failed;
    }
    let screened = pharmacist.join().unwrap();
    let peak_mib =
        proc_kib(&format!("/proc/{}/status", server.id()), "VmHWM:").unwrap_or(f64::NAN) / 1024.0;
    let _ = server.kill();
    let _ = server.wait();

    // Every register chain of every prison, verified afterwards.
    let mut broken = 0;
    let mut entries = 0;
    for p in prisons.iter() {
        let v =
            prison_pharmacy::cd_register::verify::verify_site_parallel(&db, p.id, None).unwrap();
        entries += v.entries;
        if v.status.as_str() != "intact" {
            eprintln!("[{label}] register of {} is {:?}", p.code, v.status);
            broken += 1;
        }
    }
    lists.ok.sort();
    doses.ok.sort();
    exports.ok.sort();
    let errors = lists.failed + doses.failed + exports.failed + screened.failed;
    let rows = vec![
        row(
            &format!(
                "6. region: {} doses by {NURSES} nurses at {PRISONS} prisons: p50, p99",
                doses.ok.len()
            ),
            format!(
                "{}, {}",
                ms(percentile(&doses.ok, 0.5)),
                ms(percentile(&doses.ok, 0.99))
            ),
            "-".into(),
            "-".into(),
            "p99 < 50 ms",
        ),
        row(
            &format!("6. region: {} wing round lists: p50, p99", lists.ok.len()),
            format!(
                "{}, {}",
                ms(percentile(&lists.ok, 0.5)),
                ms(percentile(&lists.ok, 0.99))
            ),
            "-".into(),
            "-".into(),
            "p99 < 100 ms",
        ),
        row(
            &format!(
                "6. region: {} whole-prison register exports, {} prescriptions screened: export p50, max",
                exports.ok.len(),
                screened.ok.len()
            ),
            format!(
                "{}, {}",
                ms(percentile(&exports.ok, 0.5)),
                ms(exports.ok.last().copied().unwrap_or_default())
            ),
            "-".into(),
            "-".into(),
            "-",
        ),
        row(
            "6. region: server peak memory; errors; register chains intact",
            format!(
                "{peak_mib:.1} MiB; {errors}; {}/{PRISONS} ({entries} entries)",
                PRISONS - broken
            ),
            "-".into(),
            "-".into(),
            "< 256 MiB; 0; all",
        ),
    ];
    let targets = vec![
        at_most(
            "region_dose_p99_ms",
            percentile(&doses.ok, 0.99).as_secs_f64() * 1000.0,
            50.0,
        ),
        at_most(
            "region_round_list_p99_ms",
            percentile(&lists.ok, 0.99).as_secs_f64() * 1000.0,
            100.0,
        ),
        at_most("region_server_peak_mib", peak_mib, 256.0),
        at_most("region_errors", errors as f64, 0.0),
        at_most("region_broken_register_chains", broken as f64, 0.0),
    ];
    (rows, targets)
}
