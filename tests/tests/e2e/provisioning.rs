//! Access requests, approval, one-time links, packages for each platform,
//! mail over SMTP and to the outbox, and revocation that bites at once.
//!
//! Why this file is long: every path of one capability (access request to
//! certificate package) is a test here, each a whole story from the public
//! form to the mailed link and the package, sharing the zip and PKCS#12
//! checks at the top.

use anyhow::{bail, Context, Result};
use http::{Method, StatusCode};
use sightline_tests::provision::{approved_link, open_link, path_of, pending_id, redeem, submit_request};
use sightline_tests::{find_link, first_login, free_port, Connection, Identity, TestServer};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};
use x509_parser::prelude::FromDer;

const PASSWORD: &str = "copper-lantern-orchard";
/// The main flow files several requests from one address.
const GENEROUS_LIMITS: &str =
    "[provisioning]\nrequests_per_email_per_hour = 50\nrequests_per_address_per_hour = 50";

/// A file from a zip: name, contents, Unix mode.
type ZipEntry = (String, Vec<u8>, Option<u32>);

fn unzip(zip: &[u8]) -> Result<Vec<ZipEntry>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i)?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)?;
        let name = file.name()?.rsplit('/').next().unwrap_or_default().to_owned();
        files.push((name, contents, file.unix_mode()));
    }
    Ok(files)
}

fn file<'a>(files: &'a [ZipEntry], name: &str) -> Result<&'a [u8]> {
    files
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, contents, _)| contents.as_slice())
        .with_context(|| format!("{name} missing from the package"))
}

