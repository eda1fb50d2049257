//! The desktop core (`sightline-client`) against the real server: login with
//! TOTP, token refresh, streamed answers, and each refusal mapped to the
//! status the sidebar shows.

use anyhow::{Context, Result};
use sightline_client::api::{ApiClient, Attachment};
use sightline_client::identity::Identity;
use sightline_client::status::ConnectionStatus;
use sightline_client::ClientError;
use sightline_proto::{ErrorCode, Secret, StreamEvent};
use sightline_tests::stub::{Behaviour, StubProvider};
use sightline_tests::{free_port, totp, TestServer};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "maple-cobalt-lantern";

fn url(server: &TestServer) -> String {
    format!("https://localhost:{}", server.addr.port())
}

/// Issues a certificate through the CLI and loads it as the app would.
async fn identity(server: &TestServer, username: &str) -> Result<Identity> {
    let dir = server
        .root
        .path()
        .join(format!("app-{username}-{}", free_port()?));
    server
        .cli_ok(
            &[
                "cert",
                "issue",
                "--user",
                username,
                "--out",
                dir.to_str().context("path")?,
            ],
            None,
        )
        .await?;
    Ok(Identity::from_pem_files(
        &dir.join("client.crt"),
        &dir.join("client.key"),
        &dir.join("ca.crt"),
    )?)
}

async fn logged_in(client: &ApiClient, username: &str) -> Result<Vec<Secret>> {
    let challenge = client.login(username, Secret::new(PASSWORD)).await?;
    let enrollment = challenge.enrollment.context("first login enrols")?;
    let secret = totp::secret_from_uri(&enrollment.otpauth_uri)?;
    let code = totp::code_at(&secret, time::OffsetDateTime::now_utc().unix_timestamp());
    client
        .verify(&challenge.challenge, &code)
        .await?
        .context("recovery codes on enrolment")
}

