//! The server's Debian package as an operator meets it: built by
//! `scripts/package-server` from the binary the other tests run, installed
//! with dpkg into an empty directory that stands for a new machine, `init`
//! run there as the service's user, the unit checked by systemd's own
//! verifier, and the package purged again.
//!
//! dpkg works on the directory through `--root`; an empty directory has no
//! shell to chroot into, so the maintainer scripts run from here with
//! `DPKG_ROOT` naming it (`--force-script-chrootless`), as they would for
//! an image built from outside. Run as root (as CI does), the user and the
//! ownership are checked too; otherwise dpkg and the scripts do what an
//! unprivileged user can and the test checks that much.

use anyhow::{ensure, Context, Result};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PACKAGE: &str = "sightline-server";
const UNIT: &str = "sightline-server.service";

/// What the package installs, with the mode each file must have.
const FILES: &[(&str, u32)] = &[
    ("usr/bin/sightline-server", 0o755),
    ("usr/lib/systemd/system/sightline-server.service", 0o644),
    ("usr/lib/sysusers.d/sightline-server.conf", 0o644),
    ("usr/lib/tmpfiles.d/sightline-server.conf", 0o644),
    ("usr/share/doc/sightline-server/privileged-port.conf", 0o644),
    // The service's environment is where secrets go: root's only.
    ("etc/sightline/sightline-server.env", 0o600),
];

