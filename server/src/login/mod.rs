//! The login flow, independent of HTTP: password → challenge → second
//! factor → tokens; refresh with rotation and reuse detection; logout.
//! The native API and the admin pages both call these; refusals are the
//! domain's [`crate::error::Error`]s, which each caller words for its own audience.
//!
//! - [`attempt`]: where an attempt comes from, what it is for, and the
//!   guard of a running server (token keys and failure throttles);
//! - [`password`]: the first step, which hands out a challenge;
//! - [`second_factor`]: TOTP and recovery codes against a challenge,
//!   enrolment, and the second factor's lockout;
//! - [`tokens`]: access and refresh tokens, rotation, logout, and the
//!   check of an access token on every request;
//! - [`session_cache`]: what that check found, kept briefly on PostgreSQL.

mod attempt;
mod password;
mod second_factor;
mod session_cache;
mod tokens;

pub use attempt::{LoginGuard, Origin, Purpose};
pub use password::login;
pub use second_factor::{pending_enrollment, verify_second_factor, verify_two_factor, Verified};
pub use session_cache::{CachedSession, SessionCache};
pub use tokens::{check_access_token, logout, refresh, Access};
