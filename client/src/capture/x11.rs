//! Grabs on X11 over one connection opened once. The display's own pixel
//! format (32 bits per pixel, little-endian BGRX) is exactly [`Frame`]'s,
//! so the bytes are used as they arrive.
//!
//! Where the server has MIT-SHM 1.2, it writes the pixels into a shared
//! memory file (an unlinked file in `/dev/shm`, passed as a descriptor) and
//! they are read from there into a buffer that is reused from grab to grab
//! (see [`recycle`]): a fresh 8 MB buffer per 1080p frame costs more in page
//! faults than the grab itself. Without MIT-SHM a plain `GetImage` is used.

use super::frame::{failed, Frame};
use super::geometry::PixelRect;
use crate::error::ClientError;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, OnceLock};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

struct SharedMemory {
    segment: shm::Seg,
    file: std::fs::File,
    size: usize,
}

struct Display {
    conn: RustConnection,
    root: Window,
    /// The root's depth has 32 bits per pixel, little-endian.
    bgrx: bool,
    shared: Option<SharedMemory>,
    /// A frame buffer handed back by [`recycle`], for the next grab.
    spare: Vec<u8>,
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
    let size = usize::from(root.width_in_pixels) * usize::from(root.height_in_pixels) * 4;
    let root_window = root.root;
    let shared = match attach_shared_memory(&conn, size) {
        Ok(shared) => shared,
        Err(error) => {
            tracing::debug!(%error, "no shared memory for captures; using GetImage");
            None
        }
    };
    let display = Display {
        root: root_window,
        conn,
        bgrx,
        shared,
        spare: Vec::new(),
    };
    Ok(DISPLAY.get_or_init(|| Mutex::new(display)))
}

/// A shared memory file as large as the whole screen, attached to the
/// server (MIT-SHM 1.2 passes it as a descriptor).
fn attach_shared_memory(conn: &RustConnection, size: usize) -> Result<Option<SharedMemory>, ClientError> {
    if conn
        .extension_information(shm::X11_EXTENSION_NAME)
        .map_err(failed)?
        .is_none()
    {
        return Ok(None);
    }
    let version = conn
        .shm_query_version()
        .map_err(failed)?
        .reply()
        .map_err(failed)?;
    if (version.major_version, version.minor_version) < (1, 2) {
        return Ok(None);
    }
    let file = tempfile::tempfile_in("/dev/shm").map_err(failed)?;
    file.set_len(size as u64).map_err(failed)?;
    let segment = conn.generate_id().map_err(failed)?;
    let descriptor: std::os::fd::OwnedFd = file.try_clone().map_err(failed)?.into();
    conn.shm_attach_fd(segment, descriptor, false)
        .map_err(failed)?
        .check()
        .map_err(failed)?;
    Ok(Some(SharedMemory { segment, file, size }))
}

/// The screen's pixels under `bounds`; `None` where the display's format
/// is not BGRX (the caller falls back to xcap).
pub fn grab(bounds: &PixelRect) -> Result<Option<Frame>, ClientError> {
    let mut guard = display()?.lock().unwrap_or_else(|p| p.into_inner());
    let display = &mut *guard;
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
    let stride = usize::from(width) * 4;
    let length = stride * usize::from(height);
    let bgra = match &display.shared {
        Some(shared) if length <= shared.size => {
            display
                .conn
                .shm_get_image(
                    display.root,
                    x,
                    y,
                    width,
                    height,
                    !0,
                    ImageFormat::Z_PIXMAP.into(),
                    shared.segment,
                    0,
                )
                .map_err(failed)?
                .reply()
                .map_err(failed)?;
            // The reply came after the server wrote the pixels.
            let mut buffer = std::mem::take(&mut display.spare);
            buffer.resize(length, 0);
            shared.file.read_exact_at(&mut buffer, 0).map_err(failed)?;
            buffer
        }
        _ => {
            display
                .conn
                .get_image(ImageFormat::Z_PIXMAP, display.root, x, y, width, height, !0)
                .map_err(failed)?
                .reply()
                .map_err(failed)?
                .data
        }
    };
    if bgra.len() < length {
        return Err(failed("the display sent a short image"));
    }
    Ok(Some(Frame {
        width: u32::from(width),
        height: u32::from(height),
        stride,
        bgra,
    }))
}

/// Takes a frame's buffer back for the next grab.
pub fn recycle(frame: Frame) {
    if let Ok(display) = display() {
        let mut display = display.lock().unwrap_or_else(|p| p.into_inner());
        if frame.bgra.capacity() > display.spare.capacity() {
            display.spare = frame.bgra;
        }
    }
}

/// The monitors as the X server lays them out (RandR 1.5 `GetMonitors`).
/// On GNOME Wayland, XWayland reports mutter's layout in the coordinates
/// the app's own (XWayland) windows are placed in.
pub fn monitors() -> Result<Vec<super::geometry::MonitorInfo>, ClientError> {
    use x11rb::protocol::randr::ConnectionExt as _;
    let display = display()?;
    let display = display.lock().unwrap_or_else(|p| p.into_inner());
    let reply = display
        .conn
        .randr_get_monitors(display.root, true)
        .map_err(failed)?
        .reply()
        .map_err(failed)?;
    let mut monitors = Vec::with_capacity(reply.monitors.len());
    for monitor in reply.monitors {
        let name = display
            .conn
            .get_atom_name(monitor.name)
            .ok()
            .and_then(|cookie| cookie.reply().ok())
            .map(|reply| String::from_utf8_lossy(&reply.name).into_owned())
            .unwrap_or_default();
        monitors.push(super::geometry::MonitorInfo {
            id: monitor.outputs.first().copied().unwrap_or(monitor.name),
            name,
            bounds: PixelRect {
                x: i32::from(monitor.x),
                y: i32::from(monitor.y),
                width: u32::from(monitor.width),
                height: u32::from(monitor.height),
            },
            scale: 1.0,
            primary: monitor.primary,
        });
    }
    Ok(monitors)
}
