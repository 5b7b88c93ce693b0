//! The round screen in a real browser: headless Chromium driven through WebDriver. A nurse
//! signs in, opens the morning round at a hatch, records a supervised methadone dose with a
//! witness signing on the same screen, a refused dose, and a dose whose answer is lost and sent
//! again; the records are checked in the database. Screenshots of the round at tablet and
//! desktop size are written for the README.
//!
//! Without `chromium` and `chromedriver` installed the test says so and skips; `.ci/run`
//! installs them.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::HttpServer;
use common::{spawn, DEMO_PASSWORD};
use diesel::prelude::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser(width: u32, height: u32) -> Option<(Driver, Client)> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("REQUIRE_BROWSER").is_err(),
            "REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!("skipped: install the Debian packages chromium and chromium-driver to run the browser tests");
        return None;
    }
    let port = free_port();
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--hide-scrollbars", format!("--window-size={width},{height}")]}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    // Finding an element waits for it a while, as a person would.
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            None,
            None,
            Some(Duration::from_secs(5)),
        ))
        .await
        .unwrap();
    Some((driver, client))
}

/// Waits for the browser to arrive at a page whose path ends so.
async fn arrive(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = c.current_url().await.unwrap();
        if url.path().ends_with(path) {
            return;
        }
        if Instant::now() > deadline {
            let text = c
                .find(Locator::Css("body"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            panic!("at {url}, not {path}: {text}");
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks, and waits until the page the click submits has replaced this one and loaded: the
/// old document carries a mark the new one lacks.
async fn click(c: &Client, css: &str) {
    c.execute("window.__before_click = true;", vec![])
        .await
        .unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = c
            .execute(
                "return window.__before_click ? 'old' : document.readyState;",
                vec![],
            )
            .await
            .ok();
        if state.as_ref().and_then(|v| v.as_str()) == Some("complete") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no new page after clicking {css}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Saves a screenshot where the tests keep them, and in `docs/` when asked to.
async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(dir.join(name), &png).unwrap();
    if std::env::var("UPDATE_SCREENSHOTS").is_ok() {
        std::fs::write(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("docs")
                .join(name),
            &png,
        )
        .unwrap();
    }
}

/// Outcomes recorded today at the morning round, by prescription.
fn outcomes(app_db: &prison_pharmacy::db::Db, prescription: i64) -> Vec<(String, Option<i64>)> {
    use prison_pharmacy::db::schema::dose_records as d;
    d::table
        .filter(d::prescription_id.eq(prescription))
        .filter(d::scheduled_date.eq(chrono::Local::now().date_naive()))
        .filter(d::slot.eq("morning"))
        .select((d::outcome, d::witness_id))
        .load(&mut **app_db.get().unwrap())
        .unwrap()
}

#[actix_web::test]
async fn a_nurse_records_the_morning_round_in_a_browser() {
    let Some((_driver, c)) = browser(820, 1180).await else {
        return;
    };
    let app = spawn().await;
    app.load_demo();
    let state = app.state.clone();
    let server = HttpServer::new(move || prison_pharmacy::build_app(state.clone()))
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", server.addrs()[0].port());
    actix_web::rt::spawn(server.run());

    // Signed out, the round sends you to sign in; a wrong password is said plainly.
    c.goto(&format!("{base}/ui/round")).await.unwrap();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/ui/sign-in"));
    fill(&c, "#username", "nurse").await;
    fill(&c, "#password", "not the password").await;
    click(&c, "main form button[type=submit]").await;
    assert_eq!(text_of(&c, ".error").await, "Wrong username or password.");
    fill(&c, "#username", "nurse").await;
    fill(&c, "#password", DEMO_PASSWORD).await;
    click(&c, "main form button[type=submit]").await;
    arrive(&c, "/ui/round").await;
    let cookies = c.get_all_cookies().await.unwrap();
    let session = cookies.iter().find(|k| k.name() == "pp_session").unwrap();
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");

    // The morning round at the house block 1 hatch.
    let hatch = c
        .find(Locator::XPath(
            "//select[@id='location_id']/option[contains(., 'HB1-HATCH')]",
        ))
        .await
        .unwrap();
    hatch.click().await.unwrap();
    c.find(Locator::Css("#slot option[value=morning]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&c, ".chooser button").await;
    let dose_of = |name: &'static str| {
        let c = &c;
        async move {
            let item = c
                .find(Locator::XPath(&format!(
                    "//li[contains(@class,'dose')][contains(@data-product, '{name}')]"
                )))
                .await
                .unwrap();
            let id = item.attr("id").await.unwrap().unwrap();
            (
                format!("#{id}"),
                id.trim_start_matches("dose-").parse::<i64>().unwrap(),
            )
        }
    };
    let (methadone, methadone_rx) = dose_of("Methadone").await;
    // The card says how to give it to this patient (his reasonable adjustments, demo data).
    assert_eq!(
        text_of(&c, &format!("{methadone} .adjustments")).await,
        "Easy-read labels: Picture labels; read the label aloud and check he can say back when \
         to take it\nNeeds reminders: Remind him of the lunchtime round on the landing"
    );
    screenshot(&c, "round-tablet.png").await;
    c.set_window_size(1440, 1000).await.unwrap();
    screenshot(&c, "round-desktop.png").await;
    c.set_window_size(820, 1180).await.unwrap();

    // Given without a witness: refused, in words, next to the dose, and nothing recorded.
    click(&c, &format!("{methadone} button[value=given]")).await;
    let refusal = text_of(&c, &format!("{methadone} .error")).await;
    assert!(refusal.contains("needs a witness"), "{refusal}");
    assert!(outcomes(&app.state.db, methadone_rx).is_empty());
    // The witness signs on the same screen.
    fill(
        &c,
        &format!("{methadone} input[name=witness_username]"),
        "nurse2",
    )
    .await;
    fill(
        &c,
        &format!("{methadone} input[name=witness_password]"),
        DEMO_PASSWORD,
    )
    .await;
    click(&c, &format!("{methadone} button[value=given]")).await;
    let recorded = text_of(&c, &format!("{methadone} .recorded")).await;
    assert!(recorded.starts_with("Recorded: Given"), "{recorded}");
    let nurse2: i64 = {
        use prison_pharmacy::db::schema::users;
        users::table
            .filter(users::username.eq("nurse2"))
            .select(users::id)
            .first(&mut **app.state.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(
        outcomes(&app.state.db, methadone_rx),
        vec![("given".to_string(), Some(nurse2))]
    );

    // Refused with one tap.
    let (levetiracetam, levetiracetam_rx) = dose_of("Levetiracetam").await;
    click(&c, &format!("{levetiracetam} button[value=refused]")).await;
    assert!(text_of(&c, &format!("{levetiracetam} .recorded"))
        .await
        .contains("Refused"));
    assert_eq!(
        outcomes(&app.state.db, levetiracetam_rx),
        vec![("refused".to_string(), None)]
    );

    // The answer is lost on the wing's network and the nurse sends again: the form's own key
    // records it once, and the second send is answered as the first.
    let (third, third_rx) = {
        let items = c
            .find_all(Locator::Css("li.dose:not(.done)"))
            .await
            .unwrap();
        let id = items[0].attr("id").await.unwrap().unwrap();
        (
            format!("#{id}"),
            id.trim_start_matches("dose-").parse::<i64>().unwrap(),
        )
    };
    let statuses = c
        .execute_async(
            &format!(
                "const done = arguments[0];
                 const form = document.querySelector('{third} form');
                 const data = new URLSearchParams(new FormData(form));
                 data.set('outcome', 'did_not_attend');
                 const send = () => fetch(form.action, {{method: 'POST', body: data, redirect: 'manual'}});
                 send().then(() => send()).then(r => done(r.type)).catch(e => done(String(e)));"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!("opaqueredirect"));
    assert_eq!(
        outcomes(&app.state.db, third_rx),
        vec![("did_not_attend".to_string(), None)]
    );
    c.refresh().await.unwrap();
    assert!(text_of(&c, &format!("{third} .recorded"))
        .await
        .contains("Did not attend"));

    // Keyboard alone: the first Tab reaches the skip link.
    c.goto(&format!("{base}/ui/round")).await.unwrap();
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let first = c.active_element().await.unwrap().text().await.unwrap();
    assert_eq!(first, "Skip to content");

    // In possession: a week's sertraline handed over from the pharmacy, then a cell count
    // that does not add up.
    c.goto(&format!(
        "{base}/ui/possession?location_id={}",
        hatch_id(&app)
    ))
    .await
    .unwrap();
    let item = c
        .find(Locator::XPath(
            "//li[contains(@data-product, 'Sertraline')]",
        ))
        .await
        .unwrap();
    let item_id = item.attr("id").await.unwrap().unwrap();
    let sertraline_rx: i64 = item_id.trim_start_matches("ip-").parse().unwrap();
    c.find(Locator::XPath(&format!(
        "//li[@id='{item_id}']//select[@name='from_location_id']/option[contains(., 'PHARM')]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    click(&c, &format!("#{item_id} form[action$=supplies] button")).await;
    arrive(&c, "/ui/possession").await;
    fill(&c, &format!("#{item_id} input[name=counted_quantity]"), "2").await;
    click(&c, &format!("#{item_id} form[action$=checks] button")).await;
    arrive(&c, "/ui/possession").await;
    {
        use prison_pharmacy::db::schema::{compliance_checks as k, ip_supplies as s};
        let mut conn = app.state.db.get().unwrap();
        let supplied: Vec<i64> = s::table
            .filter(s::prescription_id.eq(sertraline_rx))
            .select(s::days)
            .load(&mut **conn)
            .unwrap();
        assert_eq!(supplied, vec![7]);
        let checks: Vec<bool> = k::table
            .filter(k::prescription_id.eq(sertraline_rx))
            .select(k::discrepancy)
            .load(&mut **conn)
            .unwrap();
        assert_eq!(checks, vec![true]);
    }

    // Signing out ends the page session.
    click(&c, ".signout button").await;
    c.goto(&format!("{base}/ui/round")).await.unwrap();
    arrive(&c, "/ui/sign-in").await;

    // The auditor's page: every register page verified, and the downloads.
    fill(&c, "#username", "auditor").await;
    fill(&c, "#password", DEMO_PASSWORD).await;
    click(&c, "main form button[type=submit]").await;
    arrive(&c, "/ui/round").await;
    c.goto(&format!("{base}/ui/register")).await.unwrap();
    let mut statuses = Vec::new();
    for cell in c
        .find_all(Locator::Css("tbody td:last-child"))
        .await
        .unwrap()
    {
        statuses.push(cell.text().await.unwrap());
    }
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| s == "Verified"), "{statuses:?}");
    screenshot(&c, "register.png").await;
    let download = c
        .execute_async(
            r#"const done = arguments[0];
               const link = document.querySelector('a[href$="export.csv"]');
               fetch(link.href).then(r => r.text().then(t => done([r.headers.get('content-type'), t.split('\n')[0]])));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(download[0], "text/csv; charset=utf-8");
    assert!(
        download[1].as_str().unwrap().contains("entry_id"),
        "{download}"
    );
    c.close().await.unwrap();
}

fn hatch_id<S>(app: &common::TestApp<S>) -> i64 {
    use prison_pharmacy::db::schema::locations;
    locations::table
        .filter(locations::code.eq("HB1-HATCH"))
        .order(locations::id.asc())
        .select(locations::id)
        .first(&mut **app.state.db.get().unwrap())
        .unwrap()
}

/// Without a browser: the pages' session and CSRF rules, and their security headers.
#[actix_web::test]
async fn forms_need_the_session_token_and_this_origin() {
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    let app = spawn().await;
    app.load_demo();
    // The sign-in page sets the CSRF cookie, HttpOnly and SameSite=Strict, under a strict policy.
    let r = app.send(TestRequest::get().uri("/ui/sign-in")).await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let set = r
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.starts_with("pp_csrf="), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/ui"),
        "{set}"
    );
    let csrf = set["pp_csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let sign_in = |token: &str, origin: Option<&str>| {
        let mut req = TestRequest::post()
            .uri("/ui/sign-in")
            .insert_header(("Cookie", format!("pp_csrf={csrf}")))
            .set_form([
                ("csrf", token),
                ("username", "nurse"),
                ("password", DEMO_PASSWORD),
            ]);
        if let Some(o) = origin {
            req = req.insert_header(("Origin", o));
        }
        req
    };
    // Another token, or another site's page, is refused and signs no one in.
    let r = app.send(sign_in("forged", None)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.send(sign_in(&csrf, Some("https://evil.example"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r
        .headers
        .get_all("set-cookie")
        .all(|c| !c.to_str().unwrap().starts_with("pp_session=")));
    // The right token signs in: a session cookie like the CSRF one, lasting as a token does.
    let r = app.send(sign_in(&csrf, None)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = r
        .headers
        .get_all("set-cookie")
        .map(|c| c.to_str().unwrap().to_string())
        .find(|c| c.starts_with("pp_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(session.contains("Max-Age=900"), "{session}");
    // A form posted with the session but without its token records nothing.
    let cookie = session.split(';').next().unwrap().to_string();
    let r = app
        .send(
            TestRequest::post()
                .uri("/ui/round/doses")
                .insert_header(("Cookie", format!("{cookie}; pp_csrf={csrf}")))
                .set_form([
                    ("csrf", "wrong"),
                    ("key", "k1"),
                    ("site_id", "1"),
                    ("location_id", "1"),
                    ("date", "2026-11-22"),
                    ("slot", "morning"),
                    ("prescription_id", "1"),
                    ("outcome", "refused"),
                ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("dose_records"), 0);
    // Signed out, a page sends you to sign in.
    let r = app.send(TestRequest::get().uri("/ui/round")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers.get("location").unwrap(), "/ui/sign-in");
}
