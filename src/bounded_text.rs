//! Text from outside (a port name, a builder name, an error to echo) cut to a length a message, a
//! status file or an API answer can carry, so that a 300 KB argument never becomes a 300 KB line.

/// `text` cut at `max_chars` characters, marked with `…` when cut.
pub fn shortened(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::shortened;

    #[test]
    fn cuts_on_characters_and_marks_the_cut() {
        assert_eq!(shortened("abc", 3), "abc");
        assert_eq!(shortened("abcd", 3), "abc…");
        assert_eq!(shortened("ääää", 2), "ää…");
    }
}