#[test]
fn the_server_package_installs_into_an_empty_root_and_its_unit_verifies() -> Result<()> {
    let as_root = is_root()?;
    let deb = build_package()?;
    check_control_fields(&deb)?;

    let dir = tempfile::tempdir()?;
    // The service's user must be able to reach its state directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let root = dir.path();
    prepare_dpkg_database(root)?;
    run(dpkg(root, as_root).arg("--install").arg(&deb))?;
    assert_eq!(query(root, "${Status}")?, "install ok installed");
    assert!(
        query(root, "${Conffiles}")?.contains("/etc/sightline/sightline-server.env"),
        "the environment file is not a conffile"
    );

    for (path, mode) in FILES {
        let meta = std::fs::metadata(root.join(path)).with_context(|| format!("{path} is not installed"))?;
        assert!(meta.is_file(), "{path} is not a file");
        assert_eq!(
            meta.mode() & 0o7777,
            *mode,
            "{path} has mode {:o}",
            meta.mode() & 0o7777
        );
        if as_root {
            assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path} is not root's");
        }
    }
    let binary = root.join("usr/bin/sightline-server");
    let version = run(Command::new(&binary).arg("--version"))?;
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{version:?}"
    );

    // postinst made the system user (sysusers.d) and its state directory
    // (tmpfiles.d), 0700 and, where ownership can be given, the user's.
    let user = passwd_entry(root, "sightline")?.context("postinst did not create the sightline user")?;
    assert!(user.uid < 1000, "not a system user: {user:?}");
    assert_eq!(user.home, "/var/lib/sightline");
    assert!(user.shell.ends_with("nologin"), "{user:?}");
    let state = root.join("var/lib/sightline");
    let meta = std::fs::metadata(&state).context("postinst did not create /var/lib/sightline")?;
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o7777, 0o700);
    if as_root {
        assert_eq!(
            (meta.uid(), meta.gid()),
            (user.uid, user.gid),
            "the state directory is not the user's"
        );
    }

    // The operator's step from the README: `init` as the service's user,
    // into the data directory the unit serves.
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system").join(UNIT))?;
    let data_dir = setting(&unit, "ExecStart")?
        .split_once("--data-dir ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .context("ExecStart names no --data-dir")?
        .to_owned();
    assert!(data_dir.starts_with("/var/lib/sightline/"), "{data_dir}");
    let mut init = if as_root {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .arg("--clear-groups")
            .arg(&binary);
        command
    } else {
        Command::new(&binary)
    };
    run(init.arg("--data-dir").arg(inside(root, &data_dir)).args([
        "init",
        "--hostname",
        "localhost",
        "--listen",
        "0.0.0.0:8443",
    ]))?;
    let asserted = setting(&unit, "AssertPathExists")?;
    assert!(
        inside(root, asserted).is_file(),
        "the unit waits for {asserted}, which init did not write"
    );

    // systemd's verifier on the installed unit: the settings, the binary
    // (resolved inside the root), the user. Dependencies such as
    // sysinit.target are not in an empty root, hence --recursive-errors=no.
    verify(root)?;
    // The same verifier refuses a broken copy: the check above can fail.
    let broken = unit.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes");
    assert_ne!(broken, unit);
    let broken_path = root.join("etc/systemd/system/sightline-broken.service");
    std::fs::create_dir_all(broken_path.parent().context("no parent")?)?;
    std::fs::write(&broken_path, broken)?;
    let refused = analyze(
        root,
        &["verify", "--recursive-errors=no", "sightline-broken.service"],
    )?;
    assert!(
        !refused.status.success(),
        "a unit with a misspelt setting verified"
    );
    std::fs::remove_file(&broken_path)?;
    // The sandbox: its own user, nothing writable but the state
    // directory, no capabilities, no new privileges; and systemd's overall
    // exposure score (0–100, 14 today) stays at most 15.
    for (key, value) in [
        ("User", "sightline"),
        ("StateDirectory", "sightline"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
    ] {
        assert_eq!(setting(&unit, key)?, value, "{key}");
    }
    run(Command::new("systemd-analyze")
        .arg(format!("--root={}", root.display()))
        .args(["security", "--offline=yes", "--threshold=15", UNIT]))?;
    // The drop-in that lets the server bind 443 grants that one capability
    // and is valid as shipped.
    let drop_in = std::fs::read_to_string(root.join("usr/share/doc/sightline-server/privileged-port.conf"))?;
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        assert_eq!(setting(&drop_in, key)?, "CAP_NET_BIND_SERVICE", "{key}");
    }
    let drop_ins = root.join("etc/systemd/system/sightline-server.service.d");
    std::fs::create_dir_all(&drop_ins)?;
    std::fs::write(drop_ins.join("privileged-port.conf"), drop_in)?;
    verify(root)?;
    std::fs::remove_dir_all(&drop_ins)?;

    // A purge takes the package's files and keeps the data directory and
    // the user owning it: they hold the CA, the keys and the database.
    run(dpkg(root, as_root).args(["--purge", PACKAGE]))?;
    for (path, _) in FILES {
        assert!(!root.join(path).exists(), "{path} survived the purge");
    }
    assert!(
        inside(root, asserted).is_file(),
        "the purge took the data directory"
    );
    assert!(
        passwd_entry(root, "sightline")?.is_some(),
        "the purge took the user owning the data"
    );

    // Without data, a purge takes the user and the state directory too;
    // only root can change another root's user database.
    if as_root {
        std::fs::remove_dir_all(inside(root, &data_dir))?;
        run(dpkg(root, as_root).arg("--install").arg(&deb))?;
        run(dpkg(root, as_root).args(["--purge", PACKAGE]))?;
        assert!(
            passwd_entry(root, "sightline")?.is_none(),
            "the purge left the user"
        );
        assert!(!state.exists(), "the purge left the empty state directory");
    }
    Ok(())
}

/// `scripts/package-server --profile dev` on the server binary the other
/// tests run, which `scripts/test` built with the whole workspace (the
/// script's own `cargo build -p sightline-server` would build another);
/// the package goes into this test's target directory.
fn build_package() -> Result<PathBuf> {
    let binary = sightline_tests::server_binary()?;
    let exe = std::env::current_exe()?;
    // <target>/<profile folder>/deps/e2e-…
    let target = exe
        .ancestors()
        .nth(3)
        .context("the test executable is not in <target>/<profile>/deps")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/package-server");
    let output = run(Command::new(script)
        .args(["--profile", "dev", "--binary"])
        .arg(&binary)
        .env("CARGO_TARGET_DIR", target))?;
    let stdout = String::from_utf8(output.stdout)?;
    let last = stdout.lines().last().context("package-server printed nothing")?;
    let deb = PathBuf::from(last);
    ensure!(
        deb.extension().is_some_and(|ext| ext == "deb") && deb.is_file(),
        "the last line is not a package: {last}"
    );
    ensure!(
        deb.starts_with(target),
        "{} is not under {}",
        deb.display(),
        target.display()
    );
    Ok(deb)
}

