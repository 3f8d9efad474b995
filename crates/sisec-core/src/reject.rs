//! Why an event was rejected: a stable reason code, the field it concerns and a
//! human detail. Reason codes are part of the public contract (dead-letter
//! headers, metrics labels): never rename one.

use std::fmt;

/// Stable reject reason codes, in the order the engine checks for them (the
/// parser's, then the registry's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    TooLarge,
    InvalidJson,
    DuplicateField,
    NotObject,
    MissingField,
    BadType,
    UnknownType,
    BadValue,
    OutOfRange,
    BadTimestamp,
    /// A valid event from a camera or device missing from its registry.
    UnknownSensor,
}

impl Reason {
    /// Every reason, for metrics that want a zero for each label.
    pub const ALL: [Reason; 11] = [
        Reason::TooLarge,
        Reason::InvalidJson,
        Reason::DuplicateField,
        Reason::NotObject,
        Reason::MissingField,
        Reason::BadType,
        Reason::UnknownType,
        Reason::BadValue,
        Reason::OutOfRange,
        Reason::BadTimestamp,
        Reason::UnknownSensor,
    ];

    /// The wire code (`snake_case`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::InvalidJson => "invalid_json",
            Reason::DuplicateField => "duplicate_field",
            Reason::NotObject => "not_object",
            Reason::MissingField => "missing_field",
            Reason::BadType => "bad_type",
            Reason::UnknownType => "unknown_type",
            Reason::BadValue => "bad_value",
            Reason::OutOfRange => "out_of_range",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::UnknownSensor => "unknown_sensor",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected event: reason, field (dotted path) and a detail for humans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub reason: Reason,
    pub field: Option<String>,
    pub detail: String,
}

impl Reject {
    pub fn new(reason: Reason, field: Option<String>, detail: impl Into<String>) -> Self {
        Reject {
            reason,
            field,
            detail: detail.into(),
        }
    }

    /// A reject about a named field.
    pub fn field(reason: Reason, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Reject::new(reason, Some(field.into()), detail)
    }

    /// A reject about the whole event.
    pub fn whole(reason: Reason, detail: impl Into<String>) -> Self {
        Reject::new(reason, None, detail)
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({}): {}", self.reason, field, self.detail),
            None => write!(f, "{}: {}", self.reason, self.detail),
        }
    }
}
