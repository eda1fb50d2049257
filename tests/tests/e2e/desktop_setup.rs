//! Setting the desktop app up without the sidebar's page: the managed
//! `--import` set-up from the command line, and a package without the
//! server's CA, which is fetched and trusted only by its fingerprint.

use anyhow::{Context, Result};
use sightline_tests::display::app_binary;
use sightline_tests::provision::{approved_link, path_of, redeem};
use sightline_tests::TestServer;

const PASSWORD: &str = "quartz-heron-meadow";

/// `sightline --server URL --import PACKAGE --password-stdin` stores what
/// the onboarding would, so the next start shows the login.
#[tokio::test]
async fn managed_set_up_from_the_command_line() -> Result<()> {
    let server = TestServer::start_configured(
        "[provisioning]\nrequests_per_email_per_hour = 50\nrequests_per_address_per_hour = 50\n",
        &[],
    )
    .await?;
    let link = approved_link(&server, "lin@example.com").await?;
    let mut browser = server.connect(None).await?;
    let (package_password, zip) = redeem(&mut browser, &path_of(&link), "macos", Some(PASSWORD)).await?;
    let home = tempfile::tempdir()?;
    let package = home.path().join("sightline-lin-macos.zip");
    std::fs::write(&package, zip)?;
    let config_dir = home.path().join("config");
    let url = format!("https://localhost:{}", server.addr.port());

    let run = |password: &str| {
        let mut command = tokio::process::Command::new(app_binary().unwrap());
        command
            .args(["--server", &url, "--import"])
            .arg(&package)
            .arg("--password-stdin")
            .env("SIGHTLINE_CONFIG_DIR", &config_dir)
            .env_remove("DISPLAY")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let password = format!("{password}\n");
        async move {
            use tokio::io::AsyncWriteExt;
            let mut child = command.spawn()?;
            child
                .stdin
                .take()
                .context("stdin")?
                .write_all(password.as_bytes())
                .await?;
            anyhow::Ok(child.wait_with_output().await?)
        }
    };

    // A wrong password changes nothing and says why.
    let wrong = run("not-the-password").await?;
    assert!(!wrong.status.success());
    assert!(!config_dir.join("settings.json").exists());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("password"),
        "{wrong:?}"
    );

    let done = run(&package_password).await?;
    assert!(done.status.success(), "{done:?}");
    let stdout = String::from_utf8_lossy(&done.stdout);
    let fingerprint = sightline_client::identity::ca_fingerprint(&server.ca_pem()?).context("CA")?;
    assert!(stdout.contains(&fingerprint), "{stdout}");

    let desktop = sightline_client::desktop::Desktop::open(&config_dir, false).await?;
    let overview = desktop.overview().await;
    assert_eq!(overview.stage, sightline_client::desktop::Stage::Login);
    assert_eq!(overview.server_url.as_deref(), Some(url.as_str()));
    desktop.check_connection().await?;
    Ok(())
}

/// A PEM trio without `ca.crt`: the CA is fetched from the server, shown by
/// fingerprint, and trusted only once the user accepts it.
#[tokio::test]
async fn onboarding_without_a_ca_in_the_package() -> Result<()> {
    use sightline_client::desktop::onboarding::ImportRequest;
    use sightline_client::desktop::{Desktop, Stage};
    use sightline_client::ClientError;
    let server = TestServer::start().await?;
    server.add_user("bo", PASSWORD).await?;
    let home = tempfile::tempdir()?;
    let certs = home.path().join("certs");
    server
        .cli_ok(
            &[
                "cert",
                "issue",
                "--user",
                "bo",
                "--out",
                certs.to_str().context("path")?,
            ],
            None,
        )
        .await?;
    std::fs::remove_file(certs.join("ca.crt"))?;
    let url = format!("https://localhost:{}", server.addr.port());
    let desktop = Desktop::open(&home.path().join("config"), false).await?;
    let request = |ca: Option<String>| ImportRequest {
        server_url: url.clone(),
        path: certs.join("client.crt").to_string_lossy().into_owned(),
        password: None,
        trusted_ca_pem: ca,
    };

    let missing = desktop.import_package(request(None)).await.unwrap_err();
    assert!(
        matches!(&missing, ClientError::Invalid { detail, .. } if detail.contains("ca.crt")),
        "{missing:?}"
    );
    let preview = desktop.fetch_server_ca(&url).await?;
    assert_eq!(
        Some(preview.fingerprint.clone()),
        sightline_client::identity::ca_fingerprint(&server.ca_pem()?)
    );
    // A CA from elsewhere is not the one that signed the server: refused
    // before anything is kept.
    let stranger = TestServer::start().await?;
    let refused = desktop
        .import_package(request(Some(stranger.ca_pem()?)))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::ServerNotTrusted { .. }),
        "{refused:?}"
    );
    assert_eq!(desktop.overview().await.stage, Stage::Onboarding);

    let overview = desktop.import_package(request(Some(preview.pem))).await?;
    assert_eq!(overview.stage, Stage::Login);
    assert_eq!(overview.ca_fingerprint, Some(preview.fingerprint));
    Ok(())
}
