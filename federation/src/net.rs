//! Which addresses outbound federation requests may go to.
//!
//! A peer controls the names we connect to (its server name, its `.well-known` delegation, its
//! DNS records), so without a check it could make us send requests into our own network:
//! loopback services, the cloud metadata endpoint, the database. [`classify`] sorts every IP
//! address into a class from the IANA special-purpose registries; [`AddressPolicy`] refuses every
//! class but [`AddressClass::Public`] unless the operator allows it. IPv6 addresses that embed an
//! IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged
//! by the IPv4 address they lead to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The class of an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Globally reachable unicast.
    Public,
    /// `0.0.0.0`, `::` (connecting to it reaches the local host on some systems).
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 `10/8`, `172.16/12`, `192.168/16`; IPv6 unique local `fc00::/7` and the
    /// deprecated site-local `fec0::/10`.
    Private,
    /// Shared address space for carrier-grade NAT, `100.64.0.0/10`.
    SharedNat,
    /// `169.254.0.0/16` (the cloud metadata endpoint lives here), `fe80::/10`.
    LinkLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Anything else that is not global unicast: `0/8`, `192.0.0/24`, `192.88.99/24`
    /// (6to4 relays), `240/4`, `100::/64`, `2001::/23` (including Teredo `2001::/32`),
    /// `64:ff9b:1::/48`, and IPv6 outside `2000::/3`.
    Reserved,
}

/// The class of `ip`.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip.is_unspecified() => AddressClass::Unspecified,
        _ if ip.is_broadcast() => AddressClass::Broadcast,
        (0, _, _) => AddressClass::Reserved,
        (10, _, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedNat,
        (127, _, _) => AddressClass::Loopback,
        (169, 254, _) => AddressClass::LinkLocal,
        (172, 16..=31, _) => AddressClass::Private,
        (192, 0, 0) => AddressClass::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (192, 88, 99) => AddressClass::Reserved,
        (192, 168, _) => AddressClass::Private,
        (198, 18..=19, _) => AddressClass::Benchmarking,
        (224..=239, _, _) => AddressClass::Multicast,
        (240..=255, _, _) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let segments = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        classify_v4(Ipv4Addr::new(a, b, c, d))
    };
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    match segments {
        // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d (deprecated, but a stack may
        // still route it to the IPv4 address).
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // NAT64 well-known prefix: reaches the embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // NAT64 local-use prefix.
        [0x64, 0xff9b, 1, ..] => AddressClass::Reserved,
        // Discard-only.
        [0x100, 0, 0, 0, ..] => AddressClass::Reserved,
        // Benchmarking, then documentation, then the rest of the IETF protocol block (Teredo,
        // ORCHID, ...).
        [0x2001, 2, 0, ..] => AddressClass::Benchmarking,
        [0x2001, 0xdb8, ..] => AddressClass::Documentation,
        [0x2001, 0..=0x1ff, ..] => AddressClass::Reserved,
        // 6to4: the IPv4 address of the tunnel end is in bits 16..48.
        [0x2002, hi, lo, ..] => match embedded(hi, lo) {
            AddressClass::Public => AddressClass::Public,
            other => other,
        },
        [0x3fff, 0..=0x0fff, ..] => AddressClass::Documentation,
        [first, ..] if first & 0xfe00 == 0xfc00 => AddressClass::Private,
        [first, ..] if first & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        [first, ..] if first & 0xffc0 == 0xfec0 => AddressClass::Private,
        [first, ..] if first & 0xff00 == 0xff00 => AddressClass::Multicast,
        [first, ..] if first & 0xe000 == 0x2000 => AddressClass::Public,
        _ => AddressClass::Reserved,
    }
}

