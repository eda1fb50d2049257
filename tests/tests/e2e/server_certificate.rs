//! The server's own certificate, as a client meets it: the Sightline CA's,
//! renewed on demand without a restart; or an operator's own chain (a
//! company CA here), served and replaced without a restart while client
//! certificates are still checked against the Sightline CA only, and
//! trusted by a desktop set up from a package that names its anchor.

use anyhow::Result;
use sightline_certs::{CertificateAuthority, Serial, Validity};
use sightline_client::desktop::onboarding::ImportRequest;
use sightline_client::desktop::Desktop;
use sightline_tests::provision::{approved_link, path_of, redeem};
use sightline_tests::{client_config, Connection, Identity, TestServer};
use std::path::Path;
use std::time::{Duration, Instant};

/// The server's own certificate: `cert rotate-server` renews it for the
/// same names; new connections get it within seconds, with no restart,
/// and a connection that was open goes on.
#[tokio::test]
async fn the_server_certificate_renews_without_a_restart() -> Result<()> {
    let server = TestServer::start().await?;
    let config = server.client_config(None)?;
    let mut open = Connection::open(server.addr, config.clone()).await?;
    let before = open.server_certificate()?;
    // New deployments get 90-day server certificates.
    let days = (before.not_after - before.not_before).whole_days();
    assert_eq!(days, 90, "{before:?}");
    assert_eq!(open.get("/healthz", None).await?.status, 200);

    let said = server.cli_ok(&["cert", "rotate-server"], None).await?;
    assert!(said.contains("valid until"), "{said}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        // A configuration of its own: a resumed session would show the
        // certificate of the session it resumes.
        let fresh = Connection::open(server.addr, server.client_config(None)?).await?;
        let info = fresh.server_certificate()?;
        if info.serial_hex != before.serial_hex {
            break info;
        }
        assert!(Instant::now() < deadline, "the renewed certificate is not served");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(said.contains(&after.serial_hex), "{said}");
    assert!(after.not_after >= before.not_after);
    // The connection from before the renewal still answers.
    assert_eq!(open.get("/healthz", None).await?.status, 200);
    Ok(())
}

/// Writes a certificate for `localhost` from `company` as the files an
/// ACME client or a company CA's tooling would: the key first, then the
/// chain, each renamed into place.
fn write_operator_pair(company: &CertificateAuthority, dir: &Path, serial: u8) -> Result<String> {
    let now = time::OffsetDateTime::now_utc();
    let leaf = company.issue_server(
        &["localhost".into()],
        Validity::days_from(now, 30),
        Serial::from_random([serial; 16]),
    )?;
    // The chain ends with the CA's certificate: its anchor for packages.
    let chain = format!("{}{}", leaf.cert_pem, company.cert_pem());
    for (name, text) in [
        ("privkey.pem", leaf.key_pem.expose().to_owned()),
        ("fullchain.pem", chain),
    ] {
        let staging = dir.join(format!("{name}.new"));
        std::fs::write(&staging, text)?;
        std::fs::rename(&staging, dir.join(name))?;
    }
    Ok(leaf.info.serial_hex)
}

#[tokio::test]
async fn an_operators_own_chain_is_served_and_replaced_without_a_restart() -> Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let company = CertificateAuthority::create(
        "Example Corp Root",
        Validity::days_from(now, 365),
        Serial::from_random([9; 16]),
    )?;
    let files = tempfile::tempdir()?;
    let first = write_operator_pair(&company, files.path(), 0x21)?;
    let config = format!(
        "[tls]\ncertificate_file = \"{}\"\nkey_file = \"{}\"\n",
        files.path().join("fullchain.pem").display(),
        files.path().join("privkey.pem").display()
    );
    let mut server = TestServer::start_configured(&config, &[]).await?;
    server.server_anchor = Some(company.cert_pem());
    let ada = server.add_user("ada", "juniper-quartz-meadow").await?;

    // A client that trusts the company CA (as browsers on its machines do)
    // gets the operator's chain, and the Sightline certificate is accepted.
    let trusting_the_company = || client_config(&company.cert_pem(), Some(&ada));
    let mut open = Connection::open(server.addr, trusting_the_company()?).await?;
    assert_eq!(open.server_certificate()?.serial_hex, first);
    let answer = open.get("/native/modes", None).await?;
    assert_eq!(
        answer.error_code(),
        "missing_token",
        "the certificate was accepted: {}",
        answer.text()
    );
    // A client certificate from the company CA is not a Sightline one.
    let stranger = company.issue_client(
        "mallory",
        "mallory@example.com",
        Validity::days_from(now, 1),
        Serial::from_random([5; 16]),
    )?;
    let stranger = Identity {
        cert_pem: stranger.cert_pem.clone(),
        key_pem: stranger.key_pem.expose().to_owned(),
    };
    let refused = async {
        let mut conn =
            Connection::open(server.addr, client_config(&company.cert_pem(), Some(&stranger))?).await?;
        conn.get("/native/modes", None).await
    }
    .await;
    assert!(
        refused.is_err(),
        "a foreign client certificate was accepted: {:?}",
        refused.map(|a| a.status)
    );

    // The files are replaced (a renewal by their own tooling): new
    // connections get the new certificate, the open one goes on.
    let second = write_operator_pair(&company, files.path(), 0x22)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let fresh = Connection::open(server.addr, trusting_the_company()?).await?;
        if fresh.server_certificate()?.serial_hex == second {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replaced certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(open.get("/healthz", None).await?.status, 200);

    // A package from the real flow carries the chain's anchor, and the
    // desktop set up from it connects; one that trusts only the Sightline
    // CA is told the server is not trusted.
    let link = approved_link(&server, "grace@example.com").await?;
    let mut browser = server.connect(None).await?;
    let (_, zip) = redeem(
        &mut browser,
        &path_of(&link),
        "linux",
        Some("juniper-quartz-meadow"),
    )
    .await?;
    let home = tempfile::tempdir()?;
    let package = home.path().join("sightline-grace-linux.zip");
    std::fs::write(&package, &zip)?;
    let names: Vec<String> = {
        let archive = zip::ZipArchive::new(std::io::Cursor::new(zip))?;
        archive
            .file_names()
            .filter_map(Result::ok)
            .map(|n| n.into_owned())
            .collect()
    };
    assert!(names.iter().any(|n| n.ends_with("/server-ca.crt")), "{names:?}");
    let read = sightline_client::setup::read_package(&package, None)?;
    assert_eq!(
        read.ca_pem().matches("BEGIN CERTIFICATE").count(),
        2,
        "{}",
        read.ca_pem()
    );
    let url = format!("https://localhost:{}", server.addr.port());
    let desktop = Desktop::open(&home.path().join("config"), false).await?;
    desktop
        .import_package(ImportRequest {
            server_url: url.clone(),
            path: package.to_string_lossy().into_owned(),
            password: None,
            trusted_ca_pem: None,
        })
        .await?;
    desktop.check_connection().await?;
    let stored = std::fs::read_to_string(home.path().join("config").join("ca.crt"))?;
    assert_eq!(stored.matches("BEGIN CERTIFICATE").count(), 2, "{stored}");
    let pinned =
        sightline_client::identity::Identity::from_pem(&ada.cert_pem, &ada.key_pem, &server.ca_pem()?)?;
    let refused = sightline_client::api::ApiClient::new(&url, &pinned)?
        .check()
        .await
        .unwrap_err();
    assert!(
        matches!(refused, sightline_client::ClientError::ServerNotTrusted { .. }),
        "{refused:?}"
    );

    // The server does not renew a chain it did not make.
    let rotate = server.cli(&["cert", "rotate-server"], None).await?;
    assert!(!rotate.status.success());
    assert!(
        String::from_utf8_lossy(&rotate.stderr).contains("operator's chain"),
        "{rotate:?}"
    );
    Ok(())
}
