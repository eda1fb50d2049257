//! One `GetImage` of the root window per grab, over a connection opened
//! once: the display's own pixel format (32 bits per pixel, little-endian
//! BGRX) is exactly [`Frame`]'s, so the bytes are used as they arrive.

use super::geometry::PixelRect;
use super::{failed, Frame};
use crate::error::ClientError;
use std::sync::{Mutex, OnceLock};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

struct Display {
    conn: RustConnection,
    root: Window,
    /// The root's depth has 32 bits per pixel, little-endian.
    bgrx: bool,
}

fn display() -> Result<&'static Mutex<Display>, ClientError> {
    static DISPLAY: OnceLock<Mutex<Display>> = OnceLock::new();
    if let Some(display) = DISPLAY.get() {
        return Ok(display);
    }
    let (conn, screen) = x11rb::connect(None).map_err(failed)?;
    let setup = conn.setup();
    let root = setup.roots.get(screen).ok_or_else(|| failed("no X screen"))?;
    let bgrx = setup.image_byte_order == ImageOrder::LSB_FIRST
        && setup
            .pixmap_formats
            .iter()
            .any(|f| f.depth == root.root_depth && f.bits_per_pixel == 32);
    let display = Display {
        root: root.root,
        conn,
        bgrx,
    };
    Ok(DISPLAY.get_or_init(|| Mutex::new(display)))
}

/// The desktop's pixels under `bounds`; `None` where the display's format
/// is not BGRX (the caller falls back to xcap).
pub fn grab(bounds: &PixelRect) -> Result<Option<Frame>, ClientError> {
    let display = display()?.lock().unwrap_or_else(|p| p.into_inner());
    if !display.bgrx {
        return Ok(None);
    }
    let (x, y) = (
        i16::try_from(bounds.x).map_err(failed)?,
        i16::try_from(bounds.y).map_err(failed)?,
    );
    let (width, height) = (
        u16::try_from(bounds.width).map_err(failed)?,
        u16::try_from(bounds.height).map_err(failed)?,
    );
    let image = display
        .conn
        .get_image(ImageFormat::Z_PIXMAP, display.root, x, y, width, height, !0)
        .map_err(failed)?
        .reply()
        .map_err(failed)?;
    let stride = usize::from(width) * 4;
    if image.data.len() < stride * usize::from(height) {
        return Err(failed("the display sent a short image"));
    }
    Ok(Some(Frame {
        width: u32::from(width),
        height: u32::from(height),
        stride,
        bgra: image.data,
    }))
}
