//! Explaining a lookup: how an input normalized, what it matched, and why it routes or not,
//! within what the caller's project may see.

use patchbay_core::{input_form, normalize_in, Match};

use super::{Caller, Replica};
use crate::api::{Explanation, MatchKind, Outcome};
use crate::error::AdminError;

impl Replica {
    /// How `input` would be looked up in `project`: for any string, never an error about
    /// the input itself. A number another project routes is `not_routed` here, as a
    /// lookup's `404` is: nothing of another project shows.
    ///
    /// # Errors
    ///
    /// The key: `unauthorized` or `forbidden` (and `not_found` for the operator and a
    /// project that does not exist), as for a lookup.
    pub fn explain(
        &self,
        caller: &Caller,
        project: &str,
        input: &str,
    ) -> Result<Explanation, AdminError> {
        self.access.authorize(caller, project)?;
        let form = input_form(input).as_str().to_string();
        let mut explained = Explanation {
            input: input.to_string(),
            valid: false,
            reason: None,
            normalized: None,
            form,
            matched: MatchKind::None,
            prefix: None,
            connector: None,
            number: None,
            outcome: Outcome::Invalid,
            snapshot_version: self.router.version(),
        };
        let number = match normalize_in(input, self.config.default_region) {
            Ok(number) => number,
            Err(error) => {
                explained.reason = Some(error.reason().to_string());
                return Ok(explained);
            }
        };
        explained.valid = true;
        explained.normalized = Some(number);
        explained.outcome = Outcome::NotRouted;
        if let Some(route) = self.router.get(number) {
            explained.snapshot_version = route.version();
            if route.connector().project_id == project {
                explained.connector = Some(route.connector().clone());
                explained.outcome = Outcome::Routed;
                match route.matched() {
                    Match::Exact => explained.matched = MatchKind::Exact,
                    Match::Prefix(prefix) => {
                        explained.matched = MatchKind::Prefix;
                        explained.prefix = Some(prefix);
                    }
                }
            }
        }
        let model = self.model.read();
        if let Some(entry) = model.numbers.get(&number) {
            if **entry.project == *project {
                explained.number = Some(model.phone_number(number, entry));
                if explained.connector.is_none() {
                    explained.outcome = Outcome::Unassigned;
                }
            }
        }
        Ok(explained)
    }
}
