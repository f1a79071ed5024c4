//! HTML forms as they arrive: `application/x-www-form-urlencoded` bytes, read leniently.
//!
//! Every form is a plain POST that curl can send too. Bytes that are not UTF-8 become U+FFFD
//! (so they reach a page that says what is wrong rather than a bare 400), a field sent twice
//! counts once (the first), and at most [`MAX_FIELDS`] fields are read.

/// Fields read from one form at most: ours have fewer than ten.
pub const MAX_FIELDS: usize = 32;

/// A submitted form.
#[derive(Debug, Default, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        let mut fields: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(body).take(MAX_FIELDS) {
            if !fields.iter().any(|(n, _)| *n == name) {
                fields.push((name.into_owned(), value.into_owned()));
            }
        }
        Self(fields)
    }

    /// The field's value, or `""` if it was not sent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// At most `max` characters of `text`: what a page echoes back of a field.
pub fn kept(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_leniently() {
        let form = Form::parse(b"name=al%20ice&name=bob&public_key=ssh-ed25519+AAAA&bad=%FF%FE");
        assert_eq!(form.get("name"), "al ice");
        assert_eq!(form.get("public_key"), "ssh-ed25519 AAAA");
        assert_eq!(form.get("bad"), "\u{fffd}\u{fffd}");
        assert_eq!(form.get("missing"), "");
        assert_eq!(kept("abcdef", 3), "abc");
    }
}
