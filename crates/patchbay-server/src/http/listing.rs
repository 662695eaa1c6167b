//! `GET /phone-numbers`: keyset pages with `limit` and `cursor`, or, without `limit`, every
//! number streamed in chunks, so that a project of millions costs bounded memory.
//!
//! A cursor is the last number of a page, written `n1.<digits>`: opaque to clients (they pass
//! `nextCursor` back as it came), versioned so that its form can change. Each page, and each
//! chunk of a stream, reads the model as it is then: a number that is in the project from the
//! first page to the last is listed exactly once, in order; one added or removed in between
//! may or may not be.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use patchbay_admin::{Admin, Caller, PhoneNumber, MAX_PAGE};
use patchbay_core::E164;
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

const CURSOR_PREFIX: &str = "n1.";

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

/// The listing: one page with `limit`, else a stream of every number.
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
            return Err(ApiError::invalid(
                "cursor goes with limit: send the limit of the page the cursor came from",
            ));
        }
        return stream(admin, caller, project, connector).await;
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

/// Every number, `{"phoneNumbers":[...]}` written a page of [`MAX_PAGE`] at a time, with at
/// most two pages waiting for the client. The first page is read before the response
/// starts, so access errors are answered as errors; a failure later cuts the response
/// short (the client sees a broken transfer, never a complete but wrong list).
async fn stream(
    admin: Arc<Admin>,
    caller: Caller,
    project: String,
    connector: Option<String>,
) -> ApiResult<Response> {
    let first = {
        let (admin, caller, project, connector) = (
            Arc::clone(&admin),
            caller.clone(),
            project.clone(),
            connector.clone(),
        );
        blocking(move || {
            admin.list_numbers_page(&caller, &project, connector.as_deref(), None, MAX_PAGE)
        })
        .await?
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    tokio::task::spawn_blocking(move || {
        let mut page = first;
        let mut chunk = b"{\"phoneNumbers\":[".to_vec();
        let mut first_item = true;
        loop {
            for number in &page.phone_numbers {
                if !std::mem::take(&mut first_item) {
                    chunk.push(b',');
                }
                if let Err(e) = serde_json::to_writer(&mut chunk, number) {
                    let _ = sender.blocking_send(Err(std::io::Error::other(e)));
                    return;
                }
            }
            let Some(after) = page.next else { break };
            if sender
                .blocking_send(Ok(std::mem::take(&mut chunk)))
                .is_err()
            {
                return; // the client went away
            }
            match admin.list_numbers_page(
                &caller,
                &project,
                connector.as_deref(),
                Some(after),
                MAX_PAGE,
            ) {
                Ok(next) => page = next,
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
    }
}
