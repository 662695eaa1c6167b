//! Point queries: how the store routes a few numbers, read with indexed queries instead of
//! loading the whole model, for commands that answer once (`patchbay lookup --store`). Each
//! number costs one query on the primary keys of `numbers` and `prefixes`, whatever the
//! store holds.

use patchbay_core::{Connector, Match, Prefix, E164};
use postgres::IsolationLevel;

use super::{describe, Postgres};
use crate::error::AdminError;

/// A number's own route, or else its longest routed prefix (the candidates are `$2`, every
/// prefix of its digits), with the connector's record.
const ROUTE: &str = "SELECT c.connector::text, x.prefix FROM ( \
        SELECT n.connector_id, NULL::text AS prefix, 0 AS rank FROM patchbay.numbers n \
            WHERE n.number = $1 AND n.connector_id IS NOT NULL \
        UNION ALL \
        SELECT p.connector_id, p.prefix, 1 FROM patchbay.prefixes p \
            WHERE p.prefix = ANY($2::text[]) \
    ) x JOIN patchbay.connectors c USING (connector_id) \
    ORDER BY x.rank, length(x.prefix) DESC LIMIT 1";

/// How the store routed some numbers, all read at one position.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRoutes {
    /// The position of the store's newest change when they were read.
    pub position: u64,
    /// For each number asked, in order: how it matched and its connector, or `None` when
    /// nothing routes it.
    pub routes: Vec<Option<(Match, Connector)>>,
}

impl Postgres {
    /// How the store routes each of `numbers` now, exactly as a node holding the store's
    /// model would answer (its own route, else its longest routed prefix), read in one
    /// read-only snapshot of the database with one indexed query a number.
    ///
    /// # Errors
    ///
    /// `unavailable` when the database cannot be reached; `internal` when a stored row
    /// cannot be read.
    pub fn routes(&self, numbers: &[E164]) -> Result<StoredRoutes, AdminError> {
        let failed =
            |e: postgres::Error| AdminError::unavailable(format!("the store: {}", describe(&e)));
        let mut client = self
            .client()
            .map_err(|e| AdminError::unavailable(format!("the store: {}", e.reason())))?;
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(failed)?;
        let position: i64 = tx
            .query_one("SELECT position FROM patchbay.head", &[])
            .and_then(|row| row.try_get(0))
            .map_err(failed)?;
        let statement = tx.prepare(ROUTE).map_err(failed)?;
        let mut routes = Vec::with_capacity(numbers.len());
        for number in numbers {
            let prefixes: Vec<String> = (1..=number.len())
                .filter_map(|len| Prefix::of(*number, len))
                .map(|prefix| prefix.to_string())
                .collect();
            let row = tx
                .query_opt(&statement, &[&number.to_string(), &prefixes])
                .map_err(failed)?;
            let Some(row) = row else {
                routes.push(None);
                continue;
            };
            let text: String = row.try_get(0).map_err(failed)?;
            let prefix: Option<String> = row.try_get(1).map_err(failed)?;
            let connector: Connector = serde_json::from_str(&text).map_err(|e| {
                AdminError::internal(format!("the store's connector for {number}: {e}"))
            })?;
            let matched = match prefix {
                None => Match::Exact,
                Some(prefix) => Match::Prefix(prefix.parse().map_err(|e| {
                    AdminError::internal(format!("the store's prefix {prefix}: {e}"))
                })?),
            };
            routes.push(Some((matched, connector)));
        }
        tx.commit().map_err(failed)?;
        Ok(StoredRoutes {
            position: u64::try_from(position).unwrap_or(0),
            routes,
        })
    }
}
