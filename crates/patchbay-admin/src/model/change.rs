//! One change as the journal and the shared log keep it: a JSON list of its mutations, or,
//! when it carries many numbers, a compact binary form of the same list.
//!
//! A change of a few numbers is JSON, which a person can read in the journal or in the
//! shared store's `changes` table. A bulk change (an import of 100,000 numbers, a delete
//! or a cascade over a connector's numbers) would be 100,000 quoted strings there: 15
//! bytes a number to write, send, parse and keep. Its number lists are packed instead, each
//! number as its difference from the one before it, in a variable-length integer, so a
//! sorted block of numbers takes about a byte a number.
//!
//! Layout, integers as LEB128 varints unless said otherwise, strings as a varint length
//! and UTF-8 bytes:
//!
//! ```text
//! "PBCH", u8 version (1), varint n, n × mutation:
//!   u8 0  any mutation: varint length, its JSON
//!   u8 1  put numbers: project, u8 environment, u8 0 | 1 + connector, numbers
//!   u8 2  remove numbers: numbers
//! numbers: varint n, n × zigzag varint of (digits − the digits before them, 0 before the
//!          first), a number's digits read as an integer (E164::as_u64)
//! ```
//!
//! JSON starts with `[`, never with `P`, so a reader tells the two forms apart by their
//! first bytes.
//!
//! A change made by this build carries its stamp (commit time, actor, node: what the
//! history shows): a small change is the JSON object `{"stamp": …, "mutations": […]}`, still
//! readable where it is kept; a packed one follows `"PBST"`, a varint length and the
//! stamp's JSON. Records without one (written before stamps) read as they always did.

use patchbay_core::{ClientEnv, E164};

use super::checkpoint::env_code;
use super::Mutation;
use crate::history::Stamp;

/// The first bytes of a stamped change.
const STAMPED: &[u8; 4] = b"PBST";

/// The first bytes of a packed change.
const MAGIC: &[u8; 4] = b"PBCH";
/// The packed form's version; a reader refuses any other.
const VERSION: u8 = 1;
/// A change with a number list at least this long is packed.
pub(crate) const PACK_FROM: usize = 64;

const ANY: u8 = 0;
const PUT_NUMBERS: u8 = 1;
const REMOVE_NUMBERS: u8 = 2;

/// Encodes one change for the journal and the shared log, after its stamp when it has one.
pub(crate) fn encode_change(stamp: Option<&Stamp>, change: &[Mutation]) -> Result<Vec<u8>, String> {
    let body = encode_body(change)?;
    let Some(stamp) = stamp else {
        return Ok(body);
    };
    if !body.starts_with(MAGIC) {
        return serde_json::to_vec(&StampedRef {
            stamp,
            mutations: change,
        })
        .map_err(|e| format!("encoding a change: {e}"));
    }
    let json = serde_json::to_vec(stamp).map_err(|e| format!("encoding a stamp: {e}"))?;
    let mut out = Vec::with_capacity(STAMPED.len() + 2 + json.len() + body.len());
    out.extend_from_slice(STAMPED);
    put_varint(&mut out, json.len() as u64);
    out.extend_from_slice(&json);
    out.extend_from_slice(&body);
    Ok(out)
}

/// A small change with its stamp, as JSON.
#[derive(serde::Serialize)]
struct StampedRef<'a> {
    stamp: &'a Stamp,
    mutations: &'a [Mutation],
}

/// [`StampedRef`], read back.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stamped {
    stamp: Stamp,
    mutations: Vec<Mutation>,
}

/// Splits a stored change into its stamp, if it has one, and the change's own bytes.
fn split_stamp(position: u64, bytes: &[u8]) -> Result<(Option<Stamp>, &[u8]), String> {
    if !bytes.starts_with(STAMPED) {
        return Ok((None, bytes));
    }
    let mut r = Reader::new(bytes, STAMPED.len());
    let len = r
        .count(1)
        .map_err(|e| format!("unreadable change {position}: {e}"))?;
    let json = r
        .take(len)
        .map_err(|e| format!("unreadable change {position}: {e}"))?;
    let stamp = serde_json::from_slice(json)
        .map_err(|e| format!("unreadable change {position}: its stamp ({e})"))?;
    Ok((Some(stamp), bytes.get(r.at..).unwrap_or_default()))
}

