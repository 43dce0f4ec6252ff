//! What CloudWatch accepts: the EMF and CloudWatch limits, and the names and values that fit
//! them. Apart from the recorder so the recorder reads as aggregation and documents.

use crate::TelemetryError;

/// EMF: a directive's `Metrics` array holds at most this many definitions.
pub(super) const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// EMF: a metric's value array holds at most this many numbers.
pub(super) const MAX_VALUES_PER_ARRAY: usize = 100;
/// CloudWatch: a metric has at most this many dimensions.
pub(super) const MAX_DIMENSIONS: usize = 30;
/// CloudWatch: a dimension value is at most this long.
pub(super) const MAX_DIMENSION_VALUE_LEN: usize = 1024;
/// CloudWatch: metric names, dimension names and namespaces are at most this long.
pub(super) const MAX_NAME_LEN: usize = 255;
/// A label value as CloudWatch accepts a dimension value: printable ASCII (other characters
/// become `_`), at least one non-space character (`none` otherwise), at most 1024 characters.
pub(super) fn dimension_value(v: &str) -> String {
    let cleaned: String = v
        .chars()
        .take(MAX_DIMENSION_VALUE_LEN)
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim().is_empty() {
        "none".to_owned()
    } else {
        cleaned
    }
}

pub(super) fn validate_namespace(namespace: &str) -> Result<(), TelemetryError> {
    let invalid = |reason| TelemetryError::InvalidNamespace {
        namespace: namespace.to_owned(),
        reason,
    };
    if namespace.is_empty() || namespace.len() > MAX_NAME_LEN {
        return Err(invalid("must be 1 to 255 characters"));
    }
    if !namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
    {
        return Err(invalid(
            "may contain only letters, digits and . - _ / # : and spaces",
        ));
    }
    if namespace.starts_with("AWS/") || namespace.starts_with(':') {
        return Err(invalid("must not start with AWS/ (reserved) or a colon"));
    }
    Ok(())
}

pub(super) fn validate_dimension_name(name: &str) -> Result<(), TelemetryError> {
    let invalid = |reason| TelemetryError::InvalidDimension {
        name: name.to_owned(),
        reason,
    };
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
        return Err(invalid("must be 1 to 255 characters, not all spaces"));
    }
    if !name.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) || name.starts_with(':') {
        return Err(invalid(
            "must be printable ASCII and not start with a colon",
        ));
    }
    if name == "_aws" {
        return Err(invalid("is the EMF metadata member"));
    }
    Ok(())
}

/// The CloudWatch name of a `metrics` unit; `None` where CloudWatch has no equivalent.
pub(super) fn cloudwatch_unit(unit: metrics::Unit) -> &'static str {
    use metrics::Unit as U;
    match unit {
        U::Count => "Count",
        U::Percent => "Percent",
        U::Seconds => "Seconds",
        U::Milliseconds => "Milliseconds",
        U::Microseconds => "Microseconds",
        U::Bytes => "Bytes",
        U::Kibibytes => "Kilobytes",
        U::Mebibytes => "Megabytes",
        U::Gibibytes => "Gigabytes",
        U::Tebibytes => "Terabytes",
        U::BitsPerSecond => "Bits/Second",
        U::KilobitsPerSecond => "Kilobits/Second",
        U::MegabitsPerSecond => "Megabits/Second",
        U::GigabitsPerSecond => "Gigabits/Second",
        U::TerabitsPerSecond => "Terabits/Second",
        U::CountPerSecond => "Count/Second",
        _ => "None",
    }
}
