//! Finding where a server name is served.
//!
//! In order (see `docs/federation.md`):
//!
//! 1. A host pinned in the configuration ([`Pins`]) is reached at its pinned socket addresses;
//!    nothing is looked up.
//! 2. An IP literal is reached at its port, or [`DEFAULT_PORT`].
//! 3. A DNS name with an explicit port is reached at that port.
//! 4. Otherwise `https://<name>/.well-known/parley/server` is fetched (certificate checked
//!    against `<name>`, no redirects followed). If it answers 200 with `{"server": "host[:port]"}`,
//!    the server is reached at that host and port (default [`DEFAULT_PORT`]); on any failure, at
//!    `<name>:8448`.
//!
//! The TLS certificate is always checked against the host the connection is made to: the server
//! name, or the delegated host (which the server name's own certificate vouched for by serving
//! the `.well-known` document).

use std::{collections::HashMap, net::SocketAddr};

use crate::server_name::{Host, ServerName};

/// The path of the delegation document.
pub const WELL_KNOWN_PATH: &str = "/.well-known/parley/server";
/// The port federation is served on when nothing else says.
pub const DEFAULT_PORT: u16 = 8448;
/// The largest delegation document read, in bytes.
pub const MAX_WELL_KNOWN_BYTES: usize = 4096;

/// What is wrong with a delegation document or a pin.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Larger than [`MAX_WELL_KNOWN_BYTES`].
    #[error("the delegation document is too large")]
    TooLarge,
    /// Not a JSON object with a string `server`.
    #[error("the delegation document is not a JSON object with a string `server`")]
    Malformed,
    /// `server` is not `host[:port]`.
    #[error("the delegated server is not host[:port]")]
    BadServer,
    /// A pin has no addresses, addresses with different ports, or names a port.
    #[error("a pin must name a host without a port and list addresses that share one port")]
    BadPin,
    /// The same host is pinned twice.
    #[error("a host is pinned twice")]
    DuplicatePin,
}

/// Where a server is served: the host to connect to (and check the certificate against) and
/// the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// The host.
    pub host: Host,
    /// The port.
    pub port: u16,
}

/// Parses a `.well-known/parley/server` body: `{"server": "host[:port]"}`. Other members are
/// ignored; the port defaults to [`DEFAULT_PORT`].
pub fn parse_well_known(body: &[u8]) -> Result<Delegation, DiscoveryError> {
    if body.len() > MAX_WELL_KNOWN_BYTES {
        return Err(DiscoveryError::TooLarge);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| DiscoveryError::Malformed)?;
    let server = value
        .as_object()
        .and_then(|object| object.get("server"))
        .and_then(serde_json::Value::as_str)
        .ok_or(DiscoveryError::Malformed)?;
    let name = ServerName::parse(server).map_err(|_| DiscoveryError::BadServer)?;
    Ok(Delegation {
        host: name.host().clone(),
        port: name.port().unwrap_or(DEFAULT_PORT),
    })
}

/// Hosts pinned to socket addresses by the operator: for tests, local demos and private
/// networks. A pinned host is always reached at its pinned addresses and port, whether it is a
/// server name or a delegated host, and the address policy does not apply to them (the operator
/// chose them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    by_host: HashMap<Host, Vec<SocketAddr>>,
}

impl Pins {
    /// No pins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pins `name` (a host without a port) to `addresses`, which must share one port.
    pub fn insert(
        &mut self,
        name: &ServerName,
        addresses: Vec<SocketAddr>,
    ) -> Result<(), DiscoveryError> {
        let Some(first) = addresses.first() else {
            return Err(DiscoveryError::BadPin);
        };
        if name.port().is_some() || addresses.iter().any(|a| a.port() != first.port()) {
            return Err(DiscoveryError::BadPin);
        }
        if self.by_host.contains_key(name.host()) {
            return Err(DiscoveryError::DuplicatePin);
        }
        self.by_host.insert(name.host().clone(), addresses);
        Ok(())
    }

    /// The pinned addresses of `host`.
    pub fn get(&self, host: &Host) -> Option<&[SocketAddr]> {
        self.by_host.get(host).map(Vec::as_slice)
    }

    /// The pinned addresses of a host given as text (as a DNS resolver is asked).
    pub fn get_str(&self, host: &str) -> Option<&[SocketAddr]> {
        Host::parse(host).ok().and_then(|host| self.get(&host))
    }

    /// Whether there are no pins.
    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }
}

/// Where to connect for a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The host for SNI and the certificate check, and the URL.
    pub host: Host,
    /// The port.
    pub port: u16,
    /// The socket addresses, when pinned; otherwise they come from DNS at connection time,
    /// filtered by the address policy.
    pub pinned: Option<Vec<SocketAddr>>,
}

impl Resolution {
    fn to(host: Host, port: u16, pins: &Pins) -> Self {
        match pins.get(&host) {
            Some(addresses) => Self {
                port: addresses.first().map_or(port, SocketAddr::port),
                pinned: Some(addresses.to_vec()),
                host,
            },
            None => Self {
                host,
                port,
                pinned: None,
            },
        }
    }

