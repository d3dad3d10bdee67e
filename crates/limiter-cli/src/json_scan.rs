//! A validating JSON scanner that finds the raw text of up to two fields of
//! an object by their paths, without building any value.
//!
//! It accepts exactly the JSON texts `serde_json` reads as a
//! `serde_json::Value` (RFC 8259, nesting at most 127 deep, strings of valid
//! UTF-8 without raw control characters, `\u` escapes that pair their
//! surrogates), except that it never converts numbers, so it also takes a
//! number too large for `f64`. A field's text is returned as written: a
//! number's digits, or a string with its quotes, so that callers read
//! numbers exactly.
//!
//! The whole text is checked, also after both fields are found. It is read
//! in one pass: strings eight bytes at a time (stopping only at a quote, an
//! escape, a control character or a non-ASCII byte, whose UTF-8 sequence is
//! then checked on its own), and everything outside strings byte by byte,
//! where only ASCII is valid JSON, so no separate UTF-8 check is needed.

/// The deepest nesting accepted, as `serde_json` allows.
const MAX_DEPTH: usize = 127;

/// The raw text of the fields at the paths `paths[0]` and `paths[1]` of the
/// JSON object `text` (each `None` if absent; the last of duplicate keys
/// wins), or `None` if `text` is not one JSON object.
pub fn find_fields<'a>(text: &'a [u8], paths: [&[&str]; 2]) -> Option<[Option<&'a [u8]>; 2]> {
    let mut scan = Scan { text, at: 0, depth: 0 };
    let mut found = [None, None];
    if scan.space() != b'{' {
        return None;
    }
    scan.object(paths, [true, true], 0, &mut found)?;
    scan.space();
    (scan.at == text.len()).then_some(found)
}

struct Scan<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

impl<'a> Scan<'a> {
    /// The next byte, or 0 at the end (a byte that JSON allows nowhere
    /// outside strings, and inside them only escaped).
    #[inline(always)]
    fn byte(&self) -> u8 {
        self.text.get(self.at).copied().unwrap_or(0)
    }

