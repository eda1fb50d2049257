//! The desktop core of Sightline, without a UI toolkit: everything the
//! sidebar does that can be tested without a display. The Tauri shell
//! (`src-tauri`) calls into this crate; each of its commands is a few lines.
//!
//! - [`desktop`]: [`desktop::Desktop`], the sidebar's state that every
//!   Tauri command calls into — onboarding, login, chat, the connection
//!   watch, and the rewrite panel's entry points;
//! - [`api`]: the HTTP client — mutual TLS with the user's identity and the
//!   server's CA as the only trust root, login with TOTP, tokens refreshed
//!   before they expire, answers streamed as typed events;
//! - [`identity`]: the user's certificate and the server's CA, from the
//!   package the server handed out (PKCS#12 or the PEM trio);
//! - [`setup`]: importing the certificate package (onboarding, and the
//!   managed `--server URL --import PACKAGE` set-up);
//! - [`store`]: the identity and tokens — secrets in the OS keychain, or in
//!   0600 files where no keychain runs (reported to the user);
//! - [`settings`]: the user's choices, in the OS's config directory;
//! - [`status`]: what the sidebar shows about the connection, and the
//!   1, 2, 4 … 30 s reconnect schedule;
//! - [`capture`]: monitors, frames in physical pixels, crops, encoding for
//!   upload, the change-check thumbnail and the selection geometry;
//! - [`ambient`]: ambient awareness — when it looks and when it sends
//!   (privacy gate first, one upload per cooldown, change threshold), the
//!   thread that runs it, and its upload log;
//! - [`redaction`]: every picture and text checked locally before it
//!   leaves — OCR's words matched against secret formats, their boxes
//!   filled, text masked;
//! - [`rewrite`]: reading a selection in another app and, once approved,
//!   typing or pasting the replacement back into the same window; the
//!   one-rewrite-at-a-time session and the word diff;
//! - [`platform`]: the boundary to the desktop — monitors and frames,
//!   shortcuts, and the backends for X11 and GNOME on Wayland, chosen at
//!   start;
//! - [`seat`]: the user's session as the app acts on it — the focused
//!   window, focus changes and keystrokes;
//! - [`clipboard`]: one clipboard handle for the app's life, and borrowing
//!   the clipboard without losing what the user had on it;
//! - [`journal`]: local logs the user can open (injections, uploads), which
//!   record that something happened, never the content;
//! - [`instance`]: one sidebar per user;
//! - [`error`]: [`ClientError`], the crate's one error type, which the UI
//!   turns into words.

pub mod ambient;
pub mod api;
pub mod capture;
pub mod clipboard;
pub mod desktop;
pub mod error;
pub mod identity;
pub mod instance;
pub mod journal;
pub mod platform;
pub mod redaction;
pub mod rewrite;
pub mod seat;
pub mod settings;
pub mod setup;
pub mod status;
pub mod store;

pub use error::ClientError;
