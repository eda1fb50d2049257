//! The monitors and their frames, as the desktop jobs need them.

use super::access::ScreenAccess;
use crate::capture::geometry::{MonitorInfo, PixelRect};
use crate::capture::Frame;
use crate::error::ClientError;

/// Called when the screen access changes on its own (the user stopped
/// sharing from the desktop's indicator).
pub type AccessListener = Box<dyn Fn(ScreenAccess) + Send + Sync>;

/// The monitors and their frames.
pub trait Screens: Send + Sync {
    /// Every monitor, with its place on the screen and scale factor.
    fn monitors(&self) -> Result<Vec<MonitorInfo>, ClientError>;
    /// The monitor's current picture, in physical pixels. Where the user
    /// must allow it first, fails with [`ClientError::ScreenAccess`] and
    /// never shows a dialog: [`Screens::ask`] does that.
    fn grab(&self, monitor: &MonitorInfo) -> Result<Frame, ClientError>;
    /// Hands a frame's memory back for the next grab.
    fn recycle(&self, frame: Frame) {
        drop(frame);
    }
    /// Other applications' windows on screen, topmost first, where the
    /// session tells (the overlay snaps to them).
    fn window_frames(&self) -> Vec<PixelRect>;
    fn access(&self) -> ScreenAccess {
        ScreenAccess::Granted
    }
    /// Asks the user (the desktop's dialog) and waits for the answer.
    fn ask(&self) -> Result<ScreenAccess, ClientError> {
        Ok(self.access())
    }
    fn on_access_change(&self, listener: AccessListener) {
        drop(listener);
    }
}

/// Grabs the primary monitor (or the first one).
pub fn grab_primary(screens: &dyn Screens) -> Result<(MonitorInfo, Frame), ClientError> {
    let monitors = screens.monitors()?;
    let primary = monitors
        .iter()
        .find(|m| m.primary)
        .or(monitors.first())
        .ok_or_else(|| ClientError::Capture("no monitor found".into()))?;
    Ok((primary.clone(), screens.grab(primary)?))
}