/// Decodes one stored change: its stamp (none on a change stored before stamps) and its
/// mutations.
pub(crate) fn decode_stamped(
    position: u64,
    bytes: &[u8],
) -> Result<(Option<Stamp>, Vec<Mutation>), String> {
    if bytes.starts_with(b"{") {
        let stamped: Stamped = serde_json::from_slice(bytes)
            .map_err(|e| format!("unreadable change {position}: {e}"))?;
        return Ok((Some(stamped.stamp), stamped.mutations));
    }
    let (stamp, body) = split_stamp(position, bytes)?;
    Ok((stamp, decode_change(position, body)?))
}

/// A stored change's stamp alone (none before stamps), without building its mutations.
pub(crate) fn stamp_of(position: u64, bytes: &[u8]) -> Result<Option<Stamp>, String> {
    /// The stamp; the mutations beside it are skipped as they are read.
    #[derive(serde::Deserialize)]
    struct StampOnly {
        stamp: Stamp,
    }
    if bytes.starts_with(b"{") {
        return serde_json::from_slice::<StampOnly>(bytes)
            .map(|s| Some(s.stamp))
            .map_err(|e| format!("unreadable change {position}: {e}"));
    }
    split_stamp(position, bytes).map(|(stamp, _)| stamp)
}

fn encode_body(change: &[Mutation]) -> Result<Vec<u8>, String> {
    let bulk = change.iter().any(|mutation| match mutation {
        Mutation::PutNumbers { numbers, .. } | Mutation::RemoveNumbers { numbers } => {
            numbers.len() >= PACK_FROM
        }
        _ => false,
    });
    if bulk {
        pack(change)
    } else {
        serde_json::to_vec(change).map_err(|e| format!("encoding a change: {e}"))
    }
}

/// Decodes one stored change (either form, stamped or not): its mutations.
pub(crate) fn decode_change(position: u64, bytes: &[u8]) -> Result<Vec<Mutation>, String> {
    if bytes.starts_with(b"{") {
        return decode_stamped(position, bytes).map(|(_, change)| change);
    }
    let (_, bytes) = split_stamp(position, bytes)?;
    if bytes.starts_with(MAGIC) {
        return unpack(bytes).map_err(|e| format!("unreadable change {position}: {e}"));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("unreadable change {position}: {e}"))
}

// ---- writing ------------------------------------------------------------------------------

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn put_str(out: &mut Vec<u8>, value: &str) {
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

pub(crate) fn put_numbers(out: &mut Vec<u8>, numbers: &[E164]) {
    put_varint(out, numbers.len() as u64);
    let mut before = 0u64;
    for number in numbers {
        let digits = number.as_u64();
        let delta = digits.wrapping_sub(before) as i64;
        put_varint(out, ((delta << 1) ^ (delta >> 63)) as u64);
        before = digits;
    }
}

fn pack(change: &[Mutation]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_varint(&mut out, change.len() as u64);
    for mutation in change {
        match mutation {
            Mutation::PutNumbers {
                project_id,
                client_env,
                connector_id,
                numbers,
            } => {
                out.reserve(numbers.len() * 2);
                out.push(PUT_NUMBERS);
                put_str(&mut out, project_id);
                out.push(env_code(*client_env));
                match connector_id {
                    None => out.push(0),
                    Some(id) => {
                        out.push(1);
                        put_str(&mut out, id);
                    }
                }
                put_numbers(&mut out, numbers);
            }
            Mutation::RemoveNumbers { numbers } => {
                out.push(REMOVE_NUMBERS);
                put_numbers(&mut out, numbers);
            }
            other => {
                let json =
                    serde_json::to_vec(other).map_err(|e| format!("encoding a change: {e}"))?;
                out.push(ANY);
                put_varint(&mut out, json.len() as u64);
                out.extend_from_slice(&json);
            }
        }
    }
    Ok(out)
}

// ---- reading ------------------------------------------------------------------------------

/// Reads a packed change (or a history entry); errors say at which byte.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes` from byte `at`.
    pub(crate) fn new(bytes: &'a [u8], at: usize) -> Reader<'a> {
        Reader { bytes, at }
    }

    /// An environment, by its code.
    pub(crate) fn env(&mut self) -> Result<ClientEnv, String> {
        let code = self.u8()?;
        ClientEnv::ALL
            .get(usize::from(code))
            .copied()
            .ok_or_else(|| self.fail(format!("{code} is not an environment")))
    }

    pub(crate) fn fail(&self, what: impl std::fmt::Display) -> String {
        format!("byte {}: {what}", self.at)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let bytes = self
            .at
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or_else(|| self.fail(format!("{n} bytes expected, the change ends first")))?;
        self.at += n;
        Ok(bytes)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.fail("a varint longer than 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.fail("a varint longer than 64 bits"))
    }

    /// A count of items each at least `min` bytes long: no more than the bytes left hold,
    /// so a damaged count cannot ask for a huge allocation.
    pub(crate) fn count(&mut self, min: usize) -> Result<usize, String> {
        let n = self.varint()?;
        let left = self.bytes.len().saturating_sub(self.at);
        usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(min) <= left)
            .ok_or_else(|| self.fail(format!("{n} items cannot fit in the {left} bytes left")))
    }

    pub(crate) fn str(&mut self) -> Result<String, String> {
        let len = self.count(1)?;
        let at = self.at;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| format!("byte {at}: a string that is not UTF-8 ({e})"))
    }

    fn numbers(&mut self) -> Result<Vec<E164>, String> {
        let n = self.count(1)?;
        let mut numbers = Vec::with_capacity(n);
        let mut before = 0u64;
        for _ in 0..n {
            let zigzag = self.varint()?;
            let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
            let digits = before.wrapping_add(delta as u64);
            let number =
                E164::from_u64(digits).map_err(|e| self.fail(format!("+{digits}: {e}")))?;
            numbers.push(number);
            before = digits;
        }
        Ok(numbers)
    }
}