/// Which addresses outbound requests may go to. The default allows public addresses only.
///
/// There is deliberately no switch for TLS: this decides where we connect, never whether the
/// peer's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow loopback, private, shared-NAT, link-local, documentation, benchmarking and reserved
    /// addresses too (for a local demo or a private network). Unspecified, multicast and
    /// broadcast addresses stay refused.
    pub allow_private: bool,
    /// Networks allowed whatever their class (except unspecified, multicast and broadcast):
    /// for a peer on a private network while the rest stays refused.
    pub allowed_networks: Vec<IpNet>,
}

impl AddressPolicy {
    /// Public addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Every unicast address: for local demos and tests.
    pub fn allow_private() -> Self {
        Self {
            allow_private: true,
            allowed_networks: Vec::new(),
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Unspecified | AddressClass::Multicast | AddressClass::Broadcast => false,
            _ => self.allow_private || self.allowed_networks.iter().any(|net| net.contains(&ip)),
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is; others unchanged. Allow lists are
/// written for the address the connection reaches.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_classification_table() {
        use AddressClass::*;
        for (address, class) in [
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("100.63.255.255", Public),
            ("100.128.0.0", Public),
            ("172.15.255.255", Public),
            ("172.32.0.0", Public),
            ("198.17.255.255", Public),
            ("198.20.0.0", Public),
            ("223.255.255.255", Public),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Reserved),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("100.64.0.1", SharedNat),
            ("100.127.255.255", SharedNat),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.169.254", LinkLocal),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.0.0.8", Reserved),
            ("192.0.2.1", Documentation),
            ("192.88.99.1", Reserved),
            ("192.168.1.1", Private),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("224.0.0.1", Multicast),
            ("239.255.255.255", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.255", Broadcast),
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001::1", Public),
            ("::", Unspecified),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:8.8.8.8", Public),
            ("::127.0.0.1", Loopback),
            ("::8.8.8.8", Public),
            ("64:ff9b::10.0.0.1", Private),
            ("64:ff9b::8.8.8.8", Public),
            ("64:ff9b:1::1", Reserved),
            ("100::1", Reserved),
            ("2001::1", Reserved),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Reserved),
            ("2001:2::1", Benchmarking),
            ("2001:10::1", Reserved),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2002:7f00:1::1", Loopback),
            ("2002:a00:1::1", Private),
            ("2002:808:808::1", Public),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("4000::1", Reserved),
            ("1000::1", Reserved),
        ] {
            assert_eq!(classify(ip(address)), class, "{address}");
        }
    }

    #[test]
    fn the_policy_refuses_special_ranges_unless_allowed() {
        let default = AddressPolicy::default();
        assert!(default.allows(ip("8.8.8.8")));
        assert!(default.allows(ip("2606:4700:4700::1111")));
        for address in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "169.254.169.254",
            "::ffff:127.0.0.1",
            "fd00::1",
            "100.64.0.1",
        ] {
            assert!(!default.allows(ip(address)), "{address}");
        }

        let demo = AddressPolicy::allow_private();
        for address in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "::ffff:192.168.0.1",
            "fd00::1",
        ] {
            assert!(demo.allows(ip(address)), "{address}");
        }
        for address in ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"] {
            assert!(!demo.allows(ip(address)), "{address}");
        }

        let network = AddressPolicy {
            allow_private: false,
            allowed_networks: vec![
                "10.1.0.0/16".parse().unwrap(),
                "fd00:1::/32".parse().unwrap(),
            ],
        };
        assert!(network.allows(ip("10.1.2.3")));
        assert!(network.allows(ip("::ffff:10.1.2.3")));
        assert!(network.allows(ip("fd00:1::5")));
        assert!(!network.allows(ip("10.2.0.1")));
        assert!(!network.allows(ip("127.0.0.1")));
        let everything = AddressPolicy {
            allow_private: false,
            allowed_networks: vec!["0.0.0.0/0".parse().unwrap()],
        };
        assert!(!everything.allows(ip("0.0.0.0")));
        assert!(!everything.allows(ip("224.0.0.1")));
    }
}
