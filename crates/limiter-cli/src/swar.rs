//! Finding the first of a few bytes in short fields, eight bytes at a time
//! in a register: log fields are too short to repay a vectorised search's
//! set-up on each.

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The position of the first byte at or after `from` that is `a`, is `b`,
/// or (when `controls`) is below `0x20`; `text.len()` if there is none.
#[inline]
pub(crate) fn find(text: &[u8], from: usize, a: u8, b: u8, controls: bool) -> usize {
    let (a_bytes, b_bytes) = (ONES * u64::from(a), ONES * u64::from(b));
    let below = if controls { 0x20 } else { 0 };
    let mut at = from;
    while let Some(chunk) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let (x, y) = (word ^ a_bytes, word ^ b_bytes);
        // The lowest byte flagged by each term is a true match (false
        // positives only ever sit above a true one of the same term).
        let zero_x = x.wrapping_sub(ONES) & !x;
        let zero_y = y.wrapping_sub(ONES) & !y;
        let small = word.wrapping_sub(ONES * below) & !word;
        let flags = (zero_x | zero_y | if controls { small } else { 0 }) & HIGHS;
        if flags != 0 {
            return at + flags.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    let tail = text.get(at..).unwrap_or_default();
    tail.iter()
        .position(|&c| c == a || c == b || (controls && c < 0x20))
        .map_or(text.len(), |i| at + i)
}

/// The position of the first `byte` in `text`, or `text.len()`: eight bytes
/// at a time over the first [`SHORT`] bytes, where most fields end, and
/// with `memchr` past them.
#[inline(always)]
pub(crate) fn find_byte(text: &[u8], byte: u8) -> usize {
    let pattern = ONES * u64::from(byte);
    let mut at = 0;
    while at < SHORT {
        let Some(chunk) = text.get(at..at + 8) else {
            return text[at..].iter().position(|&c| c == byte).map_or(text.len(), |i| at + i);
        };
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ pattern;
        let flags = x.wrapping_sub(ONES) & !x & HIGHS;
        if flags != 0 {
            return at + flags.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    memchr::memchr(byte, &text[at..]).map_or(text.len(), |i| at + i)
}

/// The position of the first `a` or `b` in `text`, or `text.len()`, as
/// [`find_byte`] looks.
#[inline(always)]
pub(crate) fn find_byte2(text: &[u8], a: u8, b: u8) -> usize {
    let at = find(&text[..text.len().min(SHORT)], 0, a, b, false);
    if at < SHORT || text.len() <= SHORT {
        return at;
    }
    memchr::memchr2(a, b, &text[SHORT..]).map_or(text.len(), |i| SHORT + i)
}

/// How far [`find_byte`] looks eight bytes at a time.
const SHORT: usize = 32;

/// The position of the first byte at or after `from` that ends a run of
/// plain JSON string text: a `"`, a `\\`, a control character (below
/// `0x20`) or a non-ASCII byte (`0x80` and up); `text.len()` if there is
/// none.
#[inline(always)]
pub(crate) fn find_in_string(text: &[u8], from: usize) -> usize {
    const QUOTES: u64 = ONES * b'"' as u64;
    const SLASHES: u64 = ONES * b'\\' as u64;
    const SPACES: u64 = ONES * 0x20;
    let mut at = from;
    while let Some(chunk) = text.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let (x, y) = (word ^ QUOTES, word ^ SLASHES);
        // As in `find`, the lowest flagged byte is a true match: `word`
        // flags each byte of 0x80 or more exactly, and ORed with it,
        // `word - SPACES` adds the bytes below 0x20 (its `& !word`, as in
        // `find`, is implied by the OR).
        let flags = (x.wrapping_sub(ONES) & !x)
            | (y.wrapping_sub(ONES) & !y)
            | word.wrapping_sub(SPACES)
            | word;
        let flags = flags & HIGHS;
        if flags != 0 {
            return at + flags.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    let tail = text.get(at..).unwrap_or_default();
    tail.iter()
        .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))
        .map_or(text.len(), |i| at + i)
}

#[cfg(test)]
mod tests {
    use limiter_testkit::RngExt as _;

    use super::*;

    #[test]
    fn finds_what_a_byte_loop_finds() {
        let mut rng = limiter_testkit::rng(0x2545_f491_4f6c_dd1d, 0);
        let mut next = move || rng.random::<u64>();
        let alphabet = [b'a', b'"', b'\\', b' ', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, b'x'];
        for _ in 0..20_000 {
            let len = (next() % 80) as usize;
            let text: Vec<u8> =
                (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let from = (next() % (len as u64 + 1)) as usize;
            for (a, b, controls) in [(b'"', b'\\', true), (b' ', b' ', false), (b'"', b'\\', false)]
            {
                let expected = text[from..]
                    .iter()
                    .position(|&c| c == a || c == b || (controls && c < 0x20))
                    .map_or(len, |i| from + i);
                assert_eq!(find(&text, from, a, b, controls), expected, "{text:?} from {from}");
            }
            let expected = text[from..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))
                .map_or(len, |i| from + i);
            assert_eq!(find_in_string(&text, from), expected, "{text:?} from {from}");
            let expected = text[from..].iter().position(|&c| c == b' ').map_or(len, |i| from + i);
            assert_eq!(from + find_byte(&text[from..], b' '), expected, "{text:?} from {from}");
            let expected = text[from..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\')
                .map_or(len, |i| from + i);
            assert_eq!(from + find_byte2(&text[from..], b'"', b'\\'), expected, "{text:?}");
        }
    }
}
