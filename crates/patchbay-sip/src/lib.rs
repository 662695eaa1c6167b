//! The SIP front of patchbay: parse the parts of a SIP request that routing needs, look the
//! dialled number up in a [`patchbay_core::Reader`], and build the reply of a stateless
//! redirect server (RFC 3261 §8.2.7): `302` with a `Contact` from a template, `404`, `484`,
//! `483`, `200` to `OPTIONS`, `405`, `400`; `ACK` and `CANCEL` absorbed; responses and junk
//! dropped.
//!
//! Nothing here allocates per request once the output buffer has grown: the parser borrows
//! the datagram ([`Request`]), header lines are copied into the reply verbatim, and the reply
//! is written into a buffer the caller reuses. No HTTP, no admin: any SIP process can embed
//! it.
//!
//! ```
//! use patchbay_core::{Router, Snapshot};
//! use patchbay_sip::{ContactTemplate, Outcome, Responder};
//!
//! let router = Router::new(Snapshot::empty(1));
//! let mut reader = router.reader();
//! let responder = Responder::new(ContactTemplate::parse("sip:{connectorId}@10.0.0.5").unwrap());
//! let invite = b"INVITE sip:+14155552671@example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
//!     Max-Forwards: 70\r\n\
//!     To: <sip:+14155552671@example.com>\r\n\
//!     From: <sip:alice@example.com>;tag=1928301774\r\n\
//!     Call-ID: a84b4c76e66710\r\n\
//!     CSeq: 314159 INVITE\r\n\
//!     Content-Length: 0\r\n\r\n";
//! let mut reply = Vec::new();
//! let outcome = responder.answer(&mut reader, invite, &mut reply);
//! assert!(matches!(outcome, Outcome::Replied(404)));
//! assert!(reply.starts_with(b"SIP/2.0 404 Not Found\r\n"));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
mod contact;
mod holder;
mod parse;
mod reply;
mod respond;
mod transport;

pub use contact::{ContactTemplate, TemplateError};
pub use holder::{tcp_holder, Holder};
pub use parse::{parse, Method, ParseError, Request, MAX_MESSAGE, MAX_VIA};
pub use reply::to_tag;
pub use respond::{Class, Counters, DropReason, Outcome, Responder, ALLOW};
pub use transport::{serve, Running, Settings};
