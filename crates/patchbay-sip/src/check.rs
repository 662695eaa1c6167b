//! The properties every answer has, whatever the input: for the fuzz target and the tests
//! that replay its corpus.

use std::fmt;

use crate::parse::{parse, Method};
use crate::respond::Outcome;

/// The most a reply may add to the request's own copied lines (status line, `Contact`,
/// connector and match headers, a `Warning`, `Content-Length`): garbage never makes a large
/// reply, and no reply is much larger than its request plus the contact template.
pub const MAX_REPLY_OVERHEAD: usize = 2_048;

/// Which property of an answer [`check_answer`] found broken.
///
/// Each is a fault of the code that answered (normally [`crate::Responder::answer`]), never
/// of the input: keep the message as a regression seed (`fuzz/corpus/sip_request`), and fix
/// the responder so that the answer has the property the variant names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerError {
    /// A reply to a message that does not parse as a request (a response or junk): drop
    /// such messages instead.
    ReplyToNonRequest {
        /// The status of the reply.
        status: u16,
    },
    /// A reply to `ACK` or `CANCEL`: a stateless server absorbs them without a reply.
    ReplyToAbsorbed {
        /// The status of the reply.
        status: u16,
        /// The request's method ([`Method::Ack`] or [`Method::Cancel`]).
        method: Method,
    },
    /// A reply to a request without a `Via` header, which has nowhere to go: drop it.
    ReplyWithoutVia {
        /// The status of the reply.
        status: u16,
    },
    /// The reply does not start with `SIP/2.0 {status} `: write the status line first,
    /// with the status the outcome reports.
    StatusLine {
        /// The status the outcome reports.
        status: u16,
    },
    /// The reply does not end with `Content-Length: 0` and the blank line: end every reply
    /// that way.
    Unterminated,
    /// One of the request's `Via` lines is not in the reply, or not after the ones before
    /// it: copy them all, byte for byte, in order.
    ViaMissing {
        /// The position of the first `Via` line not found in order, from 0.
        index: usize,
    },
    /// The reply is more than [`MAX_REPLY_OVERHEAD`] bytes longer than the message: bound
    /// what a reply adds to the request.
    Oversized {
        /// The length of the reply, in bytes.
        reply_len: usize,
        /// The length of the message, in bytes.
        message_len: usize,
    },
    /// An outcome without a reply left bytes in the output buffer: clear it.
    LeftoverReply {
        /// The outcome reported.
        outcome: Outcome,
        /// The bytes left in the buffer.
        reply_len: usize,
    },
    /// [`Outcome::Absorbed`] for a message that is not `ACK` or `CANCEL`: answer or drop
    /// it instead.
    AbsorbedOther {
        /// The method of the message, or `None` when it is not a request.
        method: Option<Method>,
    },
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::ReplyToNonRequest { status } => {
                write!(f, "a {status} reply to a message that is not a request")
            }
            AnswerError::ReplyToAbsorbed { status, method } => {
                write!(f, "a {status} reply to {method:?}")
            }
            AnswerError::ReplyWithoutVia { status } => {
                write!(f, "a {status} reply to a request without Via")
            }
            AnswerError::StatusLine { .. } => {
                f.write_str("the reply does not start with its status line")
            }
            AnswerError::Unterminated => f.write_str("the reply does not end its header section"),
            AnswerError::ViaMissing { .. } => {
                f.write_str("a Via line is missing from the reply, or out of order")
            }
            AnswerError::Oversized {
                reply_len,
                message_len,
            } => write!(
                f,
                "a reply of {reply_len} bytes to a message of {message_len}"
            ),
            AnswerError::LeftoverReply { outcome, reply_len } => {
                write!(f, "{outcome:?} left {reply_len} bytes of reply")
            }
            AnswerError::AbsorbedOther { method } => {
                write!(
                    f,
                    "absorbed a message that is not ACK or CANCEL: {method:?}"
                )
            }
        }
    }
}

impl std::error::Error for AnswerError {}

