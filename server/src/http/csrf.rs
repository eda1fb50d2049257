//! Cookies and CSRF tokens of the server-rendered forms (the download page
//! and the admin pages). The `cookie` crate (through axum-extra) reads the
//! `Cookie` header and writes `Set-Cookie`.

use axum::http::{header, HeaderMap};
use axum_extra::extract::cookie::{Cookie, SameSite};

/// The value of cookie `name`, if the request carries it. The first one
/// wins: a browser sends the cookie of the most specific path first.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// A `Set-Cookie` value for the forms' cookies: sent over HTTPS only,
/// out of reach of scripts, never with a request another site starts, under
/// `path`, for `max_age` seconds (0 tells the browser to drop it).
pub(crate) fn strict_cookie(name: &str, value: &str, path: &str, max_age: i64) -> String {
    Cookie::build((name, value))
        .path(path)
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(max_age))
        .build()
        .to_string()
}

/// A submitted CSRF value against the expected one, in constant time.
pub(crate) fn csrf_matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && crate::auth::constant_time_eq(expected.as_bytes(), submitted.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn set_cookie_carries_every_attribute() {
        let set = strict_cookie("sl_admin", "abc_-123", "/admin", 3600);
        let mut parts: Vec<&str> = set.split("; ").collect();
        assert_eq!(parts.remove(0), "sl_admin=abc_-123");
        parts.sort_unstable();
        assert_eq!(
            parts,
            [
                "HttpOnly",
                "Max-Age=3600",
                "Path=/admin",
                "SameSite=Strict",
                "Secure"
            ]
        );
        let gone = strict_cookie("sl_admin", "", "/admin", 0);
        assert!(gone.starts_with("sl_admin=; "), "{gone}");
        assert!(gone.contains("; Max-Age=0"), "{gone}");
        assert!(!gone.contains("Expires"), "{gone}");
    }

    #[test]
    fn cookies_are_read_from_every_header_first_one_first() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; sl=first;b"));
        headers.append(header::COOKIE, HeaderValue::from_static("sl=second; c = 3"));
        assert_eq!(cookie(&headers, "sl").as_deref(), Some("first"));
        assert_eq!(cookie(&headers, "a").as_deref(), Some("1"));
        assert_eq!(cookie(&headers, "c").as_deref(), Some("3"));
        assert_eq!(cookie(&headers, "b"), None);
        assert_eq!(cookie(&headers, "missing"), None);
        assert_eq!(cookie(&HeaderMap::new(), "sl"), None);
    }
}
