//! A fast textual IP address parser that agrees exactly with the standard library.
//!
//! [`RateLimiter::allow`](crate::RateLimiter::allow) promises to take an
//! address exactly as `str::parse::<std::net::IpAddr>()` does. std's parser is
//! a general backtracking combinator parser: it tries IPv4 first and, on
//! failure, IPv6, and within IPv6 it tries an embedded IPv4 tail at every group
//! before a hex group. That makes an IPv6 address cost several times an IPv4
//! one. [`parse_ip`] accepts and rejects the same strings and returns the same
//! address with no backtracking, and reads IPv4 a word at a time.
//!
//! # The language, as std defines it
//!
//! std is the reference; these are the rules it implements, which this module
//! restates:
//!
//! - IPv4 is exactly four decimal octets separated by `.`. An octet has one to
//!   three digits, is at most 255, and has no leading zero unless it is a lone
//!   `0` (so `010.0.0.1` is rejected rather than read as octal).
//! - IPv6 is colon-separated groups of one to four hex digits, either case,
//!   leading zeros allowed. Without `::` there are exactly eight groups. At
//!   most one `::` may appear, standing for one or more zero groups, so at most
//!   seven groups are written around it (`1:2:3:4:5:6:7::` and
//!   `::1:2:3:4:5:6:7` parse, `1:2:3:4::5:6:7:8` does not).
//! - An IPv4 address may replace the last two groups of an IPv6 address, and
//!   only there: it must end the input (`::1.2.3.4`, `::ffff:1.2.3.4`,
//!   `1:2:3:4:5:6:1.2.3.4`, but not `1.2.3.4::`). It counts as two groups.
//! - Nothing else: no zone ids (`%eth0`), brackets, ports, whitespace or signs,
//!   and no length limit beyond what these rules imply.
//!
//! # How
//!
//! IPv4 has at most 15 bytes, so it is read as two overlapping 8-byte words,
//! whole words at a time: the shape (digits and dots only, three dots, one to
//! three digits between them) and the four octet values come from the same
//! word operations whatever the octet lengths, with no branch on them, so
//! random addresses cost no mispredictions. Any byte that is neither a digit
//! nor a dot, such as an IPv6 colon, fails the first check.
//!
//! IPv6 is read in one forward pass over the bytes. A group followed by `.`
//! can only be an embedded IPv4 tail, because nothing else in either grammar
//! may follow digits with a dot. So the parser reads a run of hex digits, and
//! if a `.` follows, reads the rest of the input from that run as IPv4;
//! otherwise the run is a group.
//!
//! The proof of agreement is empirical: the unit tests below run a table of
//! tricky cases and millions of generated valid, near-valid and junk strings
//! through both this parser and std, and require identical results.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::InvalidIp;

/// Parses `s` as an IPv4 or IPv6 address exactly as `s.parse::<IpAddr>()`
/// does, without backtracking (see the module docs for how).
///
/// This is the parser behind [`RateLimiter::allow`](crate::RateLimiter::allow);
/// use it to turn addresses into keys ahead of time, as `limiter-cli` does.
///
/// # Errors
///
/// [`InvalidIp`] naming `s` wherever std's parser fails.
///
/// # Example
///
/// ```
/// use limiter_core::parse_ip;
/// use std::net::IpAddr;
///
/// assert_eq!(parse_ip("2001:db8::1")?, "2001:db8::1".parse::<IpAddr>()?);
/// assert!(parse_ip("010.0.0.1").is_err()); // no octal, as in std
/// assert_eq!(parse_ip("fe80::1%eth0").unwrap_err().input(), "fe80::1%eth0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
pub fn parse_ip(s: &str) -> Result<IpAddr, InvalidIp> {
    parse(s).ok_or_else(|| InvalidIp::new(s))
}

/// [`parse_ip`] without the error: `None` where std returns an error.
#[inline]
fn parse(s: &str) -> Option<IpAddr> {
    let bytes = s.as_bytes();
    match parse_v4(bytes) {
        Some(v4) => Some(IpAddr::V4(v4)),
        None => parse_v6(bytes).map(IpAddr::V6),
    }
}

/// The shortest IPv4 address, `0.0.0.0`, in bytes.
const V4_MIN_LEN: usize = 7;

/// The longest IPv4 address, `255.255.255.255`, in bytes.
const V4_MAX_LEN: usize = 15;

/// A byte of `1` in every byte of a word, to repeat a byte across it.
const EACH_BYTE: u64 = u64::from_ne_bytes([1; 8]);

/// `'0'` in every byte of a word: xored away, it leaves digits' values.
const ZEROS: u64 = u64::from_ne_bytes([b'0'; 8]);