/// Checks `outcome` and `reply` against `message`: a reply only to a request with a `Via`,
/// never to `ACK`, `CANCEL` or a response; the reply a SIP response ending its header
/// section, carrying the request's `Via` lines in order, of a bounded size.
///
/// # Errors
///
/// An [`AnswerError`] naming the first property that does not hold.
pub fn check_answer(message: &[u8], outcome: Outcome, reply: &[u8]) -> Result<(), AnswerError> {
    let request = parse(message).ok();
    match outcome {
        Outcome::Replied(status) => {
            let Some(request) = request else {
                return Err(AnswerError::ReplyToNonRequest { status });
            };
            if matches!(request.method, Method::Ack | Method::Cancel) {
                return Err(AnswerError::ReplyToAbsorbed {
                    status,
                    method: request.method,
                });
            }
            if request.vias().is_empty() {
                return Err(AnswerError::ReplyWithoutVia { status });
            }
            let head = format!("SIP/2.0 {status} ");
            if !reply.starts_with(head.as_bytes()) {
                return Err(AnswerError::StatusLine { status });
            }
            if !reply.ends_with(b"\r\nContent-Length: 0\r\n\r\n") {
                return Err(AnswerError::Unterminated);
            }
            let mut at = 0;
            for (index, via) in request.vias().iter().enumerate() {
                let Some(found) = reply
                    .get(at..)
                    .and_then(|rest| rest.windows(via.len()).position(|w| w == *via))
                else {
                    return Err(AnswerError::ViaMissing { index });
                };
                at += found + via.len();
            }
            if reply.len() > message.len() + MAX_REPLY_OVERHEAD {
                return Err(AnswerError::Oversized {
                    reply_len: reply.len(),
                    message_len: message.len(),
                });
            }
            Ok(())
        }
        Outcome::Absorbed | Outcome::Dropped(_) if !reply.is_empty() => {
            Err(AnswerError::LeftoverReply {
                outcome,
                reply_len: reply.len(),
            })
        }
        Outcome::Absorbed => match request.map(|r| r.method) {
            Some(Method::Ack | Method::Cancel) => Ok(()),
            method => Err(AnswerError::AbsorbedOther { method }),
        },
        Outcome::Dropped(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond::DropReason;

    const OPTIONS: &[u8] = b"OPTIONS sip:h SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\n\
        To: <sip:h>\r\n\
        From: <sip:alice@example.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710\r\n\
        CSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    const REPLY: &[u8] = b"SIP/2.0 200 OK\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn lawful_answers_pass() {
        assert_eq!(check_answer(OPTIONS, Outcome::Replied(200), REPLY), Ok(()));
        assert_eq!(
            check_answer(b"junk", Outcome::Dropped(DropReason::NotSip), b""),
            Ok(())
        );
    }

    #[test]
    fn each_broken_property_is_named() {
        assert_eq!(
            check_answer(b"junk", Outcome::Replied(400), REPLY),
            Err(AnswerError::ReplyToNonRequest { status: 400 })
        );
        let ack = std::str::from_utf8(OPTIONS)
            .expect("ascii")
            .replace("OPTIONS", "ACK");
        assert!(matches!(
            check_answer(ack.as_bytes(), Outcome::Replied(200), REPLY),
            Err(AnswerError::ReplyToAbsorbed {
                status: 200,
                method: Method::Ack
            })
        ));
        assert!(matches!(
            check_answer(OPTIONS, Outcome::Replied(302), REPLY),
            Err(AnswerError::StatusLine { status: 302 })
        ));
        assert_eq!(
            check_answer(OPTIONS, Outcome::Replied(200), b"SIP/2.0 200 OK\r\n"),
            Err(AnswerError::Unterminated)
        );
        assert_eq!(
            check_answer(
                OPTIONS,
                Outcome::Replied(200),
                b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
            ),
            Err(AnswerError::ViaMissing { index: 0 })
        );
        assert!(matches!(
            check_answer(OPTIONS, Outcome::Dropped(DropReason::NoVia), REPLY),
            Err(AnswerError::LeftoverReply { reply_len, .. }) if reply_len == REPLY.len()
        ));
        assert_eq!(
            check_answer(OPTIONS, Outcome::Absorbed, b""),
            Err(AnswerError::AbsorbedOther {
                method: Some(Method::Options)
            })
        );
    }

    #[test]
    fn messages_are_the_ones_the_fuzz_target_prints() {
        let message = |err: AnswerError| err.to_string();
        assert_eq!(
            message(AnswerError::ReplyToAbsorbed {
                status: 200,
                method: Method::Cancel
            }),
            "a 200 reply to Cancel"
        );
        assert_eq!(
            message(AnswerError::Oversized {
                reply_len: 3000,
                message_len: 10
            }),
            "a reply of 3000 bytes to a message of 10"
        );
        assert_eq!(
            message(AnswerError::LeftoverReply {
                outcome: Outcome::Absorbed,
                reply_len: 4
            }),
            "Absorbed left 4 bytes of reply"
        );
        assert_eq!(
            message(AnswerError::AbsorbedOther { method: None }),
            "absorbed a message that is not ACK or CANCEL: None"
        );
        let err: Box<dyn std::error::Error> = Box::new(AnswerError::Unterminated);
        assert_eq!(err.to_string(), "the reply does not end its header section");
    }
}
