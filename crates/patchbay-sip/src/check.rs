//! The properties every answer has, whatever the input: for the fuzz target and the tests
//! that replay its corpus.

use crate::parse::{parse, Method};
use crate::respond::Outcome;

/// The most a reply may add to the request's own copied lines (status line, `Contact`,
/// connector and match headers, a `Warning`, `Content-Length`): garbage never makes a large
/// reply, and no reply is much larger than its request plus the contact template.
pub const MAX_REPLY_OVERHEAD: usize = 2_048;

/// Checks `outcome` and `reply` against `message`: a reply only to a request with a `Via`,
/// never to `ACK`, `CANCEL` or a response; the reply a SIP response ending its header
/// section, carrying the request's `Via` lines in order, of a bounded size.
pub fn check_answer(message: &[u8], outcome: Outcome, reply: &[u8]) -> Result<(), String> {
    let request = parse(message).ok();
    match outcome {
        Outcome::Replied(status) => {
            let Some(request) = request else {
                return Err(format!(
                    "a {status} reply to a message that is not a request"
                ));
            };
            if matches!(request.method, Method::Ack | Method::Cancel) {
                return Err(format!("a {status} reply to {:?}", request.method));
            }
            if request.vias().is_empty() {
                return Err(format!("a {status} reply to a request without Via"));
            }
            let head = format!("SIP/2.0 {status} ");
            if !reply.starts_with(head.as_bytes()) {
                return Err("the reply does not start with its status line".into());
            }
            if !reply.ends_with(b"\r\nContent-Length: 0\r\n\r\n") {
                return Err("the reply does not end its header section".into());
            }
            let mut at = 0;
            for via in request.vias() {
                let Some(found) = reply
                    .get(at..)
                    .and_then(|rest| rest.windows(via.len()).position(|w| w == *via))
                else {
                    return Err("a Via line is missing from the reply, or out of order".into());
                };
                at += found + via.len();
            }
            if reply.len() > message.len() + MAX_REPLY_OVERHEAD {
                return Err(format!(
                    "a reply of {} bytes to a message of {}",
                    reply.len(),
                    message.len()
                ));
            }
            Ok(())
        }
        Outcome::Absorbed | Outcome::Dropped(_) if !reply.is_empty() => {
            Err(format!("{outcome:?} left {} bytes of reply", reply.len()))
        }
        Outcome::Absorbed => match request.map(|r| r.method) {
            Some(Method::Ack | Method::Cancel) => Ok(()),
            other => Err(format!(
                "absorbed a message that is not ACK or CANCEL: {other:?}"
            )),
        },
        Outcome::Dropped(_) => Ok(()),
    }
}