fn check_control_fields(deb: &Path) -> Result<()> {
    let field = |name: &str| -> Result<String> {
        let output = run(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name))?;
        Ok(String::from_utf8(output.stdout)?.trim().to_owned())
    };
    assert_eq!(field("Package")?, PACKAGE);
    assert_eq!(field("Version")?, env!("CARGO_PKG_VERSION"));
    let arch = run(Command::new("dpkg").arg("--print-architecture"))?;
    assert_eq!(field("Architecture")?, String::from_utf8(arch.stdout)?.trim());
    let depends = field("Depends")?;
    assert!(depends.contains("libc6 (>= "), "{depends}");
    assert!(depends.split(", ").any(|dep| dep == "systemd"), "{depends}");
    let size: u64 = field("Installed-Size")?.parse()?;
    assert!(size > 1000, "Installed-Size {size} KiB");
    Ok(())
}

/// An empty dpkg database in `root`, as on a freshly made system.
fn prepare_dpkg_database(root: &Path) -> Result<()> {
    let admin = root.join("var/lib/dpkg");
    for sub in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(sub))?;
    }
    std::fs::write(admin.join("status"), "")?;
    std::fs::create_dir_all(root.join("var/log"))?;
    Ok(())
}

/// dpkg on the system in `root`. Libraries and systemd are this machine's,
/// not the root's, hence `--force-depends`; the log stays in the root.
fn dpkg(root: &Path, as_root: bool) -> Command {
    let mut command = Command::new("dpkg");
    command
        .arg(format!("--root={}", root.display()))
        .arg(format!("--log={}", root.join("var/log/dpkg.log").display()))
        .args(["--force-script-chrootless", "--force-depends"]);
    if !as_root {
        command.arg("--force-not-root");
    }
    command
}

fn query(root: &Path, format: &str) -> Result<String> {
    let output = run(Command::new("dpkg-query")
        .arg(format!("--root={}", root.display()))
        .args(["--show", "--showformat", format, PACKAGE]))?;
    Ok(String::from_utf8(output.stdout)?)
}

fn verify(root: &Path) -> Result<()> {
    let output = analyze(root, &["verify", "--recursive-errors=no", UNIT])?;
    ensure!(
        output.status.success(),
        "systemd-analyze verify refused the unit:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn analyze(root: &Path, args: &[&str]) -> Result<Output> {
    Command::new("systemd-analyze")
        .arg(format!("--root={}", root.display()))
        .args(args)
        .output()
        .context("systemd-analyze is missing (scripts/setup installs systemd)")
}

/// The value of a unit's `key=` line.
fn setting<'a>(unit: &'a str, key: &str) -> Result<&'a str> {
    unit.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .with_context(|| format!("the unit has no {key}="))
}

/// An absolute path of the installed system, inside `root`.
fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

#[derive(Debug)]
struct User {
    uid: u32,
    gid: u32,
    home: String,
    shell: String,
}

fn passwd_entry(root: &Path, name: &str) -> Result<Option<User>> {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if let [user, _, uid, gid, _, home, shell] = fields[..] {
            if user == name {
                return Ok(Some(User {
                    uid: uid.parse()?,
                    gid: gid.parse()?,
                    home: home.to_owned(),
                    shell: shell.to_owned(),
                }));
            }
        }
    }
    Ok(None)
}

fn is_root() -> Result<bool> {
    let output = run(Command::new("id").arg("-u"))?;
    Ok(output.stdout.trim_ascii() == b"0")
}

/// Runs `command` to completion; its output is the error if it fails.
fn run(command: &mut Command) -> Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("could not start {command:?}"))?;
    ensure!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}
