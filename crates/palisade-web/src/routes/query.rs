//! Query parameters parsed at the edge: a value the client sent is either turned into its type here or refused
//! with 400 and a stable code, so nothing downstream mistakes a client's typo for corrupt stored data (which
//! would answer 500).

use axum::http::StatusCode;
use palisade_commerce::orders::Status;

use crate::http::ApiError;

/// Most pages a list walks through; further pages are refused rather than computed into an overflowing offset.
pub const MAX_PAGE: i64 = 10_000;

/// An order-status filter (`?status=`): empty or absent means all; an unknown name is 400 `invalid_status`.
pub fn order_status(raw: Option<&str>) -> Result<Option<Status>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    Status::from_name(raw).map(Some).ok_or_else(|| {
        let known: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_status",
            format!("unknown order status; use one of {}", known.join(", ")),
        )
    })
}

/// A 1-based page number (`?page=`) and the offset of its first row for `size` rows a page. Absent or below 1
/// is page 1; beyond [`MAX_PAGE`] is 400 `invalid_page`.
pub fn page(raw: Option<i64>, size: i64) -> Result<(i64, i64), ApiError> {
    let page = raw.unwrap_or(1).max(1);
    if page > MAX_PAGE {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_page", format!("page must be 1 to {MAX_PAGE}")));
    }
    Ok((page, (page - 1) * size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_pages_are_parsed_or_refused_with_400() {
        assert_eq!(order_status(None).ok(), Some(None));
        assert_eq!(order_status(Some("")).ok(), Some(None));
        assert_eq!(order_status(Some("paid")).ok(), Some(Some(Status::Paid)));
        let e = order_status(Some("bogus")).err().map(|e| (e.status, e.code));
        assert_eq!(e, Some((StatusCode::BAD_REQUEST, "invalid_status")));
        assert_eq!(page(None, 50).ok(), Some((1, 0)));
        assert_eq!(page(Some(-3), 50).ok(), Some((1, 0)));
        assert_eq!(page(Some(3), 50).ok(), Some((3, 100)));
        assert_eq!(page(Some(i64::MAX), 50).err().map(|e| e.code), Some("invalid_page"));
    }
}
