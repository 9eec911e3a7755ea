//! Go's `strconv.Quote`, byte for byte, so that label sets print exactly as
//! Prometheus and promtool print them.

use std::fmt;

use crate::print_table::PRINTABLE;

/// Whether Go's `strconv.IsPrint` reports `c` as printable: Unicode categories L, M,
/// N, P, S (as of Unicode 13.0.0, the tables of Go 1.19) and the ASCII space.
pub fn is_go_printable(c: char) -> bool {
    let c = u32::from(c);
    if c < 0x80 {
        return (0x20..0x7f).contains(&c);
    }
    // The last range whose start is <= c, if any, decides.
    let idx = PRINTABLE.partition_point(|&(start, _)| start <= c);
    idx > 0 && PRINTABLE[idx - 1].1 >= c
}

/// `s` as a Go double-quoted string literal, exactly as Go's `strconv.Quote` writes it.
///
/// `"` and `\` are backslash-escaped; printable runes (see [`is_go_printable`]), including
/// non-ASCII letters such as `é` or `日本`, are kept as they are; `\a \b \f \n \r \t \v`
/// use their short escapes; other control characters and DEL become `\xhh`; any other
/// non-printable rune becomes `\uhhhh` or `\Uhhhhhhhh` (lower-case hex).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // Writing into a String cannot fail.
    let _ = write_go_quoted(&mut out, s);
    out
}

/// Writes `s` quoted as by [`go_quote`] into `w`, without an intermediate allocation.
pub fn write_go_quoted<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    // Copy runs of characters that need no escaping in one call.
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let plain = c != '"' && c != '\\' && is_go_printable(c);
        if plain {
            continue;
        }
        w.write_str(&s[run_start..i])?;
        run_start = i + c.len_utf8();
        write_escaped(w, c)?;
    }
    w.write_str(&s[run_start..])?;
    w.write_char('"')
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_hex<W: fmt::Write + ?Sized>(w: &mut W, prefix: &str, v: u32, digits: u32) -> fmt::Result {
    w.write_str(prefix)?;
    for k in (0..digits).rev() {
        let nibble = (v >> (4 * k)) & 0xf;
        w.write_char(char::from(HEX[nibble as usize]))?;
    }
    Ok(())
}

fn write_escaped<W: fmt::Write + ?Sized>(w: &mut W, c: char) -> fmt::Result {
    match c {
        '"' => w.write_str("\\\""),
        '\\' => w.write_str("\\\\"),
        '\x07' => w.write_str("\\a"),
        '\x08' => w.write_str("\\b"),
        '\x0c' => w.write_str("\\f"),
        '\n' => w.write_str("\\n"),
        '\r' => w.write_str("\\r"),
        '\t' => w.write_str("\\t"),
        '\x0b' => w.write_str("\\v"),
        c if c < ' ' || c == '\x7f' => write_hex(w, "\\x", u32::from(c), 2),
        c if u32::from(c) < 0x10000 => write_hex(w, "\\u", u32::from(c), 4),
        c => write_hex(w, "\\U", u32::from(c), 8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii() {
        assert_eq!(go_quote(""), r#""""#);
        assert_eq!(go_quote("node"), r#""node""#);
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("'"), r#""'""#);
        assert_eq!(go_quote("\x07\x08\x0c\n\r\t\x0b"), r#""\a\b\f\n\r\t\v""#);
        assert_eq!(go_quote("\x00\x01\x1f\x7f"), r#""\x00\x01\x1f\x7f""#);
    }

    #[test]
    fn unicode() {
        assert_eq!(go_quote("é日本"), "\"é日本\"");
        assert_eq!(go_quote("\u{feff}"), r#""\ufeff""#);
        assert_eq!(go_quote("\u{a0}"), r#""\u00a0""#);
        assert_eq!(go_quote("\u{80}"), r#""\u0080""#);
        assert_eq!(go_quote("\u{2028}"), r#""\u2028""#);
        assert_eq!(go_quote("\u{e000}"), r#""\ue000""#);
        assert_eq!(go_quote("\u{10ffff}"), r#""\U0010ffff""#);
        assert_eq!(go_quote("😀"), "\"😀\"");
    }

    #[test]
    fn printable_table_edges() {
        assert!(is_go_printable(' '));
        assert!(is_go_printable('~'));
        assert!(!is_go_printable('\x7f'));
        assert!(!is_go_printable('\u{ad}')); // soft hyphen, Cf
        assert!(is_go_printable('\u{a1}'));
        assert!(!is_go_printable('\u{3000}')); // ideographic space, Zs
        assert!(!is_go_printable('\u{e0000}'));
        assert!(is_go_printable('\u{e0100}'));
        assert!(!is_go_printable('\u{10ffff}'));
    }
}
