//! Audit `ListEvents` and `GetConfiguration`. The window `[startTime, endTime)` selects, among
//! the events already visible (ingested) when the call is served, those whose `eventTime` is in
//! it, or with [`crate::TimeSelection::Processed`] those whose processing time is.

use std::collections::HashMap;

use chrono::Timelike as _;
use http::{HeaderName, StatusCode};

use crate::error::ApiError;
use crate::http_util::{Reply, parse_time};
use crate::state::{Shared, read};
use crate::store::decode_page_token;
use crate::tenancy::Access;

/// Checks that `compartment_id` exists and is accessible.
pub(crate) fn check_compartment(shared: &Shared, compartment_id: &str) -> Result<(), ApiError> {
    let t = read(&shared.tenancy);
    match t.get(compartment_id).map(|r| r.access) {
        Some(Access::Normal) => Ok(()),
        Some(Access::Forbidden) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "NotAuthorized",
            format!("You are not authorized to read audit events in compartment {compartment_id}"),
        )),
        Some(Access::NotFound) | None => Err(ApiError::not_authorized_or_not_found(format!(
            "Authorization failed or requested resource not found: compartment {compartment_id}"
        ))),
    }
}

fn minute_time(
    q: &HashMap<String, String>,
    name: &str,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    let raw = q
        .get(name)
        .ok_or_else(|| ApiError::missing_parameter(name))?;
    let t = parse_time(name, raw)?;
    if t.second() != 0 || t.nanosecond() != 0 {
        return Err(ApiError::invalid_parameter(format!(
            "{name} '{raw}' must be on a minute boundary: seconds and milliseconds must be 0"
        )));
    }
    Ok(t)
}

pub(crate) fn list_events(shared: &Shared, q: &HashMap<String, String>) -> Result<Reply, ApiError> {
    let compartment_id = q
        .get("compartmentId")
        .ok_or_else(|| ApiError::missing_parameter("compartmentId"))?;
    let start = minute_time(q, "startTime")?;
    let end = minute_time(q, "endTime")?;
    if end <= start {
        return Err(ApiError::invalid_parameter(
            "endTime must be after startTime",
        ));
    }
    check_compartment(shared, compartment_id)?;
    let selection = shared.time_selection();
    let after = match q.get("page") {
        Some(p) => {
            let position = decode_page_token(p)
                .ok_or_else(|| ApiError::invalid_parameter("Invalid page token"))?;
            if position.selection != selection {
                // The emulator was switched between pages: the token points into another order.
                return Err(ApiError::invalid_parameter(
                    "Invalid page token: it belongs to a listing in another time selection",
                ));
            }
            Some(position)
        }
        None => None,
    };
    shared.catch_up();
    let page = read(&shared.store).page(
        compartment_id,
        selection,
        start.timestamp_millis(),
        end.timestamp_millis(),
        after.as_ref().map(|p| (p.ms, p.event_id.as_str())),
        shared.clock.now_ms(),
        shared.page_size.load(std::sync::atomic::Ordering::Relaxed),
    );
    let mut r = Reply::json(StatusCode::OK, page.body);
    r.events = Some(page.count);
    if let Some(next) = page.next_page {
        r = r.header(HeaderName::from_static("opc-next-page"), next);
    }
    Ok(r)
}

pub(crate) fn get_configuration(
    shared: &Shared,
    q: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let c = q
        .get("compartmentId")
        .ok_or_else(|| ApiError::missing_parameter("compartmentId"))?;
    if *c != read(&shared.tenancy).tenancy_id {
        return Err(ApiError::invalid_parameter(
            "compartmentId must be the tenancy OCID",
        ));
    }
    Ok(Reply::json_value(
        StatusCode::OK,
        &serde_json::json!({ "retentionPeriodDays": 90 }),
    ))
}
