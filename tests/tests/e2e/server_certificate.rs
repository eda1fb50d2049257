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

/// `[tls]` naming the operator's files in `dir`.
fn tls_config(dir: &Path) -> String {
    format!(
        "[tls]\ncertificate_file = \"{}\"\nkey_file = \"{}\"\n",
        dir.join("fullchain.pem").display(),
        dir.join("privkey.pem").display()
    )
}

/// A Linux package for `email` from the real flow (request, approval,
/// one-time link), written into `dir`.
async fn linux_package(server: &TestServer, email: &str, dir: &Path) -> Result<std::path::PathBuf> {
    let link = approved_link(server, email).await?;
    let mut browser = server.connect(None).await?;
    let (_, zip) = redeem(
        &mut browser,
        &path_of(&link),
        "linux",
        Some("juniper-quartz-meadow"),
    )
    .await?;
    let package = dir.join("sightline-linux.zip");
    std::fs::write(&package, zip)?;
    Ok(package)
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
    let mut server = TestServer::start_configured(&tls_config(files.path()), &[]).await?;
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
    let home = tempfile::tempdir()?;
    let package = linux_package(&server, "grace@example.com", home.path()).await?;
    let zip = std::fs::read(&package)?;
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

/// A CA certificate for the public-CA look-alike: a root and its
/// intermediates.
fn ca_params(name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Writes a `localhost` certificate from `issuer` with the chain
/// certbot's `fullchain.pem` has: the certificate, then the intermediate.
fn write_public_pair(issuer: &rcgen::Certificate, issuer_key: &rcgen::KeyPair, dir: &Path) -> Result<String> {
    let key = rcgen::KeyPair::generate()?;
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, issuer, issuer_key)?;
    let chain = format!("{}{}", leaf.pem(), issuer.pem());
    for (name, text) in [("privkey.pem", key.serialize_pem()), ("fullchain.pem", chain)] {
        let staging = dir.join(format!("{name}.new"));
        std::fs::write(&staging, text)?;
        std::fs::rename(&staging, dir.join(name))?;
    }
    Ok(sightline_certs::inspect(leaf.der())?.serial_hex)
}

/// A chain from a public CA (a look-alike made here: a root and two
/// intermediates): the package names the intermediate, and when the CA
/// moves to another intermediate the desktop still trusts the server
/// through the root in the system's trust store — and only through it.
#[tokio::test]
async fn a_public_chain_is_trusted_through_the_system_store_when_its_intermediate_changes() -> Result<()> {
    let root_key = rcgen::KeyPair::generate()?;
    let root = ca_params("Public Root X1").self_signed(&root_key)?;
    let first_key = rcgen::KeyPair::generate()?;
    let first = ca_params("Public R10").signed_by(&first_key, &root, &root_key)?;
    let second_key = rcgen::KeyPair::generate()?;
    let second = ca_params("Public R11").signed_by(&second_key, &root, &root_key)?;
    let files = tempfile::tempdir()?;
    write_public_pair(&first, &first_key, files.path())?;
    let mut server = TestServer::start_configured(&tls_config(files.path()), &[]).await?;
    server.server_anchor = Some(root.pem());

    let home = tempfile::tempdir()?;
    let package = linux_package(&server, "pat@example.com", home.path()).await?;

    // The CA changes intermediates.
    let renewed = write_public_pair(&second, &second_key, files.path())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Connection::open(server.addr, server.client_config(None)?)
        .await?
        .server_certificate()?
        .serial_hex
        != renewed
    {
        assert!(Instant::now() < deadline, "the new chain is not served");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The desktop sets up from the package, with the system's trust store
    // as given (`SSL_CERT_FILE` is where the store is read from; only a
    // client whose package names an intermediate reads it).
    let url = format!("https://localhost:{}", server.addr.port());
    let with_root = home.path().join("with-root.pem");
    std::fs::write(&with_root, root.pem())?;
    let empty = home.path().join("empty.pem");
    std::fs::write(&empty, "")?;
    let request = || ImportRequest {
        server_url: url.clone(),
        path: package.to_string_lossy().into_owned(),
        password: None,
        trusted_ca_pem: None,
    };
    std::env::set_var("SSL_CERT_FILE", &with_root);
    let trusted = Desktop::open(&home.path().join("a"), false).await?;
    let outcome = trusted.import_package(request()).await;
    std::env::set_var("SSL_CERT_FILE", &empty);
    let pinned = Desktop::open(&home.path().join("b"), false).await?;
    let refused = pinned.import_package(request()).await;
    std::env::remove_var("SSL_CERT_FILE");
    outcome?;
    assert!(
        matches!(
            refused,
            Err(sightline_client::ClientError::ServerNotTrusted { .. })
        ),
        "trusted without the root: {:?}",
        refused.map(|o| o.stage)
    );
    Ok(())
}
