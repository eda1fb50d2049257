//! Screen capture for questions about what is on screen: the primary
//! monitor as one picture, downscaled and encoded for upload.
//!
//! The sidebar hides its own window before it calls [`capture_primary`], so
//! the app never appears in what is sent.

use crate::api::Attachment;
use crate::error::ClientError;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::RgbaImage;

/// The longest side of an uploaded picture; larger frames are scaled down.
pub const DEFAULT_MAX_SIDE: u32 = 2048;
/// JPEG quality for whole-screen pictures.
pub const DEFAULT_JPEG_QUALITY: u8 = 80;

/// Grabs the primary monitor (or the first one, where none is marked
/// primary) and encodes it as JPEG.
pub fn capture_primary(max_side: u32, quality: u8) -> Result<Attachment, ClientError> {
    let failed = |e: xcap::XCapError| ClientError::Capture(e.to_string());
    let monitors = xcap::Monitor::all().map_err(failed)?;
    let mut chosen = None;
    for monitor in monitors {
        if monitor.is_primary().unwrap_or(false) {
            chosen = Some(monitor);
            break;
        }
        chosen.get_or_insert(monitor);
    }
    let monitor = chosen.ok_or_else(|| ClientError::Capture("no monitor found".into()))?;
    let frame = monitor.capture_image().map_err(failed)?;
    encode_jpeg(frame, max_side, quality)
}

/// Scales `frame` so its longest side is at most `max_side` and encodes it
/// as JPEG (no alpha: a screen has none worth sending).
pub fn encode_jpeg(frame: RgbaImage, max_side: u32, quality: u8) -> Result<Attachment, ClientError> {
    let (width, height) = frame.dimensions();
    if width == 0 || height == 0 {
        return Err(ClientError::Capture("the captured frame is empty".into()));
    }
    let longest = width.max(height);
    let rgb = if longest > max_side.max(1) {
        let scale = f64::from(max_side.max(1)) / f64::from(longest);
        let scaled_width = ((f64::from(width) * scale).round() as u32).max(1);
        let scaled_height = ((f64::from(height) * scale).round() as u32).max(1);
        let scaled = image::imageops::resize(&frame, scaled_width, scaled_height, FilterType::Triangle);
        image::DynamicImage::ImageRgba8(scaled).into_rgb8()
    } else {
        image::DynamicImage::ImageRgba8(frame).into_rgb8()
    };
    let mut bytes = Vec::with_capacity(rgb.as_raw().len() / 8);
    JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode_image(&rgb)
        .map_err(|e| ClientError::Capture(e.to_string()))?;
    Ok(Attachment {
        bytes: bytes.into(),
        file_name: "screen.jpg".into(),
        mime: "image/jpeg",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_frames_are_scaled_to_the_longest_side() {
        let frame = RgbaImage::from_pixel(4000, 1000, image::Rgba([200, 30, 30, 255]));
        let attachment = encode_jpeg(frame, 2048, 80).unwrap();
        let decoded = image::load_from_memory(&attachment.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (2048, 512));
        let pixel = decoded.to_rgb8().get_pixel(100, 100).0;
        assert!(pixel[0] > 180 && pixel[1] < 60, "{pixel:?}");
    }

    #[test]
    fn small_frames_keep_their_size() {
        let frame = RgbaImage::from_pixel(640, 480, image::Rgba([0, 0, 0, 255]));
        let attachment = encode_jpeg(frame, 2048, 80).unwrap();
        let decoded = image::load_from_memory(&attachment.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (640, 480));
        assert_eq!(attachment.mime, "image/jpeg");
    }

    #[test]
    fn empty_frames_are_refused() {
        assert!(encode_jpeg(RgbaImage::new(0, 0), 2048, 80).is_err());
    }
}
