//! The desktop core of Sightline, without a UI toolkit: everything the
//! sidebar does that can be tested without a display. The Tauri shell
//! (`src-tauri`) calls into this crate; each of its commands is a few lines.
//!
//! - [`identity`]: the user's certificate and the server's CA, from the
//!   package the server handed out (PKCS#12 or the PEM trio);
//! - [`api`]: the HTTP client — mutual TLS with that identity and the
//!   server's CA as the only trust root, login with TOTP, tokens refreshed
//!   before they expire, answers streamed as typed events;
//! - [`status`]: what the sidebar shows about the connection, and the
//!   1, 2, 4 … 30 s reconnect schedule;
//! - [`settings`]: the user's choices, in the OS's config directory;
//! - [`store`]: the identity and tokens — secrets in the OS keychain, or in
//!   0600 files where no keychain runs (reported to the user);
//! - [`desktop`]: the sidebar's state machine (onboarding, login, chat,
//!   connection watch) that every Tauri command calls into;
//! - [`capture`]: monitors, frames in physical pixels, crops, encoding for
//!   upload, the change-check thumbnail and the selection geometry;
//! - [`ambient`]: when ambient awareness looks and when it sends (privacy
//!   gate first, one upload per cooldown, change threshold);
//! - [`seat`]: the focused window, keyboard and clipboard of the desktop;
//! - [`rewrite`]: reading a selection in another app and, once approved,
//!   typing or pasting the replacement back into the same window;
//! - [`journal`]: local logs the user can open (injections);
//! - [`setup`]: importing the certificate package (onboarding, and the
//!   managed `--server URL --import PACKAGE` set-up).

pub mod ambient;
pub mod api;
pub mod capture;
pub mod clipboard;
pub mod desktop;
pub mod error;
pub mod identity;
pub mod instance;
pub mod journal;
pub mod rewrite;
pub mod seat;
pub mod settings;
pub mod setup;
pub mod status;
pub mod store;

pub use error::ClientError;
