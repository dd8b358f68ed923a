//! Field validation shared by the lifecycles. Every check returns a typed
//! [`DomainError`] naming the field, so adapters can point at it.

use crate::error::DomainError;
use crate::policy::Limits;

/// A required text field: not blank, at most `max` bytes.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::validation(field, "must not be empty"));
    }
    bounded_text(field, value, max)
}

/// An optional or possibly empty text field: at most `max` bytes.
pub fn bounded_text(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.len() > max {
        return Err(DomainError::LimitExceeded {
            what: field.to_owned(),
            limit: max,
        });
    }
    Ok(())
}

/// A title: required, at most `limits.max_title_bytes`.
pub fn title(field: &str, value: &str, limits: &Limits) -> Result<(), DomainError> {
    required_text(field, value, limits.max_title_bytes)
}

/// Required free text (notes, reason): not blank, at most `limits.max_text_bytes`.
pub fn text(field: &str, value: &str, limits: &Limits) -> Result<(), DomainError> {
    required_text(field, value, limits.max_text_bytes)
}

/// A collection that would grow to `new_len` entries must stay within `limits.max_links`.
pub fn links(field: &str, new_len: usize, limits: &Limits) -> Result<(), DomainError> {
    if new_len > limits.max_links {
        return Err(DomainError::LimitExceeded {
            what: field.to_owned(),
            limit: limits.max_links,
        });
    }
    Ok(())
}