/// OpenSSL 3 opens the file without `-legacy`, and NSS imports it.
fn check_pkcs12_with_system_tools(dir: &Path, p12: &[u8], password: &str) -> Result<()> {
    let path = dir.join("check.p12");
    std::fs::write(&path, p12)?;
    let openssl = std::process::Command::new("openssl")
        .args(["pkcs12", "-in"])
        .arg(&path)
        .args(["-passin", &format!("pass:{password}"), "-nodes", "-noout"])
        .output()?;
    assert!(
        openssl.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&openssl.stderr)
    );
    let nss = dir.join("nssdb");
    std::fs::create_dir_all(&nss)?;
    let db = format!("sql:{}", nss.display());
    let init = std::process::Command::new("certutil")
        .args(["-N", "-d", &db, "--empty-password"])
        .output()?;
    assert!(
        init.status.success(),
        "certutil: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let import = std::process::Command::new("pk12util")
        .arg("-i")
        .arg(&path)
        .args(["-d", &db, "-W", password])
        .output()?;
    assert!(
        import.status.success(),
        "pk12util: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn a_requester_gets_a_working_certificate_package_for_each_platform() -> Result<()> {
    let server = TestServer::start_configured(GENEROUS_LIMITS, &[]).await?;
    let email = "grace@example.com";

    // The public page works without a certificate.
    let mut anonymous = server.connect(None).await?;
    let page = anonymous
        .send(Method::GET, "/request-access", &[("accept", "text/html")], None)
        .await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("name=\"email\"") && page.text().contains("<form"));
    assert_eq!(page.headers["strict-transport-security"], "max-age=31536000");
    assert_eq!(
        page.headers["content-security-policy"]
            .to_str()?
            .split(';')
            .next(),
        Some("default-src 'self'")
    );

    // A second request while one is pending adds nothing and looks the same.
    let first = submit_request(&server, email, "Grace Hopper").await?;
    let second = submit_request(&server, email, "Grace Hopper").await?;
    assert_eq!(
        (first.status, first.json()),
        (StatusCode::ACCEPTED, serde_json::json!({"status": "received"}))
    );
    assert_eq!(
        (second.status, second.body.clone()),
        (first.status, first.body.clone())
    );
    let pending = server
        .cli_ok(&["request", "list", "--state", "pending"], None)
        .await?;
    assert_eq!(pending.matches(email).count(), 1, "{pending}");

    // Approval mails a one-time link, and nothing secret.
    let id = pending_id(&server, email).await?;
    server
        .cli_ok(&["request", "approve", &id.to_string()], None)
        .await?;
    let mail = server.outbox()?.pop().context("no mail")?;
    assert!(
        mail.contains("Your username: grace") && mail.contains("until"),
        "{mail}"
    );
    assert!(!mail.contains("PRIVATE KEY") && !mail.contains("BEGIN CERTIFICATE"));
    let link = find_link(&mail, "/public/download-certs/").context("no link")?;
    let path = path_of(&link);

    // Looking at the link (twice, and HEAD as a mail scanner would) spends nothing.
    let mut browser = server.connect(None).await?;
    let first_look = open_link(&mut browser, &path).await?;
    assert!(first_look.html.contains("Choose your Sightline password"));
    open_link(&mut browser, &path).await?;
    let head = browser.send(Method::HEAD, &path, &[], None).await?;
    assert_eq!(head.status, StatusCode::OK);

    // A weak password is refused and spends nothing either.
    let weak = browser
        .post_form(
            &path,
            &[
                ("csrf", first_look.csrf.as_str()),
                ("platform", "windows"),
                ("password", "grace@example.com"),
                ("password_confirm", "grace@example.com"),
            ],
            Some(&first_look.cookie),
        )
        .await?;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Long enough but easy to guess: zxcvbn's feedback is on the page.
    let guessable = browser
        .post_form(
            &path,
            &[
                ("csrf", first_look.csrf.as_str()),
                ("platform", "windows"),
                ("password", "password12345"),
                ("password_confirm", "password12345"),
            ],
            Some(&first_look.cookie),
        )
        .await?;
    assert_eq!(guessable.status, StatusCode::UNPROCESSABLE_ENTITY);
    let refusal = guessable.text();
    assert!(
        refusal.contains("The password is too easy to guess.")
            && refusal.contains("This is similar to a commonly used password.")
            && refusal.contains("Add another word or two."),
        "{refusal}"
    );
    // Without the CSRF cookie the form is refused.
    let forged = browser
        .post_form(
            &path,
            &[("csrf", first_look.csrf.as_str()), ("platform", "windows")],
            None,
        )
        .await?;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Windows: a .pfx that OpenSSL 3 and NSS open with the shown password.
    let (windows_password, windows_zip) = redeem(&mut browser, &path, "windows", Some(PASSWORD)).await?;
    assert!(windows_password.len() >= 20);
    let files = unzip(&windows_zip)?;
    let pfx = file(&files, "grace.pfx")?;
    let guide = String::from_utf8(file(&files, "INSTALL.txt")?.to_vec())?;
    assert!(guide.contains("certutil -user -p <package password> -importpfx grace.pfx"));
    assert!(!guide.contains(&windows_password));
    check_pkcs12_with_system_tools(server.root.path(), pfx, &windows_password)?;

    // The link is spent: a second POST and a later GET answer 410.
    let again = browser
        .post_form(
            &path,
            &[("csrf", first_look.csrf.as_str()), ("platform", "linux")],
            Some(&first_look.cookie),
        )
        .await?;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text().contains("already been used or has expired"));
    assert_eq!(
        browser.send(Method::GET, &path, &[], None).await?.status,
        StatusCode::GONE
    );

    // The certificate from the .pfx logs in with the password set on the page.
    let windows_identity = Identity::from_pkcs12(pfx, &windows_password)?;
    let mut desktop = server.connect(Some(&windows_identity)).await?;
    let session = first_login(&mut desktop, "grace", PASSWORD).await?;
    let me = desktop
        .get("/native/me", Some(&session.access_token))
        .await?
        .json();
    assert_eq!(me["email"], email);

    // macOS: a new request links the existing account (no password asked).
    let mac_link = approved_link(&server, email).await?;
    let mac_page = open_link(&mut browser, &path_of(&mac_link)).await?;
    assert!(!mac_page.html.contains("Choose your Sightline password"));
    let (mac_password, mac_zip) = redeem(&mut browser, &path_of(&mac_link), "macos", None).await?;
    let mac_files = unzip(&mac_zip)?;
    let p12 = file(&mac_files, "grace.p12")?;
    assert!(String::from_utf8(file(&mac_files, "INSTALL.txt")?.to_vec())?
        .contains("security import grace.p12 -f pkcs12"));
    Identity::from_pkcs12(p12, &mac_password)?;

    // Linux: PEM files, the key 0600 in the zip; the desktop app would use them directly.
    let linux_link = approved_link(&server, email).await?;
    let (_, linux_zip) = redeem(&mut browser, &path_of(&linux_link), "linux", None).await?;
    let linux_files = unzip(&linux_zip)?;
    let key_mode = linux_files
        .iter()
        .find(|(n, _, _)| n == "client.key")
        .and_then(|(_, _, m)| *m)
        .context("mode")?;
    assert_eq!(key_mode & 0o777, 0o600);
    let linux = Identity {
        cert_pem: String::from_utf8(file(&linux_files, "client.crt")?.to_vec())?,
        key_pem: String::from_utf8(file(&linux_files, "client.key")?.to_vec())?,
    };
    assert_eq!(file(&linux_files, "ca.crt")?, server.ca_pem()?.as_bytes());
    let mut linux_conn = server.connect(Some(&linux)).await?;
    assert_eq!(linux_conn.get("/healthz", None).await?.status, StatusCode::OK);

    // Revocation bites at once: the open connection, a resumed session, and new handshakes.
    let serial = sightline_certs::inspect(&windows_identity.cert_der()?)?.serial_hex;
    let resuming_config = server.client_config(Some(&windows_identity))?;
    Connection::open(server.addr, resuming_config.clone())
        .await?
        .get("/healthz", None)
        .await?;
    server
        .cli_ok(&["cert", "revoke", &serial, "--reason", "key-compromise"], None)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = desktop.get("/native/me", Some(&session.access_token)).await;
        match answer {
            Ok(answer) if answer.status == StatusCode::OK => {}
            Ok(answer) => {
                assert_eq!(
                    (answer.status, answer.error_code().as_str()),
                    (StatusCode::FORBIDDEN, "certificate_revoked")
                );
                break;
            }
            Err(_) => break, // the server closed the connection
        }
        assert!(
            Instant::now() < deadline,
            "the open connection was still served 5 s after revocation"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let resumed = async {
        Connection::open(server.addr, resuming_config.clone())
            .await?
            .get("/healthz", None)
            .await
    };
    // TLS skips certificate checks on a resumed session; the server refuses
    // every request on it instead, saying why.
    if let Ok(answer) = resumed.await {
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (StatusCode::FORBIDDEN, "certificate_revoked"),
            "a resumed session of a revoked certificate got through"
        );
    }
    let fresh = async {
        server
            .connect(Some(&windows_identity))
            .await?
            .get("/healthz", None)
            .await
    };
    assert!(
        fresh.await.is_err(),
        "a new handshake with a revoked certificate got through"
    );
    // Other certificates of the same user keep working.
    assert_eq!(
        server
            .connect(Some(&linux))
            .await?
            .get("/healthz", None)
            .await?
            .status,
        StatusCode::OK
    );

    // The CRL lists the serial and is signed by the CA; the CA is published.
    let crl = anonymous.get("/public/crl.pem", None).await?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&crl.body)?;
    let (_, list) = x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents)?;
    let listed: Vec<String> = list
        .iter_revoked_certificates()
        .map(|r| sightline_certs::hex(r.raw_serial()))
        .collect();
    assert!(listed.contains(&serial), "{listed:?}");
    assert_eq!(
        anonymous.get("/public/ca.pem", None).await?.text(),
        server.ca_pem()?
    );
    let certs = server.cli_ok(&["cert", "list"], None).await?;
    assert!(
        certs
            .lines()
            .any(|l| l.starts_with(&serial) && l.contains("revoked (key-compromise)")),
        "{certs}"
    );

    let audit = server.cli_ok(&["audit", "list", "--limit", "200"], None).await?;
    for action in [
        "request.submit",
        "request.approve",
        "cert.issue",
        "cert.download",
        "cert.revoke",
    ] {
        assert!(
            audit.contains(action),
            "{action} missing from the audit trail:\n{audit}"
        );
    }
    assert!(!audit.contains(&windows_password) && !audit.contains(PASSWORD));
    Ok(())
}

