//! Payload templates: a receiver that expects its own JSON shape (a Slack-style incoming
//! webhook wants `{"text": "..."}`) gets the template with `{{field}}` placeholders replaced
//! by the delivery's values, JSON-escaped (without quotes: the template puts them).

use crate::error::DomainError;

/// Largest template accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 4096;

/// The placeholders a template may use, with what each becomes.
pub const TEMPLATE_FIELDS: [(&str, &str); 12] = [
    (
        "number",
        "the record's human number (INC0000001), or its id before it has one",
    ),
    ("summary", "what happened, in words, with the number first"),
    ("what", "what happened, in words"),
    (
        "event_type",
        "the event type (incident.resolved, sla.breached)",
    ),
    ("actor", "who did it"),
    ("at", "when it was recorded (RFC 3339, UTC)"),
    ("record_kind", "incident, problem or change"),
    ("record_id", "the record's id"),
    ("title", "the record's title"),
    (
        "priority",
        "the record's priority (critical, high, ...) or empty",
    ),
    ("status", "the record's status"),
    ("delivery", "the delivery id (the same for every attempt)"),
];

/// Checks a template: size, and every `{{name}}` a known field.
pub fn check_template(template: &str) -> Result<(), DomainError> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(DomainError::LimitExceeded {
            what: "the payload template".into(),
            limit: MAX_TEMPLATE_BYTES,
        });
    }
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| DomainError::Validation {
            field: "template".into(),
            reason: "a `{{` without its `}}`".into(),
        })?;
        let name = after[..end].trim();
        if !TEMPLATE_FIELDS.iter().any(|(f, _)| *f == name) {
            return Err(DomainError::Validation {
                field: "template".into(),
                reason: format!(
                    "unknown placeholder {{{{{name}}}}}; known: {}",
                    TEMPLATE_FIELDS.map(|(f, _)| f).join(", ")
                ),
            });
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// Renders a checked template: each `{{name}}` becomes `value(name)`, JSON-escaped (unknown
/// names, which a checked template has none of, become empty).
pub fn render_template(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let text = value(after[..end].trim()).unwrap_or_default();
        let quoted = serde_json::to_string(&text).unwrap_or_default();
        out.push_str(
            quoted
                .get(1..quoted.len().saturating_sub(1))
                .unwrap_or_default(),
        );
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_values() {
        let t = r#"{"text": "{{summary}} by {{ actor }}"}"#;
        check_template(t).expect("valid");
        let out = render_template(t, |name| match name {
            "summary" => Some("INC0000001 opened \"db down\"".into()),
            "actor" => Some("ada".into()),
            _ => None,
        });
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["text"], "INC0000001 opened \"db down\" by ada");
    }

    #[test]
    fn refuses_unknown_fields_and_oversize() {
        assert_eq!(
            check_template("{{nope}}").expect_err("unknown").code(),
            "validation"
        );
        assert_eq!(
            check_template("{{number").expect_err("open").code(),
            "validation"
        );
        let big = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        assert_eq!(
            check_template(&big).expect_err("big").code(),
            "limit_exceeded"
        );
    }
}
