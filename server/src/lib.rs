//! The Sightline server: one binary that terminates mutual TLS, keeps
//! accounts and certificates in SQLite or PostgreSQL, and serves the native API, the
//! public pages and the admin pages. `main.rs` and `cli/` are the command
//! line; everything they do is a function here, so the admin pages, the API
//! and the command line call the same code and leave the same audit trail.
//!
//! The domain (what the server decides) takes a [`context::Context`] and
//! answers with [`error::Error`]; only [`http`] knows HTTP, and it maps
//! those errors to statuses and codes in one place.

// The domain: accounts, certificates, access and what the desktop asks.
pub mod access_requests;
pub mod admin_sessions;
pub mod analysis;
pub mod certificates;
pub mod download_links;
pub mod login;
pub mod modes;
pub mod package_store;
pub mod renewal;
pub mod users;

// What the domain stands on.
pub mod announce;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod context;
pub mod datadir;
pub mod db;
pub mod error;
pub mod fsutil;
pub mod imagecheck;
pub mod mail;
pub mod providers;
pub mod revocation;
pub mod server_cert;

// The serving process: TLS, HTTP and the state they share.
pub mod connections;
pub mod http;
pub mod metrics;
pub mod proxy_protocol;
pub mod state;
pub mod tls;

pub use error::{Error, Result};