#[tokio::test]
async fn rejection_is_mailed_with_the_note() -> Result<()> {
    let server = TestServer::start().await?;
    submit_request(&server, "mallory@example.com", "Mallory").await?;
    let id = pending_id(&server, "mallory@example.com").await?;
    server
        .cli_ok(
            &[
                "request",
                "reject",
                &id.to_string(),
                "--note",
                "Not part of the team",
            ],
            None,
        )
        .await?;
    let mail = server.outbox()?.pop().context("no rejection mail")?;
    assert!(
        mail.contains("was not approved") && mail.contains("Not part of the team"),
        "{mail}"
    );
    assert!(find_link(&mail, "/public/download-certs/").is_none());
    // A decided request cannot be decided again.
    let twice = server.cli(&["request", "approve", &id.to_string()], None).await?;
    assert!(!twice.status.success());
    Ok(())
}

#[tokio::test]
async fn mail_waits_in_the_outbox_while_the_smtp_server_is_down() -> Result<()> {
    let port = free_port()?;
    let mail_config = format!(
        "[mail]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"Sightline <sightline@example.com>\"\nretry_initial_secs = 1\nretry_max_secs = 2\ntimeout_secs = 5"
    );
    let server = TestServer::start_configured(&mail_config, &[]).await?;
    let maildir = server.root.path().join("maildir");
    let start_smtp = || -> Result<std::process::Child> {
        Ok(std::process::Command::new("/usr/bin/python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?)
    };
    let wait_for_mail = |count: usize| {
        let maildir = maildir.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let mails: Vec<String> = std::fs::read_dir(maildir.join("new"))
                    .map(|entries| {
                        entries
                            .filter_map(|e| e.ok())
                            .map(|e| {
                                sightline_tests::decode_mail(&std::fs::read(e.path()).unwrap_or_default())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if mails.len() >= count {
                    return Ok::<_, anyhow::Error>(mails);
                }
                if Instant::now() > deadline {
                    bail!("{} of {count} mails arrived", mails.len());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let wait_for_port = || async {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    let mut smtp = start_smtp()?;
    wait_for_port().await;
    submit_request(&server, "ada@example.com", "Ada").await?;
    server
        .cli_ok(
            &[
                "request",
                "approve",
                &pending_id(&server, "ada@example.com").await?.to_string(),
            ],
            None,
        )
        .await?;
    let mails = wait_for_mail(1).await?;
    assert!(
        mails[0].contains("Your Sightline access is approved"),
        "{}",
        mails[0]
    );
    assert!(find_link(&mails[0], "/public/download-certs/").is_some());

    // The mail server goes away; the approval still succeeds and the mail waits.
    smtp.kill()?;
    smtp.wait()?;
    submit_request(&server, "bob@example.com", "Bob").await?;
    server
        .cli_ok(
            &[
                "request",
                "approve",
                &pending_id(&server, "bob@example.com").await?.to_string(),
            ],
            None,
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db = server.database().await?;
    let queued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL AND attempts > 0")
            .fetch_one(&db)
            .await?;
    assert_eq!(queued, 1);

    // Back up: the server's worker delivers it.
    let mut smtp = start_smtp()?;
    let mails = wait_for_mail(2).await;
    smtp.kill()?;
    let mails = mails?;
    assert!(mails.iter().any(|m| m.contains("To: bob@example.com")));
    let delivered_body: Vec<u8> =
        sqlx::query_scalar("SELECT message FROM mail_outbox WHERE recipient = 'bob@example.com'")
            .fetch_one(&db)
            .await?;
    assert!(
        delivered_body.is_empty(),
        "a delivered message is cleared from the database"
    );
    Ok(())
}

#[tokio::test]
async fn bad_requests_and_bad_links_are_refused_clearly() -> Result<()> {
    let server = TestServer::start().await?;
    let mut anonymous = server.connect(None).await?;
    let post = |body: serde_json::Value| {
        let server = &server;
        async move {
            server
                .connect(None)
                .await?
                .post_json("/public/request-access", &body, None)
                .await
        }
    };

    let invalid = post(serde_json::json!({"email": "not-an-address", "name": "X"})).await?;
    assert_eq!(
        (invalid.status, invalid.error_code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email")
    );
    // An address lettre cannot mail is refused here, not at approval, from
    // the API and from the page's form alike.
    let angle = post(serde_json::json!({"email": "a<b@x.com", "name": "X"})).await?;
    assert_eq!(
        (angle.status, angle.error_code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email")
    );
    let angle_form = anonymous
        .post_form(
            "/public/request-access",
            &[("email", "a<b@x.com"), ("name", "X")],
            None,
        )
        .await?;
    assert_eq!(angle_form.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        angle_form.text().contains("Please enter a valid e-mail address."),
        "{}",
        angle_form.text()
    );
    let long_name = post(serde_json::json!({"email": "a@example.com", "name": "x".repeat(201)})).await?;
    assert_eq!(long_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    let huge = post(serde_json::json!({"email": "a@example.com", "name": "x", "reason": "y".repeat(20_000)}))
        .await?;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let not_utf8 = anonymous
        .send(
            Method::POST,
            "/public/request-access",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "text/html"),
            ],
            Some(b"email=a%40example.com&name=%FF%FE".to_vec()),
        )
        .await?;
    assert!(not_utf8.status.is_client_error(), "{}", not_utf8.status);

    // Markup is kept as given and escaped when shown.
    let markup = anonymous
        .post_form(
            "/public/request-access",
            &[("email", "bad"), ("name", "<script>alert(1)</script>")],
            None,
        )
        .await?;
    assert_eq!(markup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        markup.text().contains("alert(1)") && !markup.text().contains("<script>alert"),
        "{}",
        markup.text()
    );
    let stored = post(
        serde_json::json!({"email": "eve@example.com", "name": "<b>Eve</b>", "reason": "<script>x</script>"}),
    )
    .await?;
    assert_eq!(stored.status, StatusCode::ACCEPTED);
    assert!(server
        .cli_ok(&["request", "list"], None)
        .await?
        .contains("<b>Eve</b>"));

    // Rate limits: per address (10 an hour by default) and per e-mail (3).
    for _ in 0..2 {
        assert_eq!(
            post(serde_json::json!({"email": "flood@example.com", "name": "F"}))
                .await?
                .status,
            StatusCode::ACCEPTED
        );
    }
    let limited = loop {
        let answer = post(serde_json::json!({"email": "flood@example.com", "name": "F"})).await?;
        if answer.status != StatusCode::ACCEPTED {
            break answer;
        }
    };
    assert_eq!(
        (limited.status, limited.error_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(limited.headers.contains_key("retry-after"));
    let mut by_address = None;
    for n in 0..20 {
        let answer =
            post(serde_json::json!({"email": format!("person{n}@example.com"), "name": "P"})).await?;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            by_address = Some(n);
            break;
        }
    }
    assert!(by_address.is_some(), "the per-address limit never applied");

    // Garbage, truncated and expired links: readable pages, no crash.
    let garbage = anonymous
        .send(
            Method::GET,
            "/public/download-certs/%00%FF%27%22%3Cx%3E",
            &[],
            None,
        )
        .await?;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);
    assert!(garbage.text().contains("This link is not valid"));
    let id: i64 = sqlx::query_scalar("SELECT id FROM access_requests WHERE email = 'eve@example.com'")
        .fetch_one(&server.database().await?)
        .await?;
    server
        .cli_ok(&["request", "approve", &id.to_string()], None)
        .await?;
    let link = find_link(
        &server.outbox()?.pop().context("mail")?,
        "/public/download-certs/",
    )
    .context("link")?;
    let path = path_of(&link);
    let truncated = anonymous.get(&path[..path.len() - 1], None).await?;
    assert_eq!(truncated.status, StatusCode::NOT_FOUND);
    sqlx::query("UPDATE download_links SET expires_at = 0")
        .execute(&server.database().await?)
        .await?;
    let expired = anonymous.get(&path, None).await?;
    assert_eq!(expired.status, StatusCode::GONE);

    // Unknown and expired tokens take about the same time.
    let unknown_path = format!("/public/download-certs/{}", "A".repeat(43));
    let mut unknown_times = Vec::new();
    let mut expired_times = Vec::new();
    for _ in 0..15 {
        for (target, times) in [(&unknown_path, &mut unknown_times), (&path, &mut expired_times)] {
            let started = Instant::now();
            anonymous.get(target, None).await?;
            times.push(started.elapsed());
        }
    }
    unknown_times.sort();
    expired_times.sort();
    let (unknown, expired) = (unknown_times[7], expired_times[7]);
    let gap = unknown.abs_diff(expired);
    assert!(
        gap < Duration::from_millis(5),
        "median unknown {unknown:?} vs expired {expired:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_disabled_accounts_link_hands_out_nothing() -> Result<()> {
    let server = TestServer::start().await?;
    let link = approved_link(&server, "leaver@example.com").await?;
    let mut browser = server.connect(None).await?;
    assert_eq!(browser.get(&path_of(&link), None).await?.status, StatusCode::OK);
    server.cli_ok(&["user", "disable", "leaver"], None).await?;
    let gone = browser.get(&path_of(&link), None).await?;
    assert_eq!(gone.status, StatusCode::GONE);
    // Re-enabling does not revive the link: it was spent when the account was disabled.
    server.cli_ok(&["user", "enable", "leaver"], None).await?;
    assert_eq!(browser.get(&path_of(&link), None).await?.status, StatusCode::GONE);
    Ok(())
}