/// A number list as [`put_numbers`] wrote it.
pub(crate) fn get_numbers(r: &mut Reader<'_>) -> Result<Vec<E164>, String> {
    r.numbers()
}

fn unpack(bytes: &[u8]) -> Result<Vec<Mutation>, String> {
    let mut r = Reader {
        bytes,
        at: MAGIC.len(),
    };
    let version = r.u8()?;
    if version != VERSION {
        return Err(format!(
            "a packed change of version {version}, which this build does not read \
             (it reads {VERSION}): upgrade patchbay"
        ));
    }
    let n = r.count(1)?;
    let mut change = Vec::with_capacity(n);
    for _ in 0..n {
        let mutation = match r.u8()? {
            PUT_NUMBERS => {
                let project_id = r.str()?;
                let client_env = r.env()?;
                let connector_id = match r.u8()? {
                    0 => None,
                    1 => Some(r.str()?),
                    other => return Err(r.fail(format!("{other} is not a flag"))),
                };
                Mutation::PutNumbers {
                    project_id,
                    client_env,
                    connector_id,
                    numbers: r.numbers()?,
                }
            }
            REMOVE_NUMBERS => Mutation::RemoveNumbers {
                numbers: r.numbers()?,
            },
            ANY => {
                let len = r.count(1)?;
                let at = r.at;
                serde_json::from_slice(r.take(len)?)
                    .map_err(|e| format!("byte {at}: a mutation that does not read ({e})"))?
            }
            other => return Err(r.fail(format!("{other} is not a kind of mutation"))),
        };
        change.push(mutation);
    }
    if r.at != bytes.len() {
        return Err(r.fail("bytes after the last mutation"));
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn number(n: u64) -> E164 {
        format!("+1{}", 2_012_000_000 + n % 7_000_000_000)
            .parse()
            .unwrap_or_else(|_| "+12025550100".parse().expect("a number"))
    }

    fn numbers(raw: Vec<u64>) -> Vec<E164> {
        raw.into_iter()
            .map(|n| match n % 3 {
                0 => number(n),
                1 => format!("+44{}", 2_000_000_000 + n % 999_999_999)
                    .parse()
                    .expect("a UK number"),
                _ => format!("+{}", 10_000 + n % 999_999_999_999_990)
                    .parse()
                    .unwrap_or_else(|_| number(n)),
            })
            .collect()
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let list = || proptest::collection::vec(any::<u64>(), 0..200).prop_map(numbers);
        prop_oneof![
            (
                "[a-z_]{0,12}",
                0..ClientEnv::ALL.len(),
                proptest::option::of("conn_[a-z0-9]{0,8}"),
                list(),
            )
                .prop_map(|(project_id, env, connector_id, numbers)| {
                    Mutation::PutNumbers {
                        project_id,
                        client_env: ClientEnv::ALL[env],
                        connector_id,
                        numbers,
                    }
                }),
            list().prop_map(|numbers| Mutation::RemoveNumbers { numbers }),
            "[a-z]{1,8}".prop_map(|account_id| Mutation::PutAccount { account_id }),
            "conn_[a-z0-9]{1,8}"
                .prop_map(|connector_id| Mutation::RemoveConnector { connector_id }),
        ]
    }

    proptest! {
        /// Either form reads back as the change written.
        #[test]
        fn changes_read_back_as_written(change in proptest::collection::vec(mutation(), 0..6)) {
            let bytes = encode_change(None, &change).expect("encodes");
            prop_assert_eq!(decode_change(1, &bytes).expect("decodes"), change.clone());
            let packed = pack(&change).expect("packs");
            prop_assert_eq!(unpack(&packed).expect("unpacks"), change.clone());
            let stamp = Stamp {
                at: 1_796_655_600_000,
                actor: crate::history::Actor::Cli,
                node: Some("a".into()),
            };
            let stamped = encode_change(Some(&stamp), &change).expect("encodes");
            let readable = stamped.starts_with(b"{") || stamped.starts_with(STAMPED);
            prop_assert!(readable, "a stamped change starts with {{ or PBST");
            prop_assert_eq!(decode_stamped(1, &stamped).expect("decodes"), (Some(stamp.clone()), change.clone()));
            prop_assert_eq!(stamp_of(1, &stamped).expect("its stamp"), Some(stamp));
            prop_assert_eq!(decode_change(1, &stamped).expect("decodes"), change);
        }

        /// Damaged or arbitrary bytes are an error, never a panic or a huge allocation.
        #[test]
        fn any_bytes_read_without_a_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..256),
            cut in any::<usize>(),
            flip in any::<(usize, u8)>(),
        ) {
            let mut bytes = MAGIC.to_vec();
            bytes.push(VERSION);
            bytes.extend_from_slice(&tail);
            let _ = decode_change(1, &bytes);
            let change = vec![Mutation::PutNumbers {
                project_id: "p".into(),
                client_env: ClientEnv::Live,
                connector_id: Some("conn_a".into()),
                numbers: numbers((0..100).collect()),
            }];
            let packed = pack(&change).expect("packs");
            let mut flipped = packed.clone();
            let at = flip.0 % flipped.len();
            flipped[at] ^= flip.1;
            let _ = decode_change(1, &flipped);
            prop_assert!(decode_change(1, &packed[..cut % packed.len()]).is_err());
        }
    }

    #[test]
    fn a_bulk_change_is_packed_in_about_a_byte_a_number_and_a_small_one_is_json() {
        let sorted: Vec<E164> = (0..100_000).map(number).collect();
        let bulk = vec![Mutation::PutNumbers {
            project_id: "default".into(),
            client_env: ClientEnv::Live,
            connector_id: Some("conn_abc".into()),
            numbers: sorted.clone(),
        }];
        let bytes = encode_change(None, &bulk).expect("encodes");
        assert!(bytes.starts_with(MAGIC));
        assert!(bytes.len() < 110_000, "{} bytes", bytes.len());
        let json = serde_json::to_vec(&bulk).expect("json");
        assert!(json.len() > 1_400_000, "{} bytes of JSON", json.len());
        let small = vec![Mutation::RemoveNumbers {
            numbers: sorted[..PACK_FROM - 1].to_vec(),
        }];
        let bytes = encode_change(None, &small).expect("encodes");
        assert_eq!(bytes, serde_json::to_vec(&small).expect("json"));
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let mut bytes = pack(&[Mutation::RemoveNumbers { numbers: vec![] }]).expect("packs");
        bytes[MAGIC.len()] = 2;
        let error = decode_change(7, &bytes).expect_err("refused");
        assert!(
            error.contains("unreadable change 7") && error.contains("version 2"),
            "{error}"
        );
    }
}
