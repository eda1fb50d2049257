//! PROXY protocol v2, as a layer-4 load balancer (HAProxy's
//! `send-proxy-v2`) puts it in front of each connection it forwards: the
//! client's real address, before the TLS handshake.
//!
//! Only the balancers named in `[server] proxy_protocol_from` may send it,
//! and from them it is required: a connection from a balancer without the
//! header is dropped, and a header from anyone else is never read (their
//! bytes go to the TLS handshake, which fails), so no client can claim
//! another's address.

use crate::error::{Error, Result};
use ipnet::IpNet;
use ppp::v2::{Addresses, Command, Header};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The 12 bytes every v2 header starts with.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family/protocol, and the length of the rest.
const FIXED_LEN: usize = 16;
/// The largest rest we accept: addresses (at most 216 bytes for UNIX
/// sockets) and some TLVs; HAProxy sends far less.
const MAX_REST_LEN: usize = 1024;

/// The balancer addresses (single addresses or CIDR blocks) trusted to
/// send a PROXY header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Reads `192.0.2.10` or `198.51.100.0/24`, one per entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        entries
            .iter()
            .map(|entry| parse_entry(entry.as_ref()))
            .collect::<Result<Vec<_>>>()
            .map(Self)
    }

    /// Whether a connection from `addr` must start with a PROXY header.
    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }
}

fn parse_entry(entry: &str) -> Result<IpNet> {
    let entry = entry.trim();
    IpNet::from_str(entry)
        .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
        .map_err(|_| {
            Error::Config(format!(
                "server.proxy_protocol_from: {entry:?} is neither an IP address nor a CIDR block"
            ))
        })
}

/// IPv4 clients of a dual-stack listener appear as `::ffff:a.b.c.d`.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// Reads the header a trusted balancer sent and returns the client's
/// address: the source it names, or the balancer's own for a `LOCAL`
/// connection (its health checks) and for address families without one.
pub async fn read_client_address(tcp: &mut TcpStream, balancer: SocketAddr) -> Result<SocketAddr> {
    let mut header = vec![0u8; FIXED_LEN];
    tcp.read_exact(&mut header)
        .await
        .map_err(|_| invalid("the connection ended before its PROXY header"))?;
    if header[..SIGNATURE.len()] != SIGNATURE {
        return Err(invalid("a PROXY protocol v2 header was expected"));
    }
    let rest = usize::from(u16::from_be_bytes([header[14], header[15]]));
    if rest > MAX_REST_LEN {
        return Err(invalid("the PROXY header is too long"));
    }
    header.resize(FIXED_LEN + rest, 0);
    tcp.read_exact(&mut header[FIXED_LEN..])
        .await
        .map_err(|_| invalid("the connection ended inside its PROXY header"))?;
    let parsed = Header::try_from(header.as_slice()).map_err(|error| invalid(&error.to_string()))?;
    if parsed.command == Command::Local {
        return Ok(balancer);
    }
    Ok(match parsed.addresses {
        Addresses::IPv4(ip) => SocketAddr::from((ip.source_address, ip.source_port)),
        Addresses::IPv6(ip) => SocketAddr::from((ip.source_address, ip.source_port)),
        Addresses::Unspecified | Addresses::Unix(_) => balancer,
    })
}

fn invalid(reason: &str) -> Error {
    Error::Invalid {
        what: "PROXY protocol header",
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn addresses_and_blocks_are_trusted_and_others_not() {
        let trusted = TrustedProxies::parse(&["192.0.2.10", "198.51.100.0/24", "2001:db8::/32"]).unwrap();
        assert!(trusted.trusts("192.0.2.10".parse().unwrap()));
        assert!(!trusted.trusts("192.0.2.11".parse().unwrap()));
        assert!(trusted.trusts("198.51.100.77".parse().unwrap()));
        assert!(trusted.trusts("::ffff:198.51.100.1".parse().unwrap()));
        assert!(trusted.trusts("2001:db8::1".parse().unwrap()));
        assert!(!trusted.trusts("127.0.0.1".parse().unwrap()));
        let error = TrustedProxies::parse(&["10.0.0.0/33"]).unwrap_err();
        assert!(error.to_string().contains("10.0.0.0/33"));
    }

    async fn send(bytes: Vec<u8>) -> Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = tokio::spawn(async move {
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.write_all(&bytes).await.unwrap();
            client
        });
        let (mut tcp, balancer) = listener.accept().await.unwrap();
        let _client = writer.await.unwrap();
        read_client_address(&mut tcp, balancer).await
    }

    #[tokio::test]
    async fn the_source_address_is_read_and_junk_refused() {
        let client: SocketAddr = "203.0.113.5:40000".parse().unwrap();
        let header = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            (client, "127.0.0.1:8443".parse::<SocketAddr>().unwrap()),
        )
        .build()
        .unwrap();
        assert_eq!(send(header).await.unwrap(), client);
        let error = send(b"\x16\x03\x01 a TLS client hello".to_vec())
            .await
            .unwrap_err();
        assert!(error
            .to_string()
            .contains("PROXY protocol v2 header was expected"));
    }
}
