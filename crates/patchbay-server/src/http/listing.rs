//! `GET /phone-numbers` and `GET /number-prefixes`: keyset pages with `limit` and `cursor`,
//! or, without `limit`, every item streamed in chunks, so that a project of millions costs
//! bounded memory.
//!
//! A cursor is the last item of a page, written `n1.<digits>` for numbers and `p1.<digits>`
//! for prefixes: opaque to clients (they pass `nextCursor` back as it came), versioned so
//! that its form can change. Each page, and each chunk of a stream, reads the model as it is
//! then: an item that is in the project from the first page to the last is listed exactly
//! once, in order; one added or removed in between may or may not be.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use patchbay_admin::{Admin, AdminError, Caller, NumberPrefix, PhoneNumber, MAX_PAGE};
use patchbay_core::{Prefix, E164};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::{blocking, ApiResult};

/// `GET /phone-numbers` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListNumbersQuery {
    /// Only the numbers of this connector.
    pub connector_id: Option<String>,
    /// Numbers per page, 1 to 10,000 (**extension**). Without it every number is returned,
    /// streamed.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// Where the page starts: the `nextCursor` of the page before (**extension**; needs
    /// `limit`).
    pub cursor: Option<String>,
}

/// `GET /number-prefixes` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListPrefixesQuery {
    /// Only the prefixes of this connector.
    pub connector_id: Option<String>,
    /// Prefixes per page, 1 to 10,000. Without it every prefix is returned, streamed.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// Where the page starts: the `nextCursor` of the page before (needs `limit`).
    pub cursor: Option<String>,
}

/// `GET /phone-numbers` response.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberList {
    /// The numbers, sorted.
    pub phone_numbers: Vec<PhoneNumber>,
    /// Present when more numbers follow this page: pass it back as `cursor` (**extension**).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /number-prefixes` response.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberPrefixList {
    /// The prefixes, in order.
    pub number_prefixes: Vec<NumberPrefix>,
    /// Present when more prefixes follow this page: pass it back as `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

const CURSOR_PREFIX: &str = "n1.";
const PREFIX_CURSOR: &str = "p1.";

fn prefix_cursor_of(prefix: Prefix) -> String {
    format!("{PREFIX_CURSOR}{}", &prefix.to_string()[1..])
}

fn parse_prefix_cursor(cursor: &str) -> Result<Prefix, ApiError> {
    cursor
        .strip_prefix(PREFIX_CURSOR)
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| Prefix::parse(&format!("+{digits}")).ok())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "cursor {cursor:?} is not one this server gave out: pass back nextCursor as it \
                 came, or leave cursor out to start from the first prefix"
            ))
        })
}

fn cursor_of(number: E164) -> String {
    format!("{CURSOR_PREFIX}{}", number.as_u64())
}

fn parse_cursor(cursor: &str) -> Result<E164, ApiError> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|digits| digits.parse::<u64>().ok())
        .and_then(|value| E164::from_u64(value).ok())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "cursor {cursor:?} is not one this server gave out: pass back nextCursor as it \
                 came, or leave cursor out to start from the first number"
            ))
        })
}

/// The number listing: one page with `limit`, else a stream of every number.
pub async fn list(
    admin: Arc<Admin>,
    caller: Caller,
    project: String,
    query: ListNumbersQuery,
) -> ApiResult<Response> {
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let connector = query.connector_id;
    let Some(limit) = query.limit else {
        if after.is_some() {
            return Err(cursor_without_limit());
        }
        let fetch = move |after: Option<E164>| {
            admin
                .list_numbers_page(&caller, &project, connector.as_deref(), after, MAX_PAGE)
                .map(|page| (page.phone_numbers, page.next))
        };
        return stream("phoneNumbers", fetch).await;
    };
    let page = blocking(move || {
        admin.list_numbers_page(&caller, &project, connector.as_deref(), after, limit)
    })
    .await?;
    Ok(Json(PhoneNumberList {
        phone_numbers: page.phone_numbers,
        next_cursor: page.next.map(cursor_of),
    })
    .into_response())
}

