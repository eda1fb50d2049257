//! Ambient awareness: when to look at the screen, and when to send it.
//!
//! The [`Scheduler`] is a pure state machine over a clock the caller gives
//! (so tests control time). Moments to consider a capture come from
//! activity (a pause after typing, a click, another window getting the
//! focus) and from the cooldown timer. At each one, in this order:
//! 1. the privacy gate — paused, screen locked, an excluded application or
//!    window title focused — decides *before any pixel is grabbed*;
//! 2. at most one upload per cooldown: too soon, and the moment waits for
//!    the cooldown's end;
//! 3. a cheap change check (a 64×36 grayscale thumbnail of the frame)
//!    against the last frame sent: below the threshold nothing is sent.
//!    The first look after ambient awareness is turned on only sets that
//!    reference: it is changes that are worth a word, not the screen the
//!    user was already looking at.
//!
//! With no activity, the timer's check of a static screen costs one grab
//! and a thumbnail per cooldown.
//!
//! - `settings`: the user's choices and the exclusions;
//! - `scheduler`: the state machine above and what it asks of its
//!   environment;
//! - `watch`: the thread that runs it, hears activity and reports;
//! - `live`: the real screen, seat and server, as the scheduler sees them;
//! - `shell`: what the watch tells the app's shell (indicator, insights)
//!   and asks of it (where our windows are);
//! - `uploads`: the upload log — what left the computer, never the picture.

mod live;
pub mod scheduler;
pub mod sent;
pub mod settings;
pub mod shell;
pub mod uploads;
pub mod watch;

pub use scheduler::{Activity, AmbientEnv, Gate, Outcome, Scheduler, Trigger};
pub use settings::{AmbientSettings, MIN_COOLDOWN_SECS};
pub use shell::{AmbientShell, AmbientStatus, Indicator, Insight};
pub use uploads::UploadEntry;
pub use watch::AmbientWatch;