/// `'.'` in every byte of a word: xored away, it leaves dots zero.
const DOTS: u64 = u64::from_ne_bytes([b'.'; 8]);

/// Parses the whole of `bytes` as four dotted decimal octets.
///
/// An address has 7 to 15 bytes, so it fits in two overlapping 8-byte words,
/// `head` (the first eight bytes) and `tail` (the last eight). The parse works
/// on whole words rather than byte by byte: which bytes are digits and which
/// are dots, where the three dots are, and each octet's value are computed
/// with the same instructions whatever the octet lengths, so random addresses
/// cost no mispredicted branches (a byte loop mispredicts on every octet
/// whose length differs from the last). The branches left are taken only on
/// malformed input.
#[inline]
fn parse_v4(bytes: &[u8]) -> Option<Ipv4Addr> {
    let len = bytes.len();
    if !(V4_MIN_LEN..=V4_MAX_LEN).contains(&len) {
        return None;
    }
    // `used` marks (bit 7 of each byte) the bytes of a word that hold input;
    // with seven bytes both words hold all of them, in bytes 0 to 6.
    let (head, tail, tail_at, used) = if len > V4_MIN_LEN {
        (word(bytes, 0), word(bytes, len - 8), len - 8, EACH_BYTE << 7)
    } else {
        let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let high = u32::from_le_bytes([bytes[3], bytes[4], bytes[5], bytes[6]]);
        let head = u64::from(low) | u64::from(high) << 24;
        (head, head, 0, (EACH_BYTE << 7) >> 8)
    };
    let (head_known, head_dots) = classify(head);
    let (tail_known, tail_dots) = classify(tail);
    if head_known & used != used || tail_known & used != used {
        return None;
    }
    // Bit i set where byte i of the input is a dot; exactly three, and the
    // octets they bound must each have one to three digits.
    let dots = byte_bits(head_dots) | byte_bits(tail_dots) << tail_at;
    let first = dots.trailing_zeros();
    let rest = dots & dots.wrapping_sub(1);
    let second = rest.trailing_zeros();
    let rest = rest & rest.wrapping_sub(1);
    let third = rest.trailing_zeros();
    if rest == 0 || rest & (rest - 1) != 0 {
        return None;
    }
    let len = len as u32;
    let lengths = [first, second - first - 1, third - second - 1, len - third - 1];
    if !lengths.iter().all(|length| (1..=3).contains(length)) {
        return None;
    }
    // Digit values instead of ASCII. With the lengths checked, the first two
    // octets end within `head` (the second dot is at most byte 7) and the last
    // two lie within `tail` (they span at most seven bytes).
    let (head, tail) = (head ^ ZEROS, tail ^ ZEROS);
    let tail_at = tail_at as u32;
    let octets = [
        octet(head, first, lengths[0]),
        octet(head, second, lengths[1]),
        octet(tail, third - tail_at, lengths[2]),
        octet(tail, len - tail_at, lengths[3]),
    ];
    match octets {
        [Some(a), Some(b), Some(c), Some(d)] => Some(Ipv4Addr::new(a, b, c, d)),
        _ => None,
    }
}

/// The eight bytes of `bytes` from `at`, as a little-endian word (byte `at`
/// lowest).
#[inline]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Marks, in bit 7 of each byte, the bytes of `word` that are a digit or a
/// dot, and the bytes that are a dot.
///
/// Exact for every byte value, with no carry between bytes: a byte `x` with
/// bit 7 clear has `(x & 0x7f) + (0x80 - n)` reach bit 7 exactly when
/// `x >= n`; bytes with bit 7 set are never marked.
#[inline]
fn classify(word: u64) -> (u64, u64) {
    const LOW_SEVEN: u64 = EACH_BYTE * 0x7f;
    const HIGH_BIT: u64 = EACH_BYTE * 0x80;
    // Digits are the bytes below 10 once '0' is xored away ...
    let x = word ^ ZEROS;
    let digits = !(((x & LOW_SEVEN) + EACH_BYTE * (0x80 - 10)) | x) & HIGH_BIT;
    // ... and dots the bytes that are 0 once '.' is.
    let x = word ^ DOTS;
    let dots = !(((x & LOW_SEVEN) + EACH_BYTE * (0x80 - 1)) | x) & HIGH_BIT;
    (digits | dots, dots)
}

