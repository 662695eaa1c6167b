//! The `--contact` template: the redirect target of a routed call, with placeholders for the
//! number and the connector's fields, checked when it is parsed.

use std::fmt;

use patchbay_core::Route;

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Number,
    ConnectorId,
    ProjectId,
    AccountId,
    ClientEnv,
    VariantId,
    AsrLangCode,
    TtsLangCode,
    VoiceName,
}

const FIELDS: [(&str, Field); 9] = [
    ("number", Field::Number),
    ("connectorId", Field::ConnectorId),
    ("projectId", Field::ProjectId),
    ("accountId", Field::AccountId),
    ("clientEnv", Field::ClientEnv),
    ("variantId", Field::VariantId),
    ("asrLangCode", Field::AsrLangCode),
    ("ttsLangCode", Field::TtsLangCode),
    ("voiceName", Field::VoiceName),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// A parsed `--contact` template, such as `sip:{connectorId}@10.0.0.5:5080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactTemplate {
    parts: Vec<Part>,
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

impl Default for ContactTemplate {
    /// `sip:{connectorId}@127.0.0.1:5080`.
    fn default() -> Self {
        ContactTemplate {
            parts: vec![
                Part::Text("sip:".into()),
                Part::Field(Field::ConnectorId),
                Part::Text("@127.0.0.1:5080".into()),
            ],
        }
    }
}

impl ContactTemplate {
    /// The default template's text.
    pub const DEFAULT: &'static str = "sip:{connectorId}@127.0.0.1:5080";

    /// Parses `text`. Refused: an unknown placeholder (the message lists the known ones), an
    /// unclosed `{` or a stray `}`, an empty template, and characters that cannot go into a
    /// `Contact` header (control characters, `<`, `>`, space).
    pub fn parse(text: &str) -> Result<ContactTemplate, TemplateError> {
        let known = || {
            FIELDS
                .iter()
                .map(|(name, _)| format!("{{{name}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if text.is_empty() {
            return Err(TemplateError("the contact template is empty".into()));
        }
        if let Some(c) = text
            .chars()
            .find(|&c| c.is_control() || c == '<' || c == '>' || c == ' ')
        {
            return Err(TemplateError(format!(
                "the contact template {text:?} holds {c:?}, which cannot go into a Contact header"
            )));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let open = rest.find('{');
            if let Some(close) = rest.find('}') {
                if open.is_none_or(|open| close < open) {
                    return Err(TemplateError(format!(
                        "the contact template {text:?} has a '}}' without a '{{'"
                    )));
                }
            }
            let Some(open) = open else {
                parts.push(Part::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(TemplateError(format!(
                    "the contact template {text:?} has a '{{' that is never closed"
                )));
            };
            let name = &after[..close];
            let Some((_, field)) = FIELDS.iter().find(|(n, _)| *n == name) else {
                return Err(TemplateError(format!(
                    "unknown placeholder {{{name}}} in the contact template {text:?}; known: {}",
                    known()
                )));
            };
            parts.push(Part::Field(*field));
            rest = &after[close + 1..];
        }
        Ok(ContactTemplate { parts })
    }

    /// Writes the target for `route` into `out`.
    pub fn render(&self, route: &Route<'_>, out: &mut Vec<u8>) {
        use std::io::Write;
        let c = route.connector;
        for part in &self.parts {
            let text: &str = match part {
                Part::Text(text) => text,
                Part::Field(Field::Number) => {
                    let _ = write!(out, "{}", route.number);
                    continue;
                }
                Part::Field(Field::ConnectorId) => &c.connector_id,
                Part::Field(Field::ProjectId) => &c.project_id,
                Part::Field(Field::AccountId) => &c.account_id,
                Part::Field(Field::ClientEnv) => c.client_env.as_str(),
                Part::Field(Field::VariantId) => &c.variant_id,
                Part::Field(Field::AsrLangCode) => &c.asr_lang_code,
                Part::Field(Field::TtsLangCode) => &c.tts_lang_code,
                Part::Field(Field::VoiceName) => &c.voice_name,
            };
            // Field values come from validated connectors, but a Contact must stay one
            // header: anything that could end it or the URI is left out.
            out.extend(
                text.bytes()
                    .filter(|b| !b.is_ascii_control() && !matches!(b, b'<' | b'>' | b' ')),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked_when_parsed() {
        assert_eq!(
            ContactTemplate::parse(ContactTemplate::DEFAULT),
            Ok(ContactTemplate::default())
        );
        let every = FIELDS
            .iter()
            .map(|(n, _)| format!("{{{n}}}"))
            .collect::<Vec<_>>()
            .join(";x=");
        assert!(ContactTemplate::parse(&format!("sip:{every}@h")).is_ok());
        for (bad, says) in [
            ("sip:{connector}@h", "unknown placeholder {connector}"),
            ("sip:{connectorId@h", "never closed"),
            ("sip:}{connectorId}@h", "without a '{'"),
            ("", "empty"),
            ("sip:a b@h", "cannot go into a Contact"),
            ("sip:<a>@h", "cannot go into a Contact"),
        ] {
            let err = ContactTemplate::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let err = ContactTemplate::parse("{x}")
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("{voiceName}"), "lists the known ones: {err}");
    }
}