    /// Skips white space, returning the byte after it (0 at the end).
    #[inline(always)]
    fn space(&mut self) -> u8 {
        loop {
            let byte = self.byte();
            if byte > b' ' || !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                return byte;
            }
            self.at += 1;
        }
    }

    #[inline(always)]
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// An object whose opening `{` is next: records the fields that `on`
    /// paths end at within it, `level` keys down.
    fn object(
        &mut self,
        paths: [&[&str]; 2],
        on: [bool; 2],
        level: usize,
        found: &mut [Option<&'a [u8]>; 2],
    ) -> Option<()> {
        self.enter()?;
        self.at += 1;
        // Each path's key at this level, while the object is on its way,
        // and whether the path ends there.
        let want = |i: usize| on[i].then(|| paths[i].get(level)).flatten().map(|s| s.as_bytes());
        let want = [want(0), want(1)];
        let leaf = [paths[0].len() == level + 1, paths[1].len() == level + 1];
        let mut next = self.space();
        if next == b'}' {
            self.at += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            if next != b'"' {
                return None;
            }
            let key_start = self.at + 1;
            let escaped = self.string()?;
            let key = &self.text[key_start..self.at - 1];
            if self.space() != b':' {
                return None;
            }
            self.at += 1;
            let first = self.space();
            let hit = [
                want[0].is_some_and(|segment| key_is(key, escaped, segment)),
                want[1].is_some_and(|segment| key_is(key, escaped, segment)),
            ];
            let start = self.at;
            if hit[0] || hit[1] {
                let deeper = [hit[0] && !leaf[0], hit[1] && !leaf[1]];
                if (deeper[0] || deeper[1]) && first == b'{' {
                    self.object(paths, deeper, level + 1, found)?;
                } else {
                    self.value(first)?;
                }
                for i in 0..2 {
                    if hit[i] && leaf[i] {
                        found[i] = Some(&self.text[start..self.at]);
                    }
                }
            } else {
                self.value(first)?;
            }
            match self.space() {
                b',' => {
                    self.at += 1;
                    next = self.space();
                }
                b'}' => {
                    self.at += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips any value, whose first byte `first` is next.
    #[inline(always)]
    fn value(&mut self, first: u8) -> Option<()> {
        match first {
            b'"' => self.string().map(drop),
            b'0'..=b'9' | b'-' => self.number(),
            _ => self.other_value(first),
        }
    }

    /// Skips an object, array or literal, whose first byte `first` is next.
    #[inline(never)]
    fn other_value(&mut self, first: u8) -> Option<()> {
        match first {
            b'{' => self.object([&[], &[]], [false, false], 0, &mut [None, None]),
            b'[' => self.array(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    /// An array whose opening `[` is next.
    fn array(&mut self) -> Option<()> {
        self.enter()?;
        self.at += 1;
        let mut next = self.space();
        if next != b']' {
            loop {
                self.value(next)?;
                match self.space() {
                    b',' => {
                        self.at += 1;
                        next = self.space();
                    }
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.at += 1;
        self.depth -= 1;
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.text[self.at..].starts_with(word).then(|| self.at += word.len())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    #[inline]
    fn number(&mut self) -> Option<()> {
        if self.byte() == b'-' {
            self.at += 1;
        }
        match self.byte() {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.byte() == b'.' {
            self.at += 1;
            self.some_digits()?;
        }
        if let b'e' | b'E' = self.byte() {
            self.at += 1;
            if let b'+' | b'-' = self.byte() {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    #[inline(always)]
    fn digits(&mut self) {
        while self.byte().is_ascii_digit() {
            self.at += 1;
        }
    }

    #[inline(always)]
    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// Skips a string whose opening quote is next, checking its escapes and
    /// UTF-8: whether it has any escapes.
    #[inline(always)]
    fn string(&mut self) -> Option<bool> {
        let at = crate::swar::find_in_string(self.text, self.at + 1);
        if self.text.get(at) == Some(&b'"') {
            self.at = at + 1;
            Some(false)
        } else {
            self.at = at;
            self.string_rest()
        }
    }

    /// The rest of a string from a byte that is not plain text: an escape, a
    /// non-ASCII character, the closing quote after either, or an error.
    #[cold]
    #[inline(never)]
    fn string_rest(&mut self) -> Option<bool> {
        let mut escaped = false;
        loop {
            let byte = *self.text.get(self.at)?;
            self.at += 1;
            match byte {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0x80.. => self.utf8(byte)?,
                _ => return None,
            }
            self.at = crate::swar::find_in_string(self.text, self.at);
        }
    }

    /// The rest of a UTF-8 sequence of two or more bytes after its first
    /// byte `lead`.
    fn utf8(&mut self, lead: u8) -> Option<()> {
        let width = match lead {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None,
        };
        let sequence = self.text.get(self.at - 1..self.at - 1 + width)?;
        std::str::from_utf8(sequence).ok()?;
        self.at += width - 1;
        Some(())
    }

    /// The rest of an escape after its `\`.
    fn escape(&mut self) -> Option<()> {
        match self.byte() {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.at += 1;
                Some(())
            }
            b'u' => {
                self.at += 1;
                match self.hex4()? {
                    0xD800..=0xDBFF => {
                        if self.text.get(self.at..self.at + 2) != Some(b"\\u") {
                            return None;
                        }
                        self.at += 2;
                        (0xDC00..=0xDFFF).contains(&self.hex4()?).then_some(())
                    }
                    0xDC00..=0xDFFF => None,
                    _ => Some(()),
                }
            }
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        let value = digits.iter().try_fold(0, |v, &b| Some(v * 16 + (b as char).to_digit(16)?))?;
        self.at += 4;
        Some(value)
    }
}

/// Whether a key's raw text (escapes undecoded) is `segment`.
#[inline(always)]
fn key_is(raw: &[u8], escaped: bool, segment: &[u8]) -> bool {
    if escaped { escaped_key_is(raw, segment) } else { raw == segment }
}

#[cold]
fn escaped_key_is(raw: &[u8], segment: &[u8]) -> bool {
    let quoted = [&b"\""[..], raw, b"\""].concat();
    serde_json::from_slice::<String>(&quoted).is_ok_and(|key| key.as_bytes() == segment)
}

#[cfg(test)]
mod tests {
    use limiter_testkit::RngExt as _;

    use super::*;

    fn find(text: &str, a: &[&str], b: &[&str]) -> Option<[Option<String>; 2]> {
        find_fields(text.as_bytes(), [a, b])
            .map(|found| found.map(|f| f.map(|raw| String::from_utf8(raw.to_vec()).unwrap())))
    }

    fn some(a: &str, b: &str) -> Option<[Option<String>; 2]> {
        Some([Some(a.to_owned()), Some(b.to_owned())])
    }

    #[test]
    fn fields_are_found_as_written() {
        let text = r#" { "a" : 1.50e+3 , "o":{"b":"x\"y","c":[1,{"b":2}]}, "z": null } "#;
        assert_eq!(find(text, &["a"], &["o", "b"]), some("1.50e+3", r#""x\"y""#));
        assert_eq!(
            find(text, &["o"], &["o", "c"]),
            some(r#"{"b":"x\"y","c":[1,{"b":2}]}"#, "[1,{\"b\":2}]")
        );
        assert_eq!(find(text, &["z"], &["q"]), Some([Some("null".to_owned()), None]));
        assert_eq!(find(r#"{"a":1,"a":2}"#, &["a"], &["b"]), Some([Some("2".to_owned()), None]));
        assert_eq!(find(r#"{"\u0061":1}"#, &["a"], &["b"]), Some([Some("1".to_owned()), None]));
        assert_eq!(find(r#"{"a":"x"}"#, &["a", "b"], &["b"]), Some([None, None]));
        assert_eq!(find("{}", &["a"], &["b"]), Some([None, None]));
    }

    #[test]
    fn exactly_serde_jsons_objects_are_accepted() {
        let deep_ok = format!("{{\"a\":{}1{}}}", "[".repeat(126), "]".repeat(126));
        let too_deep = format!("{{\"a\":{}1{}}}", "[".repeat(127), "]".repeat(127));
        let texts = [
            r#"{"a":[1,2,{"b":[]}],"c":true,"d":false,"e":-0.5E-7,"f":"\ud83d\ude00"}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":1e}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud83d"}"#,
            r#"{"a":"\ude00"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"\t\"}",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":tru}"#,
            r#"{"a":1} {}"#,
            r#"[1]"#,
            r#""a""#,
            r#"{"a":1"#,
            &deep_ok,
            &too_deep,
        ];
        for text in texts {
            let serde =
                serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object());
            assert_eq!(find(text, &["a"], &["b"]).is_some(), serde, "{text}");
        }
        assert!(find_fields(b"{\"a\":\"\xff\"}", [&["a"], &["b"]]).is_none());
    }

    /// Random edits of real-shaped lines (bytes swapped for JSON's special
    /// characters, pieces of UTF-8 and control bytes, or cut short) are
    /// objects to this scanner exactly when they are to `serde_json`, and
    /// both find the same field texts.
    #[test]
    fn edited_lines_are_judged_as_serde_json_judges_them() {
        let seeds: [&[u8]; 3] = [
            br#"{"level":"info","ts":1709294400.000300961,"request":{"remote_ip":"10.1.19.28","h":{"U":["c\"u\u00e9"]}},"status":200,"e":-1.5e-3,"n":null,"t":true}"#,
            "{\"ts\":\"2023-11-14T22:13:20Z\",\"msg\":\"caf\u{e9} \u{1f600} \u{800}\",\"request\":{\"remote_ip\":\"::1\"},\"a\":[1,[],{}]}".as_bytes(),
            b" { \"ts\" : 0 , \"request\" : { } , \"x\" : \"\\ud83d\\ude00\" } ",
        ];
        let pieces: [&[u8]; 20] = [
            b"\"",
            b"\\",
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b" ",
            b"\t",
            b"0",
            b"-",
            b".",
            b"e",
            b"\xc3\xa9",
            b"\xe2\x82",
            b"\xf0\x9f\x98\x80",
            b"\xff",
            b"\x01",
            b"\\u",
        ];
        let mut rng = limiter_testkit::rng(0x9e37_79b9_7f4a_7c15, 0);
        let mut next = move |n: usize| rng.random_range(0..n);
        let paths: [&[&str]; 2] = [&["ts"], &["request", "remote_ip"]];
        let (mut objects, mut others) = (0, 0);
        for round in 0..30_000 {
            let mut text = seeds[round % seeds.len()].to_vec();
            for _ in 0..=next(3) {
                let at = next(text.len() + 1);
                match next(4) {
                    0 => text.truncate(at),
                    1 if at < text.len() => drop(text.remove(at)),
                    _ => {
                        let piece = pieces[next(pieces.len())];
                        text.splice(at..at, piece.iter().copied());
                    }
                }
            }
            let serde = serde_json::from_slice::<serde_json::Value>(&text);
            // Numbers beyond `f64` are the one documented difference.
            if serde.as_ref().is_err_and(|e| e.to_string().starts_with("number out of range")) {
                continue;
            }
            let serde = serde.ok();
            let found = find_fields(&text, paths);
            let is_object = serde.as_ref().is_some_and(serde_json::Value::is_object);
            assert_eq!(found.is_some(), is_object, "{:?}", String::from_utf8_lossy(&text));
            if let (Some(found), Some(value)) = (found, serde) {
                objects += 1;
                for (raw, path) in found.iter().zip(paths) {
                    let field = path.iter().try_fold(&value, |v, key| v.get(key));
                    let parsed = raw.map(serde_json::from_slice::<serde_json::Value>);
                    assert_eq!(parsed.and_then(Result::ok).as_ref(), field, "{path:?}");
                }
            } else {
                others += 1;
            }
        }
        assert!(objects > 1_000 && others > 1_000, "{objects} objects, {others} others");
    }
}