/// Packs the marks of [`classify`] into one bit a byte: bit i of the result
/// is bit 7 of byte i of `marks`.
///
/// The multiply sends the mark of byte i to bit 56 + i and nowhere else in
/// the top byte, and no two partial products share a bit, so nothing carries.
#[inline]
fn byte_bits(marks: u64) -> u32 {
    ((marks >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// The bits of an octet's digits at most: three bytes.
const OCTET_BITS: u32 = 24;

/// The low [`OCTET_BITS`] of a word.
const OCTET_MASK: u32 = (1 << OCTET_BITS) - 1;

/// The value of the octet of `length` (1 to 3) digits whose last digit is
/// byte `end - 1` of `digits` (1 <= `end` <= 8), or `None` for a leading zero
/// or a value above 255.
///
/// The octet is shifted to bytes 0 to 2 with its last digit in byte 2, and
/// the bytes before it cleared, so every length takes one formula.
#[inline]
fn octet(digits: u64, end: u32, length: u32) -> Option<u8> {
    // Up to the last digit, then down so that three bytes are left.
    let aligned = (digits << (u64::BITS - 8 * end) >> (u64::BITS - OCTET_BITS)) as u32;
    let aligned = aligned & (OCTET_MASK << (OCTET_BITS - 8 * length)) & OCTET_MASK;
    let value = (aligned & 0xff) * 100 + (aligned >> 8 & 0xff) * 10 + (aligned >> 16);
    // A leading zero shows as a value with fewer digits than were written.
    let least = [0, 0, 10, 100][length as usize];
    u8::try_from(value).ok().filter(|_| value >= least)
}

/// Parses the whole of `bytes` as an IPv6 address, with at most one `::` and
/// an optional IPv4 tail.
///
/// Groups accumulate into a 128-bit integer, 16 bits each. At `::` the groups
/// so far become the head and accumulation restarts for the tail; at the end
/// the head is shifted past the zero groups `::` stands for.
fn parse_v6(bytes: &[u8]) -> Option<Ipv6Addr> {
    // The groups read since the start or the `::`, and how many in all.
    let mut bits: u128 = 0;
    let mut count = 0;
    // The groups before `::` and their number, once `::` has been read.
    let mut head: Option<(u128, usize)> = None;
    let mut at = 0;
    if bytes.starts_with(b"::") {
        head = Some((0, 0));
        at = 2;
        if bytes.len() == 2 {
            return Some(Ipv6Addr::UNSPECIFIED);
        }
    }
    loop {
        let (group, end) = hex_group(bytes, at)?;
        if bytes.get(end) == Some(&b'.') {
            // The digits start an IPv4 tail, which stands for the last two
            // groups and must end the input: without `::` it must follow
            // exactly six groups, with `::` at most five.
            let room = if head.is_some() { count <= 5 } else { count == 6 };
            if !room {
                return None;
            }
            bits = bits << 32 | u128::from(parse_v4(&bytes[at..])?.to_bits());
            count += 2;
            break;
        }
        if count == 8 {
            return None;
        }
        bits = bits << 16 | u128::from(group);
        count += 1;
        at = end;
        match bytes.get(at) {
            None => break,
            Some(b':') => at += 1,
            Some(_) => return None,
        }
        if bytes.get(at) == Some(&b':') {
            if head.is_some() {
                return None;
            }
            head = Some((bits, count));
            bits = 0;
            at += 1;
            if at == bytes.len() {
                break;
            }
        }
    }
    match head {
        None if count == 8 => Some(Ipv6Addr::from_bits(bits)),
        // `::` stands for at least one group.
        Some((head, head_count)) if count <= 7 => {
            let head = if head_count == 0 { 0 } else { head << (16 * (8 - head_count)) };
            Some(Ipv6Addr::from_bits(head | bits))
        }
        _ => None,
    }
}

/// Reads the run of one to four hex digits starting at `bytes[at]`, returning
/// its value and the index just past it.
#[inline]
fn hex_group(bytes: &[u8], at: usize) -> Option<(u16, usize)> {
    let mut value = u16::from(hex_digit(bytes, at)?);
    let mut end = at + 1;
    while let Some(digit) = hex_digit(bytes, end) {
        if end - at == 4 {
            return None;
        }
        value = value << 4 | u16::from(digit);
        end += 1;
    }
    Some((value, end))
}

/// The value of the hex digit of either case at `bytes[at]`, if there is one.
#[inline]
fn hex_digit(bytes: &[u8], at: usize) -> Option<u8> {
    let digit = HEX_DIGITS[usize::from(*bytes.get(at)?)];
    (digit != NOT_HEX).then_some(digit)
}

/// The marker in [`HEX_DIGITS`] for a byte that is not a hex digit.
const NOT_HEX: u8 = 0xFF;

/// Each byte's value as a hex digit, or [`NOT_HEX`].
static HEX_DIGITS: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = match byte as u8 {
            digit @ b'0'..=b'9' => digit - b'0',
            letter @ b'a'..=b'f' => letter - b'a' + 10,
            letter @ b'A'..=b'F' => letter - b'A' + 10,
            _ => NOT_HEX,
        };
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests;