    /// The authority requests carry (`Host`, `@authority`): `host:port`, without `:443`.
    pub fn authority(&self) -> String {
        if self.port == 443 {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The first step of discovery for `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Known without a lookup.
    Resolved(Resolution),
    /// Fetch the delegation document from `host` (port 443), then call [`after_well_known`].
    FetchWellKnown {
        /// The server name's host.
        host: Host,
    },
}

/// What to do first to find `server`.
pub fn first_step(server: &ServerName, pins: &Pins) -> Step {
    let host = server.host().clone();
    if pins.get(&host).is_some() {
        return Step::Resolved(Resolution::to(host, DEFAULT_PORT, pins));
    }
    if host.ip().is_some() || server.port().is_some() {
        let port = server.port().unwrap_or(DEFAULT_PORT);
        return Step::Resolved(Resolution::to(host, port, pins));
    }
    Step::FetchWellKnown { host }
}

/// Where `server` is, given what its delegation document said (`None` if it could not be had
/// or was invalid).
pub fn after_well_known(
    server: &ServerName,
    delegation: Option<Delegation>,
    pins: &Pins,
) -> Resolution {
    match delegation {
        Some(delegation) => Resolution::to(delegation.host, delegation.port, pins),
        None => Resolution::to(server.host().clone(), DEFAULT_PORT, pins),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn name(text: &str) -> ServerName {
        ServerName::parse(text).unwrap()
    }

    fn host(text: &str) -> Host {
        Host::parse(text).unwrap()
    }

    #[test]
    fn delegation_documents() {
        assert_eq!(
            parse_well_known(br#"{"server": "Fed.Org-A.example:443", "other": 1}"#).unwrap(),
            Delegation {
                host: host("fed.org-a.example"),
                port: 443
            }
        );
        assert_eq!(
            parse_well_known(br#"{"server": "fed.org-a.example"}"#)
                .unwrap()
                .port,
            8448
        );
        assert_eq!(
            parse_well_known(br#"{"server": "[2001:db8::1]:8000"}"#).unwrap(),
            Delegation {
                host: host("[2001:db8::1]"),
                port: 8000
            }
        );
        for (body, error) in [
            (
                &br#"{"m.server": "a.example"}"#[..],
                DiscoveryError::Malformed,
            ),
            (br#"{"server": 5}"#, DiscoveryError::Malformed),
            (br#"["a.example"]"#, DiscoveryError::Malformed),
            (b"not json", DiscoveryError::Malformed),
            (
                br#"{"server": "https://a.example"}"#,
                DiscoveryError::BadServer,
            ),
            (br#"{"server": "a.example:0"}"#, DiscoveryError::BadServer),
            (br#"{"server": ""}"#, DiscoveryError::BadServer),
        ] {
            assert_eq!(
                parse_well_known(body),
                Err(error),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let big = format!(
            r#"{{"server": "a.example", "pad": "{}"}}"#,
            "x".repeat(MAX_WELL_KNOWN_BYTES)
        );
        assert_eq!(
            parse_well_known(big.as_bytes()),
            Err(DiscoveryError::TooLarge)
        );
    }

    #[test]
    fn discovery_steps() {
        let mut pins = Pins::new();
        pins.insert(&name("org-b.test"), vec!["127.0.0.1:8449".parse().unwrap()])
            .unwrap();
        pins.insert(
            &name("fed.org-c.test"),
            vec!["10.0.0.3:9000".parse().unwrap()],
        )
        .unwrap();

        // A pinned server: its pinned addresses and port, whatever port the name has.
        for server in ["org-b.test", "ORG-B.test:1234"] {
            assert_eq!(
                first_step(&name(server), &pins),
                Step::Resolved(Resolution {
                    host: host("org-b.test"),
                    port: 8449,
                    pinned: Some(vec!["127.0.0.1:8449".parse().unwrap()]),
                }),
                "{server}"
            );
        }
        // IP literals and explicit ports skip the lookup.
        assert_eq!(
            first_step(&name("192.0.2.1"), &pins),
            Step::Resolved(Resolution {
                host: host("192.0.2.1"),
                port: 8448,
                pinned: None
            })
        );
        let explicit = first_step(&name("org-a.example:8000"), &pins);
        let Step::Resolved(resolution) = explicit else {
            unreachable!("{explicit:?}")
        };
        assert_eq!(resolution.authority(), "org-a.example:8000");
        // Otherwise the delegation document decides.
        assert_eq!(
            first_step(&name("org-a.example"), &pins),
            Step::FetchWellKnown {
                host: host("org-a.example")
            }
        );
        let server = name("org-a.example");
        let delegated = after_well_known(
            &server,
            Some(Delegation {
                host: host("fed.org-a.example"),
                port: 443,
            }),
            &pins,
        );
        assert_eq!(delegated.authority(), "fed.org-a.example");
        assert_eq!(
            after_well_known(&server, None, &pins).authority(),
            "org-a.example:8448"
        );
        // A delegated host that is pinned is reached at its pin.
        let pinned = after_well_known(
            &name("org-c.test"),
            Some(Delegation {
                host: host("fed.org-c.test"),
                port: 8448,
            }),
            &pins,
        );
        assert_eq!(pinned.authority(), "fed.org-c.test:9000");
        assert!(pinned.pinned.is_some());
    }

    #[test]
    fn bad_pins_are_refused() {
        let mut pins = Pins::new();
        assert_eq!(
            pins.insert(&name("a.test"), vec![]),
            Err(DiscoveryError::BadPin)
        );
        assert_eq!(
            pins.insert(&name("a.test:80"), vec!["127.0.0.1:80".parse().unwrap()]),
            Err(DiscoveryError::BadPin)
        );
        assert_eq!(
            pins.insert(
                &name("a.test"),
                vec!["127.0.0.1:80".parse().unwrap(), "[::1]:81".parse().unwrap()]
            ),
            Err(DiscoveryError::BadPin)
        );
        pins.insert(&name("a.test"), vec!["127.0.0.1:80".parse().unwrap()])
            .unwrap();
        assert_eq!(
            pins.insert(&name("A.test"), vec!["127.0.0.1:80".parse().unwrap()]),
            Err(DiscoveryError::DuplicatePin)
        );
        assert!(pins.get_str("A.TEST").is_some());
    }
}
