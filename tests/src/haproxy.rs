//! A real HAProxy (Debian's package) in TCP mode in front of several
//! server instances, sending each connection's client address in a PROXY
//! protocol v2 header, as a deployment with a layer-4 balancer runs.
//!
//! HAProxy connects to the instances from [`BALANCER_SOURCE`], a loopback
//! address of its own, so the instances can trust that address for PROXY
//! headers while the tests still reach them directly from 127.0.0.1.

use crate::connection::{Connection, Identity};
use crate::postgres::Postgres;
use crate::server::{Instance, TestServer};
use anyhow::{bail, Context, Result};
use std::net::IpAddr;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The address HAProxy's connections to the instances come from.
pub const BALANCER_SOURCE: &str = "127.0.0.10";

pub struct HaProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl HaProxy {
    /// Starts HAProxy balancing round-robin over `instances`, checking
    /// each every 300 ms so a dead one is skipped quickly.
    pub async fn start(instances: &[SocketAddr]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = crate::server::free_port()?;
        let servers: String = instances
            .iter()
            .enumerate()
            .map(|(index, addr)| {
                format!("    server instance{index} {addr} send-proxy-v2 check inter 300ms fall 1 rise 1\n")
            })
            .collect();
        let config = format!(
            "global\n    maxconn 2000\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 120s\n    timeout server 120s\n    retries 3\n    option redispatch\n\
             frontend sightline\n    bind 127.0.0.1:{port}\n    default_backend instances\n\
             backend instances\n    balance roundrobin\n    source {BALANCER_SOURCE}\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config)?;
        let check = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .await;
        let check = check.context("haproxy is not installed (scripts/setup installs it)")?;
        if !check.status.success() {
            bail!(
                "haproxy refused its configuration: {}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(Self {
                    addr,
                    _child: child,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("haproxy did not listen on {addr} within 5 s")
    }
}

/// Two instances on one PostgreSQL database behind HAProxy.
pub struct Deployment {
    /// The first instance (it ran `init`); its CLI works on the shared database.
    pub first: TestServer,
    pub second: Instance,
    pub balancer: HaProxy,
}

impl Deployment {
    /// `config` is added to `config.toml`; both instances read it, and the
    /// balancer's address from `[server] proxy_protocol_from`.
    pub async fn start(config: &str) -> Result<Self> {
        let url = Postgres::shared()?.new_database()?;
        let config = format!("[server]\nproxy_protocol_from = [\"{BALANCER_SOURCE}\"]\n\n{config}");
        let first = TestServer::start_on(Some(url), &config, &[]).await?;
        let second = first.start_instance(&[]).await?;
        let balancer = HaProxy::start(&[first.addr, second.addr]).await?;
        Ok(Self {
            first,
            second,
            balancer,
        })
    }

    pub async fn connect(&self, addr: SocketAddr, identity: Option<&Identity>) -> Result<Connection> {
        Connection::open(addr, self.first.client_config(identity)?).await
    }

    /// Through the balancer, from the loopback address `source`.
    pub async fn through_balancer_from(
        &self,
        source: &str,
        identity: Option<&Identity>,
    ) -> Result<Connection> {
        let source: IpAddr = source.parse()?;
        Connection::open_from(source, self.balancer.addr, self.first.client_config(identity)?).await
    }
}