#[tokio::test]
async fn the_app_logs_in_refreshes_and_streams_answers() -> Result<()> {
    let stub = StubProvider::start().await?;
    let config = format!(
        "[auth]\naccess_token_ttl_secs = 2\n\n[[providers]]\nid = \"stub\"\nkind = \"openai\"\nbase_url = \"{}\"\ndefault_model = \"m\"\n",
        stub.base_url()
    );
    let server = TestServer::start_configured(&config, &[]).await?;
    server.add_mode("Ask", "chat", "stub", &[]).await?;
    server.add_mode("Polish", "rewrite", "stub", &[]).await?;
    server.add_account("ada", PASSWORD).await?;

    // The client's clock runs far behind, so it never refreshes early: the
    // server's "token_expired" must make it refresh and retry by itself.
    let lag = Arc::new(AtomicI64::new(-10_000));
    let clock_lag = lag.clone();
    let client =
        ApiClient::new(&url(&server), &identity(&server, "ada").await?)?.with_clock(Arc::new(move || {
            time::OffsetDateTime::now_utc().unix_timestamp() + clock_lag.load(Ordering::Relaxed)
        }));
    client.check().await?;
    assert!(!client.logged_in().await);
    assert!(matches!(client.me().await, Err(ClientError::LoginNeeded)));

    let recovery = logged_in(&client, "ada").await?;
    assert_eq!(recovery.len(), 10);
    assert_eq!(client.me().await?.username, "ada");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        client.me().await?.username,
        "ada",
        "refreshed after the server said the token expired"
    );

    // With the clock right, it refreshes before expiry instead.
    lag.store(0, Ordering::Relaxed);
    assert_eq!(client.me().await?.email, "ada@example.com");

    let modes = client.modes().await?;
    assert!(modes.iter().any(|m| m.id == "ask"));
    stub.set(Behaviour {
        deltas: vec!["A ".into(), "cat".into()],
        ..Behaviour::default()
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(8, 8).write_to(&mut png, image::ImageFormat::Png)?;
    let mut events = client
        .analyze(
            Some(Attachment {
                bytes: png.into_inner().into(),
                file_name: "shot.png".into(),
                mime: "image/png",
                redaction: Default::default(),
                trigger: None,
            }),
            "What is it?",
            "ask",
        )
        .await?;
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        seen.push(event?);
    }
    assert_eq!(seen[0], StreamEvent::Delta { text: "A ".into() });
    assert_eq!(seen[1], StreamEvent::Delta { text: "cat".into() });
    assert!(matches!(seen[2], StreamEvent::Done { .. }));

    stub.set(Behaviour {
        deltas: vec!["Polished.".into()],
        ..Behaviour::default()
    });
    assert_eq!(
        client
            .rewrite("polish me", None, "polish")
            .await?
            .collect_text()
            .await?,
        "Polished."
    );
    let wrong = client.rewrite("x", None, "ask").await;
    assert!(
        matches!(
            wrong,
            Err(ClientError::Api {
                code: ErrorCode::WrongModeKind,
                ..
            })
        ),
        "{wrong:?}"
    );

    client.logout().await?;
    assert!(matches!(client.me().await, Err(ClientError::LoginNeeded)));

    // A package's PKCS#12 works as well as the PEM files.
    let ca = std::fs::read_to_string(server.data_dir.join("ca/ca.crt"))?;
    let pem = identity(&server, "ada").await?;
    let issued_der = rustls_pki_types::pem::PemObject::from_pem_slice(pem.cert_pem().as_bytes())
        .map(|d: rustls_pki_types::CertificateDer<'static>| d.to_vec())?;
    let password = sightline_certs::package::PackagePassword::from_random([3; 15]);
    let ca_der: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(ca.as_bytes())?;
    let key = sightline_certs::PrivateKeyPem::new(pem.key_pem().expose().to_owned());
    let p12 = sightline_certs::package::pkcs12(&sightline_certs::package::PackageInput {
        username: "ada",
        email: "ada@example.com",
        cert_pem: pem.cert_pem(),
        cert_der: &issued_der,
        key_pem: &key,
        ca_pem: &ca,
        ca_der: &ca_der,
        server_anchor_pem: None,
        server_url: &url(&server),
        password: &password,
        now: time::OffsetDateTime::now_utc(),
    })?;
    let from_p12 = Identity::from_pkcs12(&p12, password.expose())?;
    assert_eq!(from_p12.ca_fingerprint(), pem.ca_fingerprint());
    ApiClient::new(&url(&server), &from_p12)?.check().await?;
    assert!(matches!(
        Identity::from_pkcs12(&p12, "wrong"),
        Err(ClientError::Invalid { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn refusals_become_the_statuses_the_sidebar_shows() -> Result<()> {
    let server = TestServer::start().await?;
    server.add_account("ada", PASSWORD).await?;
    let ada = identity(&server, "ada").await?;

    // Nothing listening: unreachable, and worth retrying.
    let nowhere = ApiClient::new(&format!("https://localhost:{}", free_port()?), &ada)?;
    let error = nowhere.check().await.unwrap_err();
    assert_eq!(error, ClientError::ServerUnreachable);
    assert_eq!(
        ConnectionStatus::after(&error),
        (ConnectionStatus::ServerUnreachable, true)
    );

    // Another server with another CA: not trusted, and not retried.
    let other = TestServer::start().await?;
    let error = ApiClient::new(&url(&other), &ada)?.check().await.unwrap_err();
    assert!(matches!(error, ClientError::ServerNotTrusted { .. }), "{error:?}");
    assert!(!ConnectionStatus::after(&error).1, "not worth retrying");

    // A disabled account: the session ends, log in needed.
    let client = ApiClient::new(&url(&server), &ada)?;
    logged_in(&client, "ada").await?;
    server.cli_ok(&["user", "disable", "ada"], None).await?;
    let error = client.me().await.unwrap_err();
    assert_eq!(
        ConnectionStatus::after(&error),
        (ConnectionStatus::LoginNeeded, false)
    );
    server.cli_ok(&["user", "enable", "ada"], None).await?;

    // A revoked certificate: on the open connection and on new ones.
    let serial = {
        let der: rustls_pki_types::CertificateDer<'static> =
            rustls_pki_types::pem::PemObject::from_pem_slice(ada.cert_pem().as_bytes())?;
        sightline_certs::inspect(&der)?.serial_hex
    };
    server.cli_ok(&["cert", "revoke", &serial], None).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let error = client.check().await.unwrap_err();
    assert_eq!(error, ClientError::CertificateRevoked, "{error:?}");
    assert_eq!(
        ConnectionStatus::after(&error),
        (ConnectionStatus::CertificateRevoked, false)
    );
    let fresh = ApiClient::new(&url(&server), &ada)?.check().await.unwrap_err();
    assert_eq!(fresh, ClientError::CertificateRevoked);
    assert!(ConnectionStatus::CertificateRevoked
        .describe()
        .contains("revoked"));
    Ok(())
}

#[tokio::test]
async fn managed_setup_imports_each_kind_of_package() -> Result<()> {
    use sightline_certs::package::{self, PackageInput, PackagePassword, Platform};
    use sightline_client::setup::{managed_setup, read_package};
    use sightline_client::store::{SecretBackend, Store};

    let server = TestServer::start().await?;
    server.add_account("ada", PASSWORD).await?;
    let issued = identity(&server, "ada").await?;
    let cert_der: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(issued.cert_pem().as_bytes())?;
    let ca_der: rustls_pki_types::CertificateDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(issued.ca_pem().as_bytes())?;
    let key = sightline_certs::PrivateKeyPem::new(issued.key_pem().expose().to_owned());
    let password = PackagePassword::from_random([11; 15]);
    let input = PackageInput {
        username: "ada",
        email: "ada@example.com",
        cert_pem: issued.cert_pem(),
        cert_der: &cert_der,
        key_pem: &key,
        ca_pem: issued.ca_pem(),
        ca_der: &ca_der,
        server_anchor_pem: None,
        server_url: &url(&server),
        password: &password,
        now: time::OffsetDateTime::now_utc(),
    };
    let work = server.root.path().join("packages");
    std::fs::create_dir_all(&work)?;
    let linux = work.join("sightline-ada-linux.zip");
    std::fs::write(&linux, package::build(Platform::Linux, &input)?.zip)?;
    let windows = work.join("sightline-ada-windows.zip");
    std::fs::write(&windows, package::build(Platform::Windows, &input)?.zip)?;

    // The Linux zip needs no password; the Windows one does.
    read_package(&linux, None)?;
    assert!(matches!(
        read_package(&windows, None),
        Err(ClientError::Invalid { .. })
    ));
    assert!(matches!(
        read_package(&windows, Some("wrong")),
        Err(ClientError::Invalid { .. })
    ));
    let garbage = work.join("garbage.zip");
    std::fs::write(&garbage, b"not a zip")?;
    assert!(matches!(
        read_package(&garbage, None),
        Err(ClientError::Invalid { .. })
    ));

    for (package, secret) in [(&linux, None), (&windows, Some(password.expose()))] {
        let home = tempfile::tempdir()?;
        let store = Store::open(&home.path().join("sightline"), false);
        let settings = home.path().join("sightline/settings.json");
        let outcome = managed_setup(&store, &settings, &url(&server), package, secret)?;
        assert_eq!(outcome.ca_fingerprint, issued.ca_fingerprint());
        assert!(
            matches!(outcome.secrets, SecretBackend::File { .. }),
            "reported, not hidden"
        );
        // The next start finds the server and the certificate, and reaches the login.
        let saved = sightline_client::settings::Settings::load(&settings)?;
        assert_eq!(saved.server_url.as_deref(), Some(url(&server).as_str()));
        let identity = store.load_identity()?.context("identity saved")?;
        let client = ApiClient::new(saved.server_url.as_deref().unwrap_or_default(), &identity)?;
        client.check().await?;
        assert!(matches!(client.me().await, Err(ClientError::LoginNeeded)));
        use std::os::unix::fs::PermissionsExt;
        let key_mode = std::fs::metadata(home.path().join("sightline/secrets/client-key"))?
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(key_mode, 0o600);
    }
    assert!(matches!(
        managed_setup(
            &Store::open(&work.join("x"), false),
            &work.join("x/s.json"),
            "http://plain",
            &linux,
            None
        ),
        Err(ClientError::Invalid { .. })
    ));
    Ok(())
}
