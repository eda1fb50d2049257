//! Screen capture: the monitors and where they are, frames in physical
//! pixels, and encoding for upload.
//!
//! A [`Frame`] keeps the pixels as the display delivers them (BGRA rows),
//! so nothing is converted that is not needed: the JPEG encoder reads BGRA
//! as it is, a crop copies only its rows, and the change check samples the
//! frame in place. On X11 a monitor is read with one `GetImage` over a
//! connection kept open (xcap opens a connection and converts every pixel
//! on each call, which costs more than the grab itself); elsewhere xcap
//! does the grab.
//!
//! The sidebar hides its own window before it captures, so the app never
//! appears in what is sent.

pub mod change;
pub mod frame;
pub mod geometry;
#[cfg(target_os = "linux")]
mod x11;

use crate::api::Attachment;
use crate::error::ClientError;
use crate::redaction::Redacted;
pub use frame::Frame;

use frame::failed;
use geometry::{MonitorInfo, PixelRect};

/// The longest side of an uploaded picture; larger frames are scaled down.
pub const DEFAULT_MAX_SIDE: u32 = 2048;
/// JPEG quality for whole-screen pictures.
pub const DEFAULT_JPEG_QUALITY: u8 = 80;

/// How a picture is encoded for upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum Encoding {
    /// Photos, video, whole screens: small at quality 80.
    Jpeg { quality: u8 },
    /// Text-heavy regions: lossless, so small type stays legible.
    Png,
}

/// Encodes a redacted frame for upload (scaled to `max_side` first if
/// larger). Upload pictures are made only here, and only from a
/// [`Redacted`] frame, so nothing reaches the server unchecked.
pub fn encode(redacted: &Redacted, max_side: u32, encoding: Encoding) -> Result<Attachment, ClientError> {
    let (bytes, file_name, mime) = encode_pixels(redacted.frame(), max_side, encoding)?;
    Ok(Attachment {
        bytes: bytes.into(),
        file_name: file_name.into(),
        mime,
        redaction: redacted.report().clone(),
        trigger: None,
    })
}

/// A JPEG of `frame` for this computer's own eyes (the frozen screen under
/// the selection overlay), never for upload.
pub fn local_jpeg(frame: &Frame, quality: u8) -> Result<Vec<u8>, ClientError> {
    encode_pixels(frame, u32::MAX, Encoding::Jpeg { quality }).map(|(bytes, _, _)| bytes)
}

