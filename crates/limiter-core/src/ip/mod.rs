//! IP addresses as keys: parsing text exactly as std does (`parse`), and
//! the canonical, compact key of an address.

mod parse;

pub use parse::parse_ip;

use std::net::IpAddr;

/// The address that identifies `ip`'s bucket.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as dual-stack sockets report
/// IPv4 clients) become the IPv4 address `a.b.c.d`; every other address is its
/// own key. Spelling never matters: `::1` and `0:0:0:0:0:0:0:1` parse to the
/// same `IpAddr`.
///
/// # Example
///
/// ```
/// use limiter_core::canonical_ip;
/// use std::net::IpAddr;
///
/// let mapped: IpAddr = "::ffff:192.0.2.7".parse()?;
/// assert_eq!(canonical_ip(mapped), "192.0.2.7".parse::<IpAddr>()?);
/// let compatible: IpAddr = "::192.0.2.7".parse()?;
/// assert_eq!(canonical_ip(compatible), compatible);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A canonical IP address in the compact form the address tables store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpKey {
    V4(u32),
    V6(V6Bits),
}

/// An IPv6 address as its high and low halves, each of which fits an atomic
/// word of a table slot (see `store::table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct V6Bits(pub(crate) [u64; 2]);

impl IpKey {
    /// The key of `ip`, canonical and cut to the prefix of each family's mask.
    #[inline]
    pub(crate) fn new(ip: IpAddr, v4_mask: u32, v6_mask: u128) -> IpKey {
        match canonical_ip(ip) {
            IpAddr::V4(v4) => IpKey::V4(v4.to_bits() & v4_mask),
            IpAddr::V6(v6) => {
                let bits = v6.to_bits() & v6_mask;
                IpKey::V6(V6Bits([(bits >> 64) as u64, bits as u64]))
            }
        }
    }

    /// The address this key stands for.
    pub(crate) fn to_ip(self) -> IpAddr {
        match self {
            IpKey::V4(bits) => IpAddr::V4(std::net::Ipv4Addr::from_bits(bits)),
            IpKey::V6(V6Bits([hi, lo])) => {
                IpAddr::V6(std::net::Ipv6Addr::from_bits(u128::from(hi) << 64 | u128::from(lo)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn same_key(a: &str, b: &str) {
        let (a_ip, b_ip): (IpAddr, IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(IpKey::new(a_ip, !0, !0), IpKey::new(b_ip, !0, !0), "{a} vs {b}");
    }

    #[test]
    fn spellings_of_one_address_share_a_key() {
        same_key("::1", "0:0:0:0:0:0:0:1");
        same_key("2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001");
        same_key("2001:DB8::A", "2001:db8::a");
        same_key("::ffff:10.1.2.3", "10.1.2.3");
        same_key("::ffff:a01:203", "10.1.2.3");
    }

    #[test]
    fn distinct_addresses_have_distinct_keys() {
        let ips = ["10.1.2.3", "::10.1.2.3", "64:ff9b::10.1.2.3", "::", "0.0.0.0", "::ffff:0:0"];
        let keys: Vec<IpKey> =
            ips.iter().map(|ip| IpKey::new(ip.parse().unwrap(), !0, !0)).collect();
        // `::ffff:0:0` is the mapped form of 0.0.0.0, and nothing else collides.
        assert_eq!(keys[5], keys[4]);
        for i in 0..5 {
            for j in 0..i {
                assert_ne!(keys[i], keys[j], "{} vs {}", ips[i], ips[j]);
            }
        }
    }

    #[test]
    fn keys_round_trip_to_the_canonical_address() {
        for ip in ["1.2.3.4", "2001:db8::ff00:42:8329", "::ffff:1.2.3.4", "ffff::ffff"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpKey::new(ip, !0, !0).to_ip(), canonical_ip(ip));
        }
    }
}