/// The prefix listing: one page with `limit`, else a stream of every prefix.
pub async fn list_prefixes(
    admin: Arc<Admin>,
    caller: Caller,
    project: String,
    query: ListPrefixesQuery,
) -> ApiResult<Response> {
    let after = query
        .cursor
        .as_deref()
        .map(parse_prefix_cursor)
        .transpose()?;
    let connector = query.connector_id;
    let Some(limit) = query.limit else {
        if after.is_some() {
            return Err(cursor_without_limit());
        }
        let fetch = move |after: Option<Prefix>| {
            admin
                .list_prefixes_page(&caller, &project, connector.as_deref(), after, MAX_PAGE)
                .map(|page| (page.prefixes, page.next))
        };
        return stream("numberPrefixes", fetch).await;
    };
    let page = blocking(move || {
        admin.list_prefixes_page(&caller, &project, connector.as_deref(), after, limit)
    })
    .await?;
    Ok(Json(NumberPrefixList {
        number_prefixes: page.prefixes,
        next_cursor: page.next.map(prefix_cursor_of),
    })
    .into_response())
}

fn cursor_without_limit() -> ApiError {
    ApiError::invalid("cursor goes with limit: send the limit of the page the cursor came from")
}

/// Every item, `{"<field>":[...]}` written a page of [`MAX_PAGE`] at a time (`fetch` gives
/// the page after a cursor, and the next cursor), with at most two pages waiting for the
/// client. The first page is read before the response starts, so access errors are
/// answered as errors; a failure later cuts the response short (the client sees a broken
/// transfer, never a complete but wrong list).
async fn stream<T, C>(
    field: &'static str,
    fetch: impl Fn(Option<C>) -> Result<(Vec<T>, Option<C>), AdminError> + Send + Sync + 'static,
) -> ApiResult<Response>
where
    T: Serialize + Send + 'static,
    C: Send + 'static,
{
    let fetch = Arc::new(fetch);
    let first = {
        let fetch = Arc::clone(&fetch);
        blocking(move || fetch(None)).await?
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    tokio::task::spawn_blocking(move || {
        let (mut items, mut next) = first;
        let mut chunk = format!("{{\"{field}\":[").into_bytes();
        let mut first_item = true;
        loop {
            for item in &items {
                if !std::mem::take(&mut first_item) {
                    chunk.push(b',');
                }
                if let Err(e) = serde_json::to_writer(&mut chunk, item) {
                    let _ = sender.blocking_send(Err(std::io::Error::other(e)));
                    return;
                }
            }
            let Some(after) = next else { break };
            if sender
                .blocking_send(Ok(std::mem::take(&mut chunk)))
                .is_err()
            {
                return; // the client went away
            }
            match fetch(Some(after)) {
                Ok(page) => (items, next) = page,
                Err(e) => {
                    let _ = sender.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
        chunk.extend_from_slice(b"]}");
        let _ = sender.blocking_send(Ok(chunk));
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let number: E164 = "+442079460958".parse().expect("e164");
        assert_eq!(parse_cursor(&cursor_of(number)).ok(), Some(number));
        for bad in [
            "",
            "n1.",
            "n1.x",
            "+442079460958",
            "n2.442079460958",
            "n1.0",
            "n1.99999999999999999999",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
        let prefix: Prefix = "+4420794600".parse().expect("prefix");
        assert_eq!(
            parse_prefix_cursor(&prefix_cursor_of(prefix)).ok(),
            Some(prefix)
        );
        for bad in [
            "",
            "p1.",
            "p1.+44",
            "p1.4 4",
            "n1.44",
            "p1.99",
            "p1.123456789012345",
        ] {
            assert!(parse_prefix_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
