//! A frame in physical pixels as the display delivers them (BGRA rows),
//! and what is done to it in place: crops, fills, the change-check
//! thumbnail and scaling. Kept apart from the grabbing so that the X11
//! grabber and the encoder share it without depending on each other.

use super::change::Thumbnail;
use super::geometry::PixelRect;
use crate::error::ClientError;
use image::imageops::FilterType;
use image::RgbaImage;

pub(super) fn failed(error: impl std::fmt::Display) -> ClientError {
    ClientError::Capture(error.to_string())
}

/// Pixels in physical resolution, BGRA, `stride` bytes per row.
#[derive(Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub bgra: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}×{})", self.width, self.height)
    }
}

impl Frame {
    /// From an RGBA image (xcap's format).
    pub fn from_rgba(image: RgbaImage) -> Self {
        let (width, height) = image.dimensions();
        let mut bgra = image.into_raw();
        for pixel in bgra.chunks_exact_mut(4) {
            pixel.swap(0, 2);
        }
        Self {
            width,
            height,
            stride: width as usize * 4,
            bgra,
        }
    }

    /// The pixels under `rect` (clipped to the frame).
    pub fn crop(&self, rect: &PixelRect) -> Option<Frame> {
        let bounds = PixelRect {
            x: 0,
            y: 0,
            width: self.width,
            height: self.height,
        };
        let rect = rect.intersect(&bounds)?;
        let (x, y) = (rect.x as usize, rect.y as usize);
        let row_bytes = rect.width as usize * 4;
        let mut bgra = Vec::with_capacity(row_bytes * rect.height as usize);
        for row in y..y + rect.height as usize {
            let start = row * self.stride + x * 4;
            bgra.extend_from_slice(self.bgra.get(start..start + row_bytes)?);
        }
        Some(Frame {
            width: rect.width,
            height: rect.height,
            stride: row_bytes,
            bgra,
        })
    }

    /// Paints `rect` (clipped to the frame) with one BGRA colour: how the
    /// app's own windows are taken out of a frame.
    pub fn fill(&mut self, rect: &PixelRect, bgra: [u8; 4]) {
        let bounds = PixelRect {
            x: 0,
            y: 0,
            width: self.width,
            height: self.height,
        };
        let Some(rect) = rect.intersect(&bounds) else {
            return;
        };
        for row in rect.y as usize..rect.y as usize + rect.height as usize {
            let start = row * self.stride + rect.x as usize * 4;
            if let Some(pixels) = self.bgra.get_mut(start..start + rect.width as usize * 4) {
                for pixel in pixels.chunks_exact_mut(4) {
                    pixel.copy_from_slice(&bgra);
                }
            }
        }
    }

    /// The small grayscale version the change check compares.
    pub fn thumbnail(&self) -> Option<Thumbnail> {
        Thumbnail::from_bgra(&self.bgra, self.width as usize, self.height as usize, self.stride)
    }

    /// Tightly packed RGB, for encoders that want it.
    pub(super) fn to_rgb(&self) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(self.width as usize * self.height as usize * 3);
        for row in self.bgra.chunks(self.stride).take(self.height as usize) {
            for pixel in row[..self.width as usize * 4].chunks_exact(4) {
                rgb.extend_from_slice(&[pixel[2], pixel[1], pixel[0]]);
            }
        }
        rgb
    }

    /// Scaled so its longest side is at most `max_side`.
    pub(super) fn fit(&self, max_side: u32) -> Option<Frame> {
        let longest = self.width.max(self.height);
        let max_side = max_side.max(1);
        if longest <= max_side {
            return None;
        }
        let scale = f64::from(max_side) / f64::from(longest);
        let width = ((f64::from(self.width) * scale).round() as u32).max(1);
        let height = ((f64::from(self.height) * scale).round() as u32).max(1);
        // Channel order does not matter to the filter: BGRA stays BGRA.
        let packed = if self.stride == self.width as usize * 4 {
            self.bgra.clone()
        } else {
            self.bgra
                .chunks(self.stride)
                .take(self.height as usize)
                .flat_map(|row| row[..self.width as usize * 4].iter().copied())
                .collect()
        };
        let image = RgbaImage::from_raw(self.width, self.height, packed)?;
        let scaled = image::imageops::resize(&image, width, height, FilterType::Triangle);
        Some(Frame {
            width,
            height,
            stride: width as usize * 4,
            bgra: scaled.into_raw(),
        })
    }
}
