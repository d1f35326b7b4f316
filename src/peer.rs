//! How a client address is counted by the per-address limits (connection slots in
//! `ldap::admission`, log rate limits in `logging`): an IPv4 address by itself, an IPv6 address
//! by its /64, since one host usually holds a whole /64. IPv4-mapped IPv6 addresses count as
//! the IPv4 address they map.

use std::net::IpAddr;

/// The key a per-address count is kept under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AddrKey {
    V4(u32),
    /// The /64 prefix.
    V6(u64),
}

impl AddrKey {
    pub(crate) fn of(ip: IpAddr) -> AddrKey {
        match ip {
            IpAddr::V4(v4) => AddrKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey::V4(u32::from(v4)),
                None => AddrKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AddrKey;
    use std::net::IpAddr;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| AddrKey::of(s.parse::<IpAddr>().unwrap());
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff:2"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
    }
}
