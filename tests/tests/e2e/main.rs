//! End to end: the real `sightline-server` binary on loopback, a fresh data
//! directory per test, real mTLS, the command line as an operator uses it.
//! One test binary (link time is precious); one module per capability.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod ambient;
mod analysis;
mod client;
mod desktop_setup;
mod gnome;
mod gnome_rewrite;
mod instances;
mod ipc;
mod login;
mod operations;
mod packaging;
mod provisioning;
mod redaction;
mod redaction_corpus;
mod region;
mod renewal;
mod rewrite;
mod server_certificate;
mod sidebar;
