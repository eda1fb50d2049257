//! The Sightline server: one binary that terminates mTLS, keeps accounts and
//! certificates in SQLite, and serves the native API (and, later, the public
//! and admin pages). `main.rs` is the command line; everything it does is a
//! function here, so the admin UI and tests call the same code.

pub mod admin_sessions;
pub mod analysis;
pub mod auth;
pub mod certificates;
pub mod clock;
pub mod config;
pub mod datadir;
pub mod db;
pub mod error;
pub mod fsutil;
pub mod http;
pub mod imagecheck;
pub mod links;
pub mod login;
pub mod mail;
pub mod modes;
pub mod providers;
pub mod requests;
pub mod revocation;
pub mod state;
pub mod tls;
pub mod users;

pub use error::{ApiError, Error, Result};
