//! Server names: the grammar, and the one normal form names are compared in.
//!
//! A server name is `host [":" port]`, where `host` is a DNS name, an IPv4 address in dotted
//! decimal, or an IPv6 address in brackets. The normal form lowercases DNS names and prints IP
//! addresses the way Rust's standard library does (`[::1]`, not `[0::0001]`); two names are the
//! same server exactly when their normal forms are equal. [`ServerName::parse`] refuses what the
//! grammar does not allow instead of repairing it (no trailing dot, no empty labels, no port 0).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest server name accepted, in bytes.
pub const MAX_SERVER_NAME_LEN: usize = 255;

/// Why a text is not a server name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServerNameError {
    /// Empty, or longer than [`MAX_SERVER_NAME_LEN`].
    #[error("a server name must be 1 to 255 characters")]
    Length,
    /// The host is not a DNS name, an IPv4 address or a bracketed IPv6 address.
    #[error("the host of a server name must be a DNS name, an IPv4 address or [IPv6]")]
    Host,
    /// The port is not a number from 1 to 65535.
    #[error("the port of a server name must be a number from 1 to 65535")]
    Port,
}

/// The host part of a server name. Build it with [`Host::parse`]: a `Dns` value made by hand is
/// not checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lower case, without a trailing dot.
    Dns(String),
    /// An IPv4 address literal.
    Ipv4(Ipv4Addr),
    /// An IPv6 address literal (written in brackets in a server name).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// Parses a host: a DNS name, an IPv4 address, or an IPv6 address in brackets.
    pub fn parse(text: &str) -> Result<Self, ServerNameError> {
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(ServerNameError::Host)?;
            return Ipv6Addr::from_str(inner)
                .map(Host::Ipv6)
                .map_err(|_| ServerNameError::Host);
        }
        if let Ok(ip) = Ipv4Addr::from_str(text) {
            return Ok(Host::Ipv4(ip));
        }
        if is_dns_name(text) {
            Ok(Host::Dns(text.to_ascii_lowercase()))
        } else {
            Err(ServerNameError::Host)
        }
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Dns(_) => None,
            Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Dns(name) => f.write_str(name),
            Host::Ipv4(ip) => write!(f, "{ip}"),
            Host::Ipv6(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// `label *("." label)`, labels of 1 to 63 letters, digits and inner hyphens, and a last label
/// that is not all digits (so that `1.2.3` is neither an address nor a name).
fn is_dns_name(text: &str) -> bool {
    if text.is_empty() || text.len() > MAX_SERVER_NAME_LEN {
        return false;
    }
    let labels_ok = text.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let last_not_numeric = text
        .rsplit('.')
        .next()
        .is_some_and(|last| !last.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && last_not_numeric
}

/// A validated server name in normal form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerName {
    host: Host,
    port: Option<u16>,
    normal: String,
}

impl ServerName {
    /// Parses and normalises a server name.
    pub fn parse(text: &str) -> Result<Self, ServerNameError> {
        if text.is_empty() || text.len() > MAX_SERVER_NAME_LEN {
            return Err(ServerNameError::Length);
        }
        // The port follows the last colon, unless that colon is inside an IPv6 literal.
        let (host_text, port_text) = match text.rfind(':') {
            Some(i)
                if !text[i..].contains(']')
                    && (text.starts_with('[') || !text[..i].contains(':')) =>
            {
                (&text[..i], Some(&text[i + 1..]))
            }
            Some(_) if !text.starts_with('[') => return Err(ServerNameError::Host),
            _ => (text, None),
        };
        let host = Host::parse(host_text)?;
        let port = port_text.map(parse_port).transpose()?;
        Ok(Self::from_parts(host, port))
    }

    /// A server name from a parsed host and an optional port.
    fn from_parts(host: Host, port: Option<u16>) -> Self {
        let normal = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Self { host, port, normal }
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The explicit port, if the name has one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.normal
    }
}

/// A port: 1 to 5 ASCII digits, 1 to 65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, ServerNameError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServerNameError::Port);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(ServerNameError::Port),
        Ok(port) => Ok(port),
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normal)
    }
}

impl FromStr for ServerName {
    type Err = ServerNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ServerName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.normal)
    }
}

impl<'de> Deserialize<'de> for ServerName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        for (text, normal, port) in [
            ("Org-A.Example", "org-a.example", None),
            ("org-a.example:8448", "org-a.example:8448", Some(8448)),
            ("localhost", "localhost", None),
            ("127.0.0.1:8449", "127.0.0.1:8449", Some(8449)),
            ("[::1]", "[::1]", None),
            ("[0::0001]:443", "[::1]:443", Some(443)),
            ("[2001:DB8::1]", "[2001:db8::1]", None),
            ("xn--bcher-kva.example", "xn--bcher-kva.example", None),
            ("a1.b2", "a1.b2", None),
        ] {
            let name = ServerName::parse(text).unwrap();
            assert_eq!(name.as_str(), normal, "{text}");
            assert_eq!(name.port(), port, "{text}");
            assert_eq!(ServerName::parse(name.as_str()).unwrap(), name);
        }
        assert!(matches!(
            ServerName::parse("10.0.0.1").unwrap().host(),
            Host::Ipv4(_)
        ));
    }

    #[test]
    fn refuses_what_the_grammar_does_not_allow() {
        for (text, error) in [
            ("", ServerNameError::Length),
            ("example.com.", ServerNameError::Host),
            (".example.com", ServerNameError::Host),
            ("a..b", ServerNameError::Host),
            ("-a.example", ServerNameError::Host),
            ("a-.example", ServerNameError::Host),
            ("exa_mple.com", ServerNameError::Host),
            ("ex ample.com", ServerNameError::Host),
            ("example.com/path", ServerNameError::Host),
            ("user@example.com", ServerNameError::Host),
            ("1.2.3", ServerNameError::Host),
            ("1.2.3.4.5", ServerNameError::Host),
            ("01.2.3.4", ServerNameError::Host),
            ("::1", ServerNameError::Host),
            ("[::1", ServerNameError::Host),
            ("[not-v6]", ServerNameError::Host),
            ("[::1]x", ServerNameError::Host),
            ("example.com:", ServerNameError::Port),
            ("example.com:0", ServerNameError::Port),
            ("example.com:65536", ServerNameError::Port),
            ("example.com:+80", ServerNameError::Port),
            ("example.com:080800", ServerNameError::Port),
            ("example.com:80:80", ServerNameError::Host),
            ("ex\u{e4}mple.com", ServerNameError::Host),
        ] {
            assert_eq!(ServerName::parse(text), Err(error), "{text}");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert_eq!(ServerName::parse(&long), Err(ServerNameError::Host));
        let too_long = vec!["a"; 129].join(".");
        assert_eq!(ServerName::parse(&too_long), Err(ServerNameError::Length));
    }

    #[test]
    fn serde_round_trips_through_the_normal_form() {
        let name: ServerName = serde_json::from_str("\"ORG.example:8448\"").unwrap();
        assert_eq!(
            serde_json::to_string(&name).unwrap(),
            "\"org.example:8448\""
        );
        assert!(serde_json::from_str::<ServerName>("\"bad name\"").is_err());
    }
}
