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
///
/// Each family's ranges are kept apart as (address, mask) bits, so that a
/// lookup, made on every request, is a few integer operations per range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CidrList {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl CidrList {
    pub(crate) fn push(&mut self, cidr: Cidr) {
        match cidr.addr {
            IpAddr::V4(addr) => self.v4.push((u32::from(addr), mask_bits(cidr.len, 32) as u32)),
            IpAddr::V6(addr) => self.v6.push((u128::from(addr), mask_bits(cidr.len, 128))),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    #[inline]
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let v6 = match ip {
            IpAddr::V4(v4) => return self.contains_v4(u32::from(v4)),
            IpAddr::V6(v6) => v6,
        };
        match v6.to_ipv4_mapped() {
            Some(v4) => self.contains_v4(u32::from(v4)),
            None => self.v6.iter().any(|&(addr, mask)| u128::from(v6) & mask == addr),
        }
    }

    #[inline]
    fn contains_v4(&self, ip: u32) -> bool {
        self.v4.iter().any(|&(addr, mask)| ip & mask == addr)
    }
}

/// The mask of the first `len` of `bits` bits, in the low `bits` bits.
fn mask_bits(len: u8, bits: u32) -> u128 {
    let ones = u128::MAX >> (128 - bits);
    ones & !(ones.checked_shr(u32::from(len)).unwrap_or(0))
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
    fn lists_agree_with_their_ranges() {
        let ranges = ["10.0.0.0/8", "192.0.2.7", "0.0.0.0/0", "2001:db8::/32", "::/0", "::1"];
        let ips = ["10.1.2.3", "11.0.0.1", "192.0.2.7", "192.0.2.8", "::ffff:10.0.0.1", "::1"];
        let ips = ips.into_iter().chain(["2001:db8::5", "2001:db9::5", "::2"]);
        for ip in ips {
            let ip: IpAddr = ip.parse().unwrap();
            for (i, range) in ranges.iter().enumerate() {
                let mut list = CidrList::default();
                let cidrs: Vec<Cidr> =
                    ranges[i..].iter().take(2).map(|r| r.parse().unwrap()).collect();
                cidrs.iter().for_each(|&cidr| list.push(cidr));
                let want = cidrs.iter().any(|cidr| cidr.contains(ip));
                assert_eq!(list.contains(ip), want, "{range}.. contains {ip}");
            }
        }
        assert!(CidrList::default().is_empty());
        assert!(!CidrList::default().contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bad_ranges_name_the_input() {
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/x", "", "10.0.0.0/"] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
