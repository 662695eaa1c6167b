//! Replies of a stateless server: the request's `Via` lines (all, in order), `From`, `To`
//! (with a `tag` derived from the request when it has none), `Call-ID` and `CSeq`, copied
//! byte for byte, then the reply's own headers. The same request always gets the same bytes.

use std::io::Write;

use crate::parse::{value, Request};

/// The `To` tag of a reply to `request`: a hash of its `Call-ID`, `From`, `CSeq` and top
/// `Via`, as 16 hex digits, so a retransmission gets the same tag (FNV-1a, 64 bits: stable
/// across processes and versions, which a stateless server's retransmissions need).
pub fn to_tag(request: &Request<'_>) -> [u8; 16] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [
        request.call_id.map(value),
        request.from.map(value),
        request.cseq.map(value),
        request.vias().first().copied().map(value),
    ];
    for part in parts {
        for &b in part.unwrap_or_default().iter().chain(b"\n") {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut out = [0u8; 16];
    for (i, slot) in out.iter_mut().enumerate() {
        let nibble = (hash >> (60 - 4 * i)) & 0xf;
        *slot = b"0123456789abcdef"[nibble as usize];
    }
    out
}

/// Whether a `To` (or `From`) line carries a `tag` parameter: one after the URI (past the
/// `>` when the URI is in angle brackets).
fn has_tag(line: &[u8]) -> bool {
    let v = value(line);
    let params = match v.iter().rposition(|&b| b == b'>') {
        Some(at) => v.get(at + 1..).unwrap_or_default(),
        None => v,
    };
    params.windows(5).any(|w| w.eq_ignore_ascii_case(b";tag="))
}

/// Writes the reply `status reason` to `request` into `out` (cleared first): the copied
/// lines, then `extra` (whole header lines with their CRLF), then `Content-Length: 0`.
pub(crate) fn write(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    request: &Request<'_>,
    extra: impl FnOnce(&mut Vec<u8>),
) {
    out.clear();
    let _ = write!(out, "SIP/2.0 {status} {reason}\r\n");
    let line = |out: &mut Vec<u8>, line: &[u8]| {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    };
    for via in request.vias() {
        line(out, via);
    }
    if let Some(from) = request.from {
        line(out, from);
    }
    if let Some(to) = request.to {
        out.extend_from_slice(to.trim_ascii_end());
        if !has_tag(to) {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(&to_tag(request));
        }
        out.extend_from_slice(b"\r\n");
    }
    if let Some(call_id) = request.call_id {
        line(out, call_id);
    }
    if let Some(cseq) = request.cseq {
        line(out, cseq);
    }
    extra(out);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
}

/// Writes `text` as the body of a quoted string (RFC 3261 `quoted-string`): quotes and
/// backslashes escaped, control characters left out.
pub(crate) fn quoted(out: &mut Vec<u8>, text: &str) {
    for b in text.bytes() {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b if b.is_ascii_control() => {}
            b => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn tags_are_added_once_and_depend_on_the_request() {
        let a = b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x;tag=no>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n";
        let r = parse(a).expect("parses");
        let mut out = Vec::new();
        write(&mut out, 200, "OK", &r, |_| {});
        let text = String::from_utf8(out.clone()).expect("ascii");
        let tag = String::from_utf8(to_tag(&r).to_vec()).expect("hex");
        assert!(
            text.contains(&format!("To: <sip:x;tag=no>;tag={tag}\r\n")),
            "{text}"
        );
        let mut again = Vec::new();
        write(&mut again, 200, "OK", &parse(a).expect("parses"), |_| {});
        assert_eq!(out, again);
        let tagged = String::from_utf8_lossy(a).replace("To: <sip:x;tag=no>", "To: <sip:x>;TAG=9");
        let r = parse(tagged.as_bytes()).expect("parses");
        write(&mut out, 200, "OK", &r, |_| {});
        assert!(String::from_utf8_lossy(&out).contains("To: <sip:x>;TAG=9\r\n"));
        let other = String::from_utf8_lossy(a).replace("Call-ID: c1", "Call-ID: c2");
        assert_ne!(
            to_tag(&parse(other.as_bytes()).expect("parses")),
            to_tag(&parse(a).expect("parses"))
        );
    }

    #[test]
    fn quoted_strings_escape_what_they_must() {
        let mut out = Vec::new();
        quoted(&mut out, "a \"b\" \\ c\r\n");
        assert_eq!(out, b"a \\\"b\\\" \\\\ c");
    }
}
