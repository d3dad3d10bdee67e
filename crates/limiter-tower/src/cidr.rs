//! Address ranges in CIDR notation: trusted proxies and the allowlist.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use limiter_core::canonical_ip;

use crate::error::InvalidCidr;

/// An address range such as `10.0.0.0/8` or `2001:db8::/32`; a bare address
/// is a range of one.
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) are matched as the IPv4
/// address they carry, as the core keys them, so `10.0.0.0/8` contains them.
///
/// # Example
///
/// ```
/// use limiter_tower::Cidr;
///
/// let range: Cidr = "10.0.0.0/8".parse()?;
/// assert!(range.contains("10.20.30.40".parse()?));
/// assert!(range.contains("::ffff:10.0.0.1".parse()?));
/// assert!(!range.contains("11.0.0.1".parse()?));
/// assert!("10.0.0.0/33".parse::<Cidr>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// The range of addresses sharing the first `len` bits of `addr`.
    ///
    /// # Errors
    ///
    /// [`InvalidCidr`] if `len` exceeds the family's 32 or 128 bits.
    pub fn new(addr: IpAddr, len: u8) -> Result<Cidr, InvalidCidr> {
        let addr = canonical_ip(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(InvalidCidr::new(format!("{addr}/{len}"), "prefix length too long"));
        }
        // Mapped ranges (`::ffff:10.0.0.0/104`) become their IPv4 range.
        Ok(Cidr { addr: mask(addr, len), len })
    }

    /// Whether `ip` lies in the range.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.len) == self.addr
    }
}

impl FromStr for Cidr {
    type Err = InvalidCidr;

    /// Reads `ADDRESS/LEN` or a bare `ADDRESS`.
    fn from_str(input: &str) -> Result<Cidr, InvalidCidr> {
        let (addr, len) = match input.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (input, None),
        };
        let addr: IpAddr =
            addr.parse().map_err(|_| InvalidCidr::new(input, "not an IP address"))?;
        let len = match len {
            None => {
                if addr.is_ipv4() {
                    32
                } else {
                    128
                }
            }
            Some(len) => len.parse().map_err(|_| InvalidCidr::new(input, "bad prefix length"))?,
        };
        // A mapped address's prefix counts the 96 bits of its `::ffff:`.
        let len = match (addr, canonical_ip(addr)) {
            (IpAddr::V6(_), IpAddr::V4(_)) if (96..=128).contains(&len) => len - 96,
            _ => len,
        };
        Cidr::new(addr, len).map_err(|_| InvalidCidr::new(input, "prefix length too long"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A list of ranges; an address is in it if any range contains it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CidrList(Vec<Cidr>);

impl CidrList {
    pub(crate) fn push(&mut self, cidr: Cidr) {
        self.0.push(cidr);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[inline]
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::from(bits.to_be_bytes())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::from(bits.to_be_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(range: &str, ip: &str, inside: bool) {
        let cidr: Cidr = range.parse().unwrap();
        assert_eq!(cidr.contains(ip.parse().unwrap()), inside, "{range} contains {ip}");
    }

    #[test]
    fn ranges() {
        check("10.0.0.0/8", "10.255.0.1", true);
        check("10.0.0.0/8", "11.0.0.1", false);
        check("10.1.2.3", "10.1.2.3", true);
        check("10.1.2.3", "10.1.2.4", false);
        check("0.0.0.0/0", "203.0.113.9", true);
        check("0.0.0.0/0", "2001:db8::1", false);
        check("::/0", "10.0.0.1", false);
        check("2001:db8::/32", "2001:db8:ffff::1", true);
        check("2001:db8::/32", "2001:db9::1", false);
        check("::ffff:10.0.0.0/104", "10.9.9.9", true);
        check("127.0.0.0/8", "::ffff:127.0.0.1", true);
    }

    #[test]
    fn bad_ranges_name_the_input() {
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/x", "", "10.0.0.0/"] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
