//! The GNOME Wayland backend. GNOME lets no ordinary app see the screen,
//! grab keys or type into other windows on its own: frames come from the
//! ScreenCast portal over PipeWire ([`screens`]), shortcuts are GNOME's own
//! custom keybindings ([`shortcuts`]), the focused window comes from
//! XWayland or the accessibility bus ([`windows`]), keystrokes for a
//! rewrite from the RemoteDesktop portal ([`seat`]). The app's own windows go through
//! XWayland, where mutter keeps them placed and on top
//! ([`super::session`]).

mod atspi;
mod keyboard;
mod pipewire;
mod portal;
mod remote_desktop;
mod screencast;
pub mod screens;
pub mod seat;
pub mod shortcuts;
pub mod windows;

const SCREEN_CAST: &str = "org.freedesktop.portal.ScreenCast";

/// Why this session cannot cast the screen the way the app needs, if it
/// cannot: `persist_mode` (remembering the user's choice) came with
/// version 4 of the ScreenCast portal.
pub fn screen_cast_problem() -> Option<String> {
    let version = portal::Portal::connect()
        .ok()
        .and_then(|portal| portal.version(SCREEN_CAST));
    tracing::info!(?version, "the ScreenCast portal");
    match version {
        Some(version) if version >= 4 => None,
        Some(_) => Some(
            "this GNOME is too old to remember that Sightline may see the screen (ScreenCast portal before version 4)"
                .to_owned(),
        ),
        None => Some("this desktop offers no screen sharing (no ScreenCast portal)".to_owned()),
    }
}
