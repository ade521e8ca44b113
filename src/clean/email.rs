//! `clean_email`: one normalised address out of whatever a form or an import put in the
//! field, or `None`.
//!
//! Accepted: surrounding whitespace and quotes, a display name (`"Lee, Ann" <ann@x.com>`),
//! `mailto:` (query dropped), angle brackets, trailing punctuation, spaces around `@`, the
//! obfuscations `[at]`/`(at)`/`[dot]`/`(dot)`, full-width characters (NFKC), several
//! addresses in one field (the first valid one wins), internationalised domains (converted
//! to their ASCII `xn--` form by UTS #46). The result is lower-cased.
//!
//! Rejected (`None`): quoted local parts and IP-literal domains (not customer addresses in
//! practice), a domain without a dot, a top-level domain that is not alphabetic or `xn--`,
//! labels over 63 characters, local parts over 64, addresses over 254.

use super::text::nfkc;

/// Longer input cannot hold a deliverable address worth keeping; refusing it early keeps
/// the cost of a 10 MB value constant.
const MAX_INPUT_BYTES: usize = 4096;
const MAX_LOCAL: usize = 64;
const MAX_ADDRESS: usize = 254;

pub fn clean_email(raw: &str) -> Option<String> {
    if raw.len() > MAX_INPUT_BYTES {
        return None;
    }
    let text = nfkc(raw);
    let mut text: String = text.trim().to_string();
    if text.is_empty() || !text.contains(['@', '[', '(']) {
        return None;
    }
    text = deobfuscate(&text);

    // A display name form: the address is inside the last <...> that holds an '@'.
    if let Some(inner) = bracketed_address(&text) {
        return normalize_address(inner);
    }
    let text = join_spaces_around_at(&text);
    // Several addresses or trailing comments: the first candidate that is an address.
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';').filter(|t| t.contains('@')).find_map(normalize_address)
}

fn deobfuscate(text: &str) -> String {
    let lower = text.to_lowercase();
    if !(lower.contains("at]") || lower.contains("at)") || lower.contains("dot]") || lower.contains("dot)")) {
        return text.to_string();
    }
    let mut out = text.to_string();
    for (pattern, replacement) in
        [(" [at] ", "@"), (" (at) ", "@"), ("[at]", "@"), ("(at)", "@"), (" [dot] ", "."), (" (dot) ", "."), ("[dot]", "."), ("(dot)", ".")]
    {
        out = replace_ascii_case_insensitive(&out, pattern, replacement);
    }
    out
}

