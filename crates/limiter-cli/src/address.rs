//! Client fields that carry a port: `a.b.c.d:port`, `ipv6:port` (the last
//! colon starts the port, as HAProxy and AWS ALB write IPv6 clients) and
//! `[ipv6]:port`.

/// Splits `host:port` or `[host]:port` into the host and the port's digits;
/// `None` unless the port is 1 to 5 decimal digits and the host is not empty.
///
/// ```
/// use limiter_cli::address::split_port;
///
/// assert_eq!(split_port(b"192.0.2.7:443"), Some((&b"192.0.2.7"[..], &b"443"[..])));
/// assert_eq!(split_port(b"2001:db8::1:443"), Some((&b"2001:db8::1"[..], &b"443"[..])));
/// assert_eq!(split_port(b"[2001:db8::1]:443"), Some((&b"2001:db8::1"[..], &b"443"[..])));
/// assert_eq!(split_port(b"192.0.2.7"), None);
/// ```
pub fn split_port(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let (host, port) = match text.strip_prefix(b"[") {
        Some(rest) => {
            let close = memchr::memchr(b']', rest)?;
            (&rest[..close], rest[close + 1..].strip_prefix(b":")?)
        }
        None => {
            // A port has at most 5 digits, so the last colon, if it starts
            // one, is among the last 6 bytes.
            let tail = text.len().saturating_sub(6);
            let colon = tail + text[tail..].iter().rposition(|&b| b == b':')?;
            (&text[..colon], &text[colon + 1..])
        }
    };
    let port_ok = (1..=5).contains(&port.len()) && port.iter().all(u8::is_ascii_digit);
    (port_ok && !host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use limiter_testkit::RngExt as _;

    use super::*;

    #[test]
    fn ports_are_split_off_the_last_colon_or_after_brackets() {
        let split = |text: &str| {
            split_port(text.as_bytes()).map(|(h, p)| {
                (String::from_utf8(h.to_vec()).unwrap(), String::from_utf8(p.to_vec()).unwrap())
            })
        };
        let pair = |h: &str, p: &str| Some((h.to_owned(), p.to_owned()));
        assert_eq!(split("10.0.0.1:80"), pair("10.0.0.1", "80"));
        assert_eq!(split("::ffff:10.0.0.1:38037"), pair("::ffff:10.0.0.1", "38037"));
        assert_eq!(split("::1:0"), pair("::1", "0"));
        assert_eq!(split("[::1]:65535"), pair("::1", "65535"));
        assert_eq!(split("host.example:8080"), pair("host.example", "8080"));
        for bad in ["10.0.0.1", "10.0.0.1:", ":80", "10.0.0.1:123456", "10.0.0.1:8a", "[::1]80"] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
        assert_eq!(split("[::1]"), None);
        assert_eq!(split("[]:80"), None);
    }

    /// The search for the colon stops 6 bytes from the end; a colon before
    /// that would start a port too long anyway.
    #[test]
    fn the_port_is_what_the_last_colon_starts() {
        let mut rng = limiter_testkit::rng(0x1234_5678_9abc_def1, 0);
        let alphabet = b":1a.[]";
        for _ in 0..20_000 {
            let len = rng.random_range(0..12);
            let text: Vec<u8> =
                (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
            let expected = if text.first() == Some(&b'[') {
                split_port(&text)
            } else {
                text.iter().rposition(|&b| b == b':').and_then(|colon| {
                    let (host, port) = (&text[..colon], &text[colon + 1..]);
                    let port_ok =
                        (1..=5).contains(&port.len()) && port.iter().all(u8::is_ascii_digit);
                    (port_ok && !host.is_empty()).then_some((host, port))
                })
            };
            assert_eq!(split_port(&text), expected, "{:?}", String::from_utf8_lossy(&text));
        }
    }
}
