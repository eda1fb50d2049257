//! The X11 backend (and the fallback elsewhere): monitors and frames
//! through `capture` (one `GetImage` on a kept connection, xcap where
//! there is no X server), windows through xcap. An X session lets every
//! client see the screen, so nobody is asked.

use super::screens::Screens;
use crate::capture::geometry::{MonitorInfo, PixelRect};
use crate::capture::{self, Frame};
use crate::error::ClientError;

pub(super) struct X11Screens;

impl Screens for X11Screens {
    fn monitors(&self) -> Result<Vec<MonitorInfo>, ClientError> {
        capture::monitors()
    }

    fn grab(&self, monitor: &MonitorInfo) -> Result<Frame, ClientError> {
        capture::capture_monitor(monitor)
    }

    fn recycle(&self, frame: Frame) {
        capture::recycle(frame);
    }

    fn window_frames(&self) -> Vec<PixelRect> {
        capture::window_frames()
    }
}
