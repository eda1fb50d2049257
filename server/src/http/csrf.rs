//! Cookies and CSRF tokens of the server-rendered forms (the download page
//! and the admin pages).

use axum::http::{header, HeaderMap};

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A submitted CSRF value against the expected one, in constant time.
pub(crate) fn csrf_matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && crate::auth::constant_time_eq(expected.as_bytes(), submitted.as_bytes())
}
