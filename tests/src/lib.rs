//! The end-to-end harness: starts the real `sightline-server` binary on
//! loopback with a fresh data directory, drives its command line, and talks
//! to it over real mTLS the way a desktop client would. The e2e tests and
//! the `load` benchmark both use it. Beside it, [`redaction_corpus`]: the
//! generated screens that local redaction is measured on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_debug_implementations
)]

pub mod admin;
pub mod connection;
pub mod display;
pub mod gnome;
pub mod haproxy;
pub mod login;
pub mod mail;
pub mod measure;
pub mod pictures;
pub mod postgres;
pub mod procs;
pub mod provision;
pub mod redaction_corpus;
pub mod server;
pub mod stub;
pub mod webdriver;

pub use connection::*;
pub use login::*;
pub use mail::*;
pub use server::*;
pub use sightline_server::auth::totp;
