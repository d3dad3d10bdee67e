//! Finding the client behind trusted proxies, as nginx's realip module with
//! `real_ip_recursive on` does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::header::FORWARDED;
use http::{HeaderMap, HeaderName};
use limiter_core::parse_ip;

use crate::cidr::CidrList;

/// The header a trusted proxy appends the address of its own client to.
///
/// Name the one your proxies write: a header they do not write is written
/// by the client alone, and its entries can be forged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`, every header line in order.
    /// An entry may carry a port (`192.0.2.1:4711`, `[2001:db8::1]:443`).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`,
    /// every header line in order. An element whose `for=` is missing,
    /// `unknown` or an obfuscated name (`_hidden`) counts as malformed.
    Forwarded,
}

/// The client's address, given the connection's peer.
///
/// Unless the peer is a trusted proxy, the peer is the client and no header
/// is read. Otherwise the header's entries are walked from the right (the
/// most recent hop first), skipping trusted addresses: the first untrusted
/// address is the client. If every entry is trusted, the leftmost one is. A
/// malformed entry ends the walk at the last good address before it (the
/// peer, if it is the rightmost): nothing left of it can be trusted.
pub(crate) fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &CidrList,
    header: ProxyHeader,
) -> IpAddr {
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    // Names, not strings: a string would be parsed into a name per request.
    let (name, parse): (&HeaderName, fn(&str) -> Option<IpAddr>) = match header {
        ProxyHeader::XForwardedFor => (&X_FORWARDED_FOR, parse_xff),
        ProxyHeader::Forwarded => (&FORWARDED, parse_forwarded),
    };
    let mut last_good = peer;
    for line in headers.get_all(name).iter().rev() {
        // A line that is not text is one malformed entry.
        let Ok(line) = line.to_str() else { return last_good };
        let mut rest = line;
        loop {
            // The entries from the right, by hand: a byte loop beats
            // `rsplit(',')` on lines this short.
            let (left, entry) = match rest.bytes().rposition(|b| b == b',') {
                Some(comma) => (Some(&rest[..comma]), &rest[comma + 1..]),
                None => (None, rest),
            };
            match parse(entry) {
                Some(ip) if !trusted.contains(ip) => return ip,
                Some(ip) => last_good = ip,
                None => return last_good,
            }
            match left {
                Some(left) => rest = left,
                None => break,
            }
        }
    }
    last_good
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// An `X-Forwarded-For` entry: an address, optionally with a port.
fn parse_xff(entry: &str) -> Option<IpAddr> {
    // Header values hold no whitespace but spaces and tabs.
    parse_node(entry.trim_ascii())
}

/// A `Forwarded` element's `for=` node.
fn parse_forwarded(element: &str) -> Option<IpAddr> {
    let node = element.split(';').find_map(|pair| {
        let (key, value) = pair.trim_matches([' ', '\t']).split_once('=')?;
        key.eq_ignore_ascii_case("for").then_some(value)
    })?;
    let node = match node.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => node,
    };
    parse_node(node)
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:80`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(v4) = parse_v4(node.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    if let Some(v6) = node.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    // No colon is IPv4 and two or more IPv6, read by the core's parser (as
    // std's, but faster); one is IPv4 with a port, or `[IPv6]:port` with two
    // or more, read as socket addresses. (The core's parser allocates its
    // error, so it is kept from the port forms.)
    match node.bytes().filter(|&b| b == b':').count() {
        1 => node.parse::<SocketAddr>().ok().map(|addr| addr.ip()),
        _ if node.starts_with('[') => node.parse::<SocketAddr>().ok().map(|addr| addr.ip()),
        _ => parse_ip(node).ok(),
    }
}

/// A plain dotted-quad IPv4 address, as std reads one (no leading zeros,
/// octets to 255); `None` for anything else, which the general parsers
/// then read. The usual entry, in a loop cheaper than any of them.
#[inline]
fn parse_v4(bytes: &[u8]) -> Option<Ipv4Addr> {
    if bytes.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let (mut octet, mut value, mut digits) = (0, 0u32, 0);
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                // A leading zero is allowed only as the whole octet.
                if digits == 1 && value == 0 {
                    return None;
                }
                value = value * 10 + u32::from(b - b'0');
                digits += 1;
                if value > 255 {
                    return None;
                }
            }
            b'.' if digits > 0 && octet < 3 => {
                octets[octet] = value as u8;
                (octet, value, digits) = (octet + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if octet != 3 || digits == 0 {
        return None;
    }
    octets[3] = value as u8;
    Some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes() {
        let cases = [
            ("192.0.2.1", Some("192.0.2.1")),
            ("192.0.2.1:80", Some("192.0.2.1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("unknown", None),
            ("_hidden", None),
            ("", None),
            ("[192.0.2.1]", None),
            ("192.0.2.256", None),
            ("192.0.2.1:", None),
            ("::ffff:192.0.2.1", Some("::ffff:192.0.2.1")),
            ("[::ffff:192.0.2.1]:80", Some("::ffff:192.0.2.1")),
            ("[2001:db8::1]:", None),
            ("2001:db8::1:443", Some("2001:db8::1:443")),
            ("01.2.3.4", None),
        ];
        for (node, want) in cases {
            assert_eq!(parse_node(node), want.map(|ip| ip.parse().unwrap()), "{node:?}");
        }
    }

    #[test]
    fn ipv4_agrees_with_std() {
        let cases = [
            "0.0.0.0",
            "255.255.255.255",
            "1.2.3.4",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.0",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4 ",
            "1.2.3.999",
            "1.2.3.1000",
            "",
            "a.b.c.d",
            "1.2.3.4:80",
            "::1",
            "000.1.2.3",
            "0.0.0.00",
            "100.200.250.255",
        ];
        for case in cases {
            assert_eq!(parse_v4(case.as_bytes()), case.parse().ok(), "{case:?}");
        }
        // Every octet value and length, in each place.
        for value in 0..=300 {
            for text in [format!("{value}"), format!("0{value}"), format!("00{value}")] {
                for place in 0..4 {
                    let mut parts = ["7"; 4].map(str::to_owned);
                    parts[place] = text.clone();
                    let addr = parts.join(".");
                    assert_eq!(parse_v4(addr.as_bytes()), addr.parse().ok(), "{addr:?}");
                }
            }
        }
    }

    #[test]
    fn forwarded_elements() {
        let cases = [
            ("for=192.0.2.60;proto=http;by=203.0.113.43", Some("192.0.2.60")),
            (" For=\"[2001:db8:cafe::17]:4711\"", Some("2001:db8:cafe::17")),
            ("proto=https;for=198.51.100.17", Some("198.51.100.17")),
            ("proto=https", None),
            ("for=unknown", None),
            ("for=\"[2001:db8::1]", None),
        ];
        for (element, want) in cases {
            assert_eq!(parse_forwarded(element), want.map(|ip| ip.parse().unwrap()), "{element:?}");
        }
    }
}