fn encode_pixels(
    frame: &Frame,
    max_side: u32,
    encoding: Encoding,
) -> Result<(Vec<u8>, &'static str, &'static str), ClientError> {
    if frame.width == 0 || frame.height == 0 {
        return Err(ClientError::Capture("the captured frame is empty".into()));
    }
    let scaled = frame.fit(max_side);
    let frame = scaled.as_ref().unwrap_or(frame);
    let (width, height) = (
        u16::try_from(frame.width).map_err(failed)?,
        u16::try_from(frame.height).map_err(failed)?,
    );
    match encoding {
        Encoding::Jpeg { quality } => {
            let image = turbojpeg::Image {
                pixels: frame.bgra.as_slice(),
                width: usize::from(width),
                pitch: frame.stride,
                height: usize::from(height),
                format: turbojpeg::PixelFormat::BGRX,
            };
            Ok((jpeg(image, quality)?, "screen.jpg", "image/jpeg"))
        }
        Encoding::Png => {
            use image::ImageEncoder;
            let mut bytes = Vec::new();
            image::codecs::png::PngEncoder::new_with_quality(
                &mut bytes,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            )
            .write_image(
                &frame.to_rgb(),
                frame.width,
                frame.height,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(failed)?;
            Ok((bytes, "region.png", "image/png"))
        }
    }
}

/// One compressor and its worst-case output buffer, kept between calls:
/// a fresh multi-megabyte buffer per frame costs more in page faults than
/// the compression.
struct JpegWriter {
    compressor: turbojpeg::Compressor,
    output: Vec<u8>,
}

fn jpeg(image: turbojpeg::Image<&[u8]>, quality: u8) -> Result<Vec<u8>, ClientError> {
    static WRITER: std::sync::Mutex<Option<JpegWriter>> = std::sync::Mutex::new(None);
    let mut slot = WRITER.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_none() {
        let mut compressor = turbojpeg::Compressor::new().map_err(failed)?;
        compressor
            .set_subsamp(turbojpeg::Subsamp::Sub2x2)
            .map_err(failed)?;
        *slot = Some(JpegWriter {
            compressor,
            output: Vec::new(),
        });
    }
    let writer = slot.as_mut().ok_or_else(|| failed("no JPEG compressor"))?;
    writer
        .compressor
        .set_quality(i32::from(quality.clamp(1, 100)))
        .map_err(failed)?;
    let needed = writer
        .compressor
        .buf_len(image.width, image.height)
        .map_err(failed)?;
    if writer.output.len() < needed {
        writer.output.resize(needed, 0);
    }
    let written = writer
        .compressor
        .compress_to_slice(image, &mut writer.output)
        .map_err(failed)?;
    Ok(writer.output[..written].to_vec())
}

/// A small JPEG of `frame` as a `data:` URL, for a thumbnail in the page.
pub fn preview(frame: &Frame, max_side: u32) -> Result<String, ClientError> {
    let (small, _, _) = encode_pixels(frame, max_side, Encoding::Jpeg { quality: 80 })?;
    Ok(format!(
        "data:image/jpeg;base64,{}",
        data_encoding::BASE64.encode(&small)
    ))
}

/// The frames of other applications' visible windows on the screen,
/// topmost first (xcap lists them so).
pub fn window_frames() -> Vec<PixelRect> {
    let own = std::process::id();
    xcap::Window::all()
        .unwrap_or_default()
        .into_iter()
        .filter(|w| !w.is_minimized().unwrap_or(true) && w.pid().ok() != Some(own))
        .filter_map(|w| window_bounds(&w))
        .collect()
}

/// Where a window is on the screen, in physical pixels, if it says.
fn window_bounds(window: &xcap::Window) -> Option<PixelRect> {
    Some(PixelRect {
        x: window.x().ok()?,
        y: window.y().ok()?,
        width: window.width().ok()?,
        height: window.height().ok()?,
    })
}

/// Every monitor, with its place on the screen and scale factor.
pub fn monitors() -> Result<Vec<MonitorInfo>, ClientError> {
    let monitors = xcap::Monitor::all().map_err(failed)?;
    let mut infos = Vec::with_capacity(monitors.len());
    for monitor in monitors {
        infos.push(MonitorInfo {
            id: monitor.id().map_err(failed)?,
            name: monitor.name().unwrap_or_default(),
            bounds: PixelRect {
                x: monitor.x().map_err(failed)?,
                y: monitor.y().map_err(failed)?,
                width: monitor.width().map_err(failed)?,
                height: monitor.height().map_err(failed)?,
            },
            scale: f64::from(monitor.scale_factor().unwrap_or(1.0)),
            primary: monitor.is_primary().unwrap_or(false),
        });
    }
    // Where none is marked primary, the first one counts as such.
    if !infos.iter().any(|m| m.primary) {
        if let Some(first) = infos.first_mut() {
            first.primary = true;
        }
    }
    Ok(infos)
}

/// The monitors as the X server (XWayland, on GNOME Wayland) lays them
/// out, the first one primary where none is marked.
#[cfg(target_os = "linux")]
pub fn x_monitors() -> Result<Vec<MonitorInfo>, ClientError> {
    let mut monitors = x11::monitors()?;
    if !monitors.iter().any(|m| m.primary) {
        if let Some(first) = monitors.first_mut() {
            first.primary = true;
        }
    }
    Ok(monitors)
}

/// Grabs one monitor in physical pixels.
pub fn capture_monitor(monitor: &MonitorInfo) -> Result<Frame, ClientError> {
    #[cfg(target_os = "linux")]
    if let Some(frame) = x11::grab(&monitor.bounds)? {
        return Ok(frame);
    }
    let found = xcap::Monitor::all()
        .map_err(failed)?
        .into_iter()
        .find(|m| m.id().ok() == Some(monitor.id))
        .ok_or_else(|| ClientError::Capture(format!("monitor {} is gone", monitor.name)))?;
    Ok(Frame::from_rgba(found.capture_image().map_err(failed)?))
}

/// Hands a frame's memory back for the next grab: repeated captures (the
/// ambient check) then reuse one buffer instead of faulting in a new one.
pub fn recycle(frame: Frame) {
    #[cfg(target_os = "linux")]
    x11::recycle(frame);
    #[cfg(not(target_os = "linux"))]
    drop(frame);
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbaImage;

    /// Encoded pixels and their MIME type.
    struct Encoded {
        bytes: Vec<u8>,
        mime: &'static str,
    }

    fn encode(frame: &Frame, max_side: u32, encoding: Encoding) -> Result<Encoded, ClientError> {
        encode_pixels(frame, max_side, encoding).map(|(bytes, _, mime)| Encoded { bytes, mime })
    }

    fn solid(width: u32, height: u32, rgba: [u8; 4]) -> Frame {
        Frame::from_rgba(RgbaImage::from_pixel(width, height, image::Rgba(rgba)))
    }

    #[test]
    fn large_frames_are_scaled_to_the_longest_side() {
        let attachment = encode(
            &solid(4000, 1000, [200, 30, 30, 255]),
            2048,
            Encoding::Jpeg { quality: 80 },
        )
        .unwrap();
        let decoded = image::load_from_memory(&attachment.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (2048, 512));
        let pixel = decoded.to_rgb8().get_pixel(100, 100).0;
        assert!(pixel[0] > 180 && pixel[1] < 60, "{pixel:?}");
    }

    #[test]
    fn small_frames_keep_their_size() {
        let attachment = encode(
            &solid(640, 480, [0, 0, 0, 255]),
            2048,
            Encoding::Jpeg { quality: 80 },
        )
        .unwrap();
        let decoded = image::load_from_memory(&attachment.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (640, 480));
        assert_eq!(attachment.mime, "image/jpeg");
    }

    #[test]
    fn empty_frames_are_refused() {
        let empty = Frame {
            width: 0,
            height: 0,
            stride: 0,
            bgra: Vec::new(),
        };
        assert!(encode(&empty, 2048, Encoding::Png).is_err());
    }

    #[test]
    fn crops_are_exact_pixels_and_png_is_lossless() {
        // Every pixel different: x in red, y in green.
        let image = RgbaImage::from_fn(300, 200, |x, y| image::Rgba([x as u8, y as u8, 7, 255]));
        let frame = Frame::from_rgba(image.clone());
        let rect = PixelRect {
            x: 40,
            y: 30,
            width: 120,
            height: 50,
        };
        let region = frame.crop(&rect).unwrap();
        let png = encode(&region, 2048, Encoding::Png).unwrap();
        assert_eq!(png.mime, "image/png");
        let decoded = image::load_from_memory(&png.bytes).unwrap().to_rgba8();
        assert_eq!(decoded.dimensions(), (120, 50));
        for (x, y, pixel) in decoded.enumerate_pixels() {
            assert_eq!(pixel, image.get_pixel(x + 40, y + 30), "at {x},{y}");
        }
        // Partly outside: clipped; wholly outside: nothing.
        let edge = frame
            .crop(&PixelRect {
                x: 250,
                y: 150,
                width: 100,
                height: 100,
            })
            .unwrap();
        assert_eq!((edge.width, edge.height), (50, 50));
        assert!(frame
            .crop(&PixelRect {
                x: 400,
                y: 0,
                width: 10,
                height: 10
            })
            .is_none());
    }
}
