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

/// The deepest nesting accepted, as `serde_json` allows.
const MAX_DEPTH: usize = 127;

/// The raw text of the fields at the paths `paths[0]` and `paths[1]` of the
/// JSON object `text` (each `None` if absent; the last of duplicate keys
/// wins), or `None` if `text` is not one JSON object.
pub fn find_fields<'a>(text: &'a [u8], paths: [&[&str]; 2]) -> Option<[Option<&'a [u8]>; 2]> {
    // Checked once here, so that strings need only look for quotes,
    // escapes and control characters.
    std::str::from_utf8(text).ok()?;
    let mut scan = Scan { text, at: 0, depth: 0 };
    let mut found = [None, None];
    scan.space();
    if scan.peek()? != b'{' {
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
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

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
        self.eat(b'{')?;
        self.space();
        if self.eat(b'}').is_some() {
            self.depth -= 1;
            return Some(());
        }
        loop {
            let (key, escaped) = self.string()?;
            self.space();
            self.eat(b':')?;
            self.space();
            let next = |i: usize| {
                on[i] && paths[i].get(level).is_some_and(|segment| key_is(key, escaped, segment))
            };
            let (next_0, next_1) = (next(0), next(1));
            let leaf_0 = next_0 && paths[0].len() == level + 1;
            let leaf_1 = next_1 && paths[1].len() == level + 1;
            let deeper = [next_0 && !leaf_0, next_1 && !leaf_1];
            let start = self.at;
            if (deeper[0] || deeper[1]) && self.peek() == Some(b'{') {
                self.object(paths, deeper, level + 1, found)?;
            } else {
                self.value()?;
            }
            if leaf_0 {
                found[0] = Some(&self.text[start..self.at]);
            }
            if leaf_1 {
                found[1] = Some(&self.text[start..self.at]);
            }
            self.space();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    self.space();
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

    /// Skips any value.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'{' => self.object([&[], &[]], [false, false], 0, &mut [None, None]),
            b'[' => {
                self.enter()?;
                self.at += 1;
                self.space();
                if self.eat(b']').is_none() {
                    loop {
                        self.value()?;
                        self.space();
                        match self.peek()? {
                            b',' => {
                                self.at += 1;
                                self.space();
                            }
                            b']' => {
                                self.at += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
                Some(())
            }
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.text[self.at..].starts_with(word).then(|| self.at += word.len())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// A string whose opening quote is next: its text between the quotes,
    /// escapes undecoded but checked, and whether it has any.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            self.at = crate::swar::find(self.text, self.at, b'"', b'\\', true);
            let byte = *self.text.get(self.at)?;
            self.at += 1;
            match byte {
                b'"' => return Some((&self.text[start..self.at - 1], escaped)),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return None,
            }
        }
    }

    /// The rest of an escape after its `\`.
    fn escape(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.at += 1;
                Some(())
            }
            b'u' => {
                self.at += 1;
                match self.hex4()? {
                    0xD800..=0xDBFF => {
                        self.eat(b'\\')?;
                        self.eat(b'u')?;
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
#[inline]
fn key_is(raw: &[u8], escaped: bool, segment: &str) -> bool {
    if !escaped {
        raw == segment.as_bytes()
    } else {
        let quoted = [&b"\""[..], raw, b"\""].concat();
        serde_json::from_slice::<String>(&quoted).is_ok_and(|key| key == segment)
    }
}

#[cfg(test)]
mod tests {
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
}
