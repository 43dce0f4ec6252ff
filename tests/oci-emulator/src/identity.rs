//! Identity `ListCompartments`, `GetCompartment` and `GetTenancy`.

use std::collections::HashMap;

use base64::Engine as _;
use http::{HeaderName, StatusCode};

use crate::error::ApiError;
use crate::http_util::Reply;
use crate::state::{Shared, read};
use crate::tenancy::{Access, Compartment, Tenancy};

fn page_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn parse_page_token(t: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

fn check_access(t: &Tenancy, id: &str) -> Result<(), ApiError> {
    match t.get(id).map(|r| r.access) {
        Some(Access::Normal) => Ok(()),
        Some(Access::Forbidden) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "NotAuthorized",
            format!("You are not authorized to list compartments in {id}"),
        )),
        _ => Err(ApiError::not_authorized_or_not_found(format!(
            "Authorization failed or requested resource not found: compartment {id}"
        ))),
    }
}

pub(crate) fn list_compartments(
    shared: &Shared,
    q: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let id = q
        .get("compartmentId")
        .ok_or_else(|| ApiError::missing_parameter("compartmentId"))?;
    let subtree = match q.get("compartmentIdInSubtree").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(ApiError::invalid_parameter(format!(
                "compartmentIdInSubtree '{v}' is not a boolean"
            )));
        }
    };
    let accessible_only = match q.get("accessLevel").map(String::as_str) {
        None | Some("ANY") => false,
        Some("ACCESSIBLE") => true,
        Some(v) => {
            return Err(ApiError::invalid_parameter(format!(
                "accessLevel '{v}' must be ANY or ACCESSIBLE"
            )));
        }
    };
    let limit = match q.get("limit") {
        None => shared.config.compartment_page_size.max(1),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid_parameter(format!(
                    "limit '{v}' must be 1..1000"
                )));
            }
        },
    };
    let offset = match q.get("page") {
        None => 0,
        Some(p) => {
            parse_page_token(p).ok_or_else(|| ApiError::invalid_parameter("Invalid page token"))?
        }
    };
    let t = read(&shared.tenancy);
    check_access(&t, id)?;
    if subtree && *id != t.tenancy_id {
        return Err(ApiError::invalid_parameter(
            "compartmentIdInSubtree can only be true when compartmentId is the tenancy (root compartment)",
        ));
    }
    // Filter and sort references; only the page is rendered (a tenancy of thousands of
    // compartments is listed in tens of pages).
    let mut items: Vec<&Compartment> = t
        .records
        .iter()
        .filter(|r| r.depth > 0 && (subtree || r.compartment.compartment_id == *id))
        .filter(|r| !accessible_only || r.access == Access::Normal)
        .filter(|r| {
            q.get("lifecycleState")
                .is_none_or(|s| *s == r.compartment.lifecycle_state)
        })
        .filter(|r| q.get("name").is_none_or(|n| *n == r.compartment.name))
        .map(|r| &r.compartment)
        .collect();
    match q.get("sortBy").map(String::as_str) {
        None | Some("TIMECREATED") => items.sort_by(|a, b| a.time_created.cmp(&b.time_created)),
        Some("NAME") => items.sort_by(|a, b| a.name.cmp(&b.name)),
        Some(v) => {
            return Err(ApiError::invalid_parameter(format!(
                "sortBy '{v}' must be TIMECREATED or NAME"
            )));
        }
    }
    match q.get("sortOrder").map(String::as_str) {
        None | Some("ASC") => {}
        Some("DESC") => items.reverse(),
        Some(v) => {
            return Err(ApiError::invalid_parameter(format!(
                "sortOrder '{v}' must be ASC or DESC"
            )));
        }
    }
    let end = offset.saturating_add(limit).min(items.len());
    let page: Vec<Compartment> = items[offset.min(end)..end]
        .iter()
        .filter_map(|c| t.get(&c.id))
        .map(Tenancy::view)
        .collect();
    let mut r = Reply::json_value(StatusCode::OK, &page);
    if end < items.len() {
        r = r.header(HeaderName::from_static("opc-next-page"), page_token(end));
    }
    Ok(r)
}

pub(crate) fn get_compartment(shared: &Shared, id: &str) -> Result<Reply, ApiError> {
    let t = read(&shared.tenancy);
    let r = t.get(id).ok_or_else(|| {
        ApiError::not_authorized_or_not_found(format!(
            "Authorization failed or requested resource not found: {id}"
        ))
    })?;
    if r.access != Access::Normal {
        return Err(ApiError::not_authorized_or_not_found(format!(
            "Authorization failed or requested resource not found: {id}"
        )));
    }
    Ok(Reply::json_value(StatusCode::OK, &Tenancy::view(r)))
}

pub(crate) fn get_tenancy(shared: &Shared, id: &str) -> Result<Reply, ApiError> {
    let t = read(&shared.tenancy);
    if id != t.tenancy_id {
        return Err(ApiError::not_authorized_or_not_found(format!(
            "Authorization failed or requested resource not found: {id}"
        )));
    }
    Ok(Reply::json_value(
        StatusCode::OK,
        &serde_json::json!({
            "id": t.tenancy_id,
            "name": t.name,
            "description": "Emulated tenancy",
            "homeRegionKey": "IAD",
            "upiIdcsCompatibilityLayerEndpoint": null,
            "freeformTags": {},
            "definedTags": {},
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(parse_page_token(&page_token(42)), Some(42));
        assert_eq!(parse_page_token("garbage"), None);
    }
}