fn replace_ascii_case_insensitive(haystack: &str, pattern: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(pos) = find_ascii_case_insensitive(rest, pattern) {
        out.push_str(&rest[..pos]);
        out.push_str(replacement);
        rest = &rest[pos + pattern.len()..];
    }
    out.push_str(rest);
    out
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| haystack.is_char_boundary(i) && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn bracketed_address(text: &str) -> Option<&str> {
    let mut end = text.len();
    while let Some(close) = text[..end].rfind('>') {
        let open = text[..close].rfind('<')?;
        let inner = &text[open + 1..close];
        if inner.contains('@') {
            return Some(inner);
        }
        end = open;
    }
    None
}

fn join_spaces_around_at(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_whitespace() {
            let prev_at = chars[..i].iter().rev().find(|c| !c.is_whitespace()) == Some(&'@');
            let next_at = chars[i + 1..].iter().find(|c| !c.is_whitespace()) == Some(&'@');
            if prev_at || next_at {
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn normalize_address(candidate: &str) -> Option<String> {
    let mut s = candidate.trim();
    if s.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("mailto:")) {
        s = &s[7..];
    }
    if let Some(q) = s.find('?') {
        s = &s[..q];
    }
    let s = s
        .trim_start_matches(|c: char| "\"'<([{`".contains(c) || c.is_whitespace())
        .trim_end_matches(|c: char| "\"'>)]}`,;:.!?".contains(c) || c.is_whitespace());
    let at = s.rfind('@')?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.contains('@') {
        return None;
    }
    let local = local.to_lowercase();
    if !valid_local(&local) {
        return None;
    }
    let domain = ascii_domain(domain)?;
    let address = format!("{local}@{domain}");
    if address.len() > MAX_ADDRESS {
        return None;
    }
    Some(address)
}

fn valid_local(local: &str) -> bool {
    if local.is_empty() || local.len() > MAX_LOCAL {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    local.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+/=?^_`{|}~-.".contains(c)
            // RFC 6531 internationalised local parts: letters and digits of any script.
            || (!c.is_ascii() && c.is_alphanumeric())
    })
}

fn ascii_domain(domain: &str) -> Option<String> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() || domain.len() > 253 || domain.starts_with('[') {
        return None;
    }
    let ascii = if domain.is_ascii() {
        domain.to_ascii_lowercase()
    } else {
        // UTS #46 processing can panic on nothing we know of, but this runs on arbitrary
        // user text and must never raise: treat a panic as "not an address".
        std::panic::catch_unwind(|| idna::domain_to_ascii(domain).ok()).ok().flatten()?
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 || ascii.len() > 253 {
        return None;
    }
    for label in &labels {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
    }
    let tld = labels[labels.len() - 1];
    let tld_ok = (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())) || (tld.starts_with("xn--") && tld.len() > 4);
    if !tld_ok {
        return None;
    }
    Some(ascii)
}

#[cfg(test)]
mod tests {
    use super::clean_email as c;

    #[test]
    fn plain_and_cased() {
        assert_eq!(c("Ann.Lee@Example.COM").as_deref(), Some("ann.lee@example.com"));
        assert_eq!(c("  bob+crm@mail.co.uk  ").as_deref(), Some("bob+crm@mail.co.uk"));
    }

    #[test]
    fn display_names_and_wrappers() {
        assert_eq!(c("\"Ann Lee\" <ann@x.com>").as_deref(), Some("ann@x.com"));
        assert_eq!(c("\"Lee, Ann\" <Ann@X.com>").as_deref(), Some("ann@x.com"));
        assert_eq!(c("mailto:ann@x.com?subject=hi").as_deref(), Some("ann@x.com"));
        assert_eq!(c("<ann@x.com>").as_deref(), Some("ann@x.com"));
        assert_eq!(c("ann@x.com.").as_deref(), Some("ann@x.com"));
        assert_eq!(c("'ann@x.com';").as_deref(), Some("ann@x.com"));
        assert_eq!(c("ann @ x.com").as_deref(), Some("ann@x.com"));
        assert_eq!(c("ann[at]x[dot]com").as_deref(), Some("ann@x.com"));
        assert_eq!(c("ann (at) x (dot) com").as_deref(), Some("ann@x.com"));
        assert_eq!(c("ann＠ｘ.com").as_deref(), Some("ann@x.com"));
        assert_eq!(c("ann@x.com; bob@y.org").as_deref(), Some("ann@x.com"));
        assert_eq!(c("ann@x.com (work)").as_deref(), Some("ann@x.com"));
    }

    #[test]
    fn international_domains() {
        assert_eq!(c("jörg@bücher.de").as_deref(), Some("jörg@xn--bcher-kva.de"));
        assert_eq!(c("info@例え.jp").as_deref(), Some("info@xn--r8jz45g.jp"));
    }

    #[test]
    fn rejects_non_addresses() {
        for bad in [
            "",
            "   ",
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "ann@@x.com",
            "ann@x..com",
            ".ann@x.com",
            "ann.@x.com",
            "a..b@x.com",
            "ann@-x.com",
            "ann@x.c0m",
            "ann@x.c",
            "ann@[1.2.3.4]",
            "n/a",
            "none@none",
            "ann@x_y.com",
            "\"a b\"@x.com",
        ] {
            assert_eq!(c(bad), None, "{bad:?}");
        }
        let long_local = format!("{}@x.com", "a".repeat(65));
        assert_eq!(c(&long_local), None);
        assert_eq!(c(&"a@b.co ".repeat(2_000_000)), None);
    }
}
