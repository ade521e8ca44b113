//! `clean_text` and the Unicode helpers the other cleaners share.

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// NFKC without the cost when the input is already normalised (pure ASCII always is).
pub fn nfkc(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.is_ascii() || is_nfkc_quick(raw.chars()) == IsNormalized::Yes {
        std::borrow::Cow::Borrowed(raw)
    } else {
        std::borrow::Cow::Owned(raw.nfkc().collect())
    }
}

/// Invisible characters that are noise in customer data: zero-width spaces and joiners
/// used as padding, byte-order marks, soft hyphens and bidirectional controls. The zero
/// width joiner/non-joiner (U+200C/U+200D) are kept: Persian and Indic scripts need them.
pub fn is_invisible_noise(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// NFKC, control and invisible characters removed, every run of whitespace (including
/// tabs, newlines and no-break spaces) collapsed to one space, trimmed. `None` when
/// nothing is left.
pub fn clean_text(raw: &str) -> Option<String> {
    let normalized = nfkc(raw);
    let mut out = String::with_capacity(normalized.len());
    let mut pending_space = false;
    for c in normalized.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if c.is_control() || is_invisible_noise(c) {
            // dropped: a control character between two words does not join or split them
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// `f` of the words joined by spaces (lower-cased when `fold`), on the stack for short
/// ASCII text: the address parser looks many windows of words up in its tables.
pub fn with_joined<R>(words: &[&str], fold: bool, f: impl FnOnce(&str) -> R) -> R {
    // Country names run to 44 bytes, state windows and postcode pairs to fewer.
    const CAPACITY: usize = 64;
    // One word needs no copy unless it is to be folded and has capitals.
    if let [word] = words {
        if !fold || word.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
            return f(word);
        }
    }
    let total = words.iter().map(|w| w.len()).sum::<usize>() + words.len().saturating_sub(1);
    if total <= CAPACITY && words.iter().all(|w| w.is_ascii()) {
        let mut buffer = [0u8; CAPACITY];
        let mut n = 0;
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                buffer[n] = b' ';
                n += 1;
            }
            buffer[n..n + w.len()].copy_from_slice(w.as_bytes());
            n += w.len();
        }
        if fold {
            buffer[..n].make_ascii_lowercase();
        }
        if let Ok(joined) = std::str::from_utf8(&buffer[..n]) {
            return f(joined);
        }
    }
    let joined = words.join(" ");
    if fold {
        f(&joined.to_lowercase())
    } else {
        f(&joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_and_trims() {
        assert_eq!(clean_text("  Hello \t\n  world  ").as_deref(), Some("Hello world"));
        assert_eq!(clean_text("a\u{00A0}\u{00A0}b").as_deref(), Some("a b"));
        assert_eq!(clean_text("\u{FEFF}zero\u{200B}width").as_deref(), Some("zerowidth"));
        assert_eq!(clean_text("bell\u{7}here").as_deref(), Some("bellhere"));
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        assert_eq!(clean_text("ＡＢＣ１２３").as_deref(), Some("ABC123"));
        assert_eq!(clean_text("ﬁle").as_deref(), Some("file"));
        assert_eq!(clean_text("e\u{301}").as_deref(), Some("é"));
    }

    #[test]
    fn empty_is_none() {
        assert_eq!(clean_text(""), None);
        assert_eq!(clean_text(" \t\r\n "), None);
        assert_eq!(clean_text("\u{0}\u{1}\u{200B}"), None);
    }
}
