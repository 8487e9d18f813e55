//! The bytes of the conversation: response heads, hidden form inputs, form encoding and the
//! redirect's query.

use memchr::memmem;

use crate::{value_error, Fail};

pub(crate) fn parse_head(
    head: &[u8],
    jar: &mut Vec<(String, String)>,
) -> Result<(u16, usize, bool, Option<String>), Fail> {
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or(b"");
    let code = first.split(|&b| b == b' ').nth(1).ok_or_else(value_error)?;
    let status: u16 = std::str::from_utf8(code).ok().and_then(|s| s.parse().ok()).ok_or_else(value_error)?;
    let (mut length, mut chunked, mut location) = (0usize, false, None);
    for line in lines {
        let Some(colon) = memchr::memchr(b':', line) else { continue };
        let name = line[..colon].trim_ascii();
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()).ok_or_else(value_error)?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if value.to_ascii_lowercase().windows(7).any(|w| w == b"chunked") {
                chunked = true;
            }
        } else if name.eq_ignore_ascii_case(b"set-cookie") {
            let v = std::str::from_utf8(value).map_err(|_| Fail("UnicodeDecodeError".into()))?;
            let (k, rest) = v.split_once('=').unwrap_or((v, ""));
            let rest = rest.split(';').next().unwrap_or("");
            match jar.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => {
                    slot.1.clear();
                    slot.1.push_str(rest);
                }
                None => jar.push((k.to_string(), rest.to_string())),
            }
        } else if name.eq_ignore_ascii_case(b"location") {
            let v = std::str::from_utf8(value).map_err(|_| Fail("UnicodeDecodeError".into()))?;
            location = Some(v.to_string());
        }
    }
    Ok((status, length, chunked, location))
}

/// The value's range in `html` of the first `NAME\s+value="..."` (loopflow's regex).
pub(crate) fn hidden(html: &[u8], name: &[u8]) -> Option<(usize, usize)> {
    for at in memmem::find_iter(html, name) {
        let mut i = at + name.len();
        let ws = i;
        while i < html.len() && matches!(html[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            i += 1;
        }
        if i == ws || !html[i..].starts_with(b"value=\"") {
            continue;
        }
        let from = i + 7;
        if let Some(len) = memchr::memchr(b'"', &html[from..]) {
            return Some((from, from + len));
        }
    }
    None
}

/// A hidden input's value as the template escaped it (loopflow's `unescape`).
pub(crate) fn unescape(v: &[u8]) -> Result<String, Fail> {
    let s = std::str::from_utf8(v).map_err(|_| Fail("UnicodeDecodeError".into()))?;
    Ok(s.replace("&#x2f;", "/").replace("&amp;", "&"))
}

/// application/x-www-form-urlencoded, as Python's `urlencode` (quote_plus): letters, digits
/// and `_.-~` as they are, space as `+`, everything else %XX.
pub(crate) fn form_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

pub(crate) fn encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    form_encode(s, &mut out);
    out
}

/// `+` as space and %XX decoded (Python's `unquote_plus`, invalid escapes kept as they are).
pub(crate) fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => {
                out.push(hex_val(b[i + 1]) << 4 | hex_val(b[i + 2]));
                i += 3;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    // unquote decodes with errors="replace".
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// The last non-blank `state` and `code` of a URL's query (Python's `dict(parse_qsl(urlsplit(loc).query))`).
pub(crate) fn query_state_code(loc: &str) -> (Option<String>, Option<String>) {
    let no_frag = loc.split('#').next().unwrap_or("");
    let Some((_, query)) = no_frag.split_once('?') else { return (None, None) };
    let (mut state, mut code) = (None, None);
    for pair in query.split('&') {
        let Some((k, v)) = pair.split_once('=') else { continue };
        if v.is_empty() {
            continue;
        }
        match form_decode(k).as_str() {
            "state" => state = Some(form_decode(v)),
            "code" => code = Some(form_decode(v)),
            _ => {}
        }
    }
    (state, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_cookies_location_length() {
        let mut jar = vec![("a".to_string(), "old".to_string())];
        let head = b"HTTP/1.1 303 See Other\r\nSet-Cookie: a=new; Path=/\r\nset-cookie:  b=x=y ; HttpOnly\r\n\
                     Location: https://app/cb?code=c%2F1&state=s\r\nContent-Length: 0";
        let (status, length, chunked, location) = parse_head(head, &mut jar).ok().unwrap();
        assert_eq!((status, length, chunked), (303, 0, false));
        assert_eq!(location.as_deref(), Some("https://app/cb?code=c%2F1&state=s"));
        assert_eq!(jar, [("a".into(), "new".into()), ("b".into(), "x=y ".into())]);
        let (_, _, chunked, _) = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked", &mut jar).ok().unwrap();
        assert!(chunked);
    }

    #[test]
    fn hidden_inputs_as_loopflow_finds_them() {
        let html = b"<input name=\"csrf\"><input name=\"csrf\"\n value=\"a&#x2f;b&amp;c\"><input name=\"login_id\" value=\"\">";
        let (a, b) = hidden(html, b"name=\"csrf\"").unwrap();
        assert_eq!(unescape(&html[a..b]).ok().unwrap(), "a/b&c");
        let (a, b) = hidden(html, b"name=\"login_id\"").unwrap();
        assert_eq!(a, b);
        assert!(hidden(html, b"name=\"other\"").is_none());
    }

    #[test]
    fn form_and_query() {
        let mut s = String::new();
        form_encode("https://a.b/c d~_.-&=+", &mut s);
        assert_eq!(s, "https%3A%2F%2Fa.b%2Fc+d~_.-%26%3D%2B");
        assert_eq!(form_decode("a+b%2f%zz%"), "a b/%zz%");
        assert_eq!(
            query_state_code("https://app/cb?state=&code=x%2By&state=s1#frag"),
            (Some("s1".into()), Some("x+y".into()))
        );
        assert_eq!(query_state_code("https://app/cb"), (None, None));
    }
}
