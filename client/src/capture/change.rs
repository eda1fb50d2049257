//! The cheap "did the screen change?" check of ambient awareness: a frame
//! is reduced to a small grayscale thumbnail (block averages), and two
//! thumbnails are compared cell by cell. Reading a 1080p frame this way
//! touches one pixel in sixteen, so a static screen costs next to nothing.

/// Thumbnail size: 64 × 36 cells (16:9), 2,304 bytes.
pub const THUMB_WIDTH: usize = 64;
pub const THUMB_HEIGHT: usize = 36;

/// A cell counts as changed when its brightness moved by more than this
/// (0–255): above noise from cursor blink and anti-aliasing.
const CELL_TOLERANCE: u8 = 12;

/// Only every `SAMPLE_STEP`-th pixel of every `SAMPLE_STEP`-th row is read.
const SAMPLE_STEP: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    cells: Vec<u8>,
}

impl Thumbnail {
    /// Reduces a BGRA frame of `width` × `height` pixels, `stride` bytes
    /// per row. Red and blue are weighted alike, so an RGBA frame gives the
    /// same thumbnail.
    pub fn from_bgra(pixels: &[u8], width: usize, height: usize, stride: usize) -> Option<Self> {
        if width == 0 || height == 0 || stride < width * 4 || pixels.len() < stride * (height - 1) + width * 4
        {
            return None;
        }
        let mut sums = vec![0u32; THUMB_WIDTH * THUMB_HEIGHT];
        let mut counts = vec![0u32; THUMB_WIDTH * THUMB_HEIGHT];
        for y in (0..height).step_by(SAMPLE_STEP) {
            let cell_row = y * THUMB_HEIGHT / height;
            let row = &pixels[y * stride..y * stride + width * 4];
            for x in (0..width).step_by(SAMPLE_STEP) {
                let cell = cell_row * THUMB_WIDTH + x * THUMB_WIDTH / width;
                let p = &row[x * 4..x * 4 + 4];
                // Brightness in integers, close to Rec. 601 luma with red
                // and blue weighted alike: (53 (R + B) + 150 G) / 256.
                let outer = (u32::from(p[0]) + u32::from(p[2])) * 53;
                sums[cell] += (outer + u32::from(p[1]) * 150) >> 8;
                counts[cell] += 1;
            }
        }
        let cells = sums
            .iter()
            .zip(&counts)
            .map(|(sum, count)| if *count == 0 { 0 } else { (sum / count) as u8 })
            .collect();
        Some(Self { cells })
    }

    /// The share of cells (0.0–1.0) that changed noticeably.
    pub fn difference(&self, other: &Thumbnail) -> f32 {
        let changed = self
            .cells
            .iter()
            .zip(&other.cells)
            .filter(|(a, b)| a.abs_diff(**b) > CELL_TOLERANCE)
            .count();
        changed as f32 / self.cells.len().max(1) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(width: usize, height: usize, paint: impl Fn(usize, usize) -> [u8; 4]) -> Vec<u8> {
        let mut pixels = Vec::with_capacity(width * height * 4);
        for y in 0..height {
            for x in 0..width {
                pixels.extend_from_slice(&paint(x, y));
            }
        }
        pixels
    }

    #[test]
    fn a_static_screen_has_no_difference() {
        let desk = frame(1920, 1080, |x, y| [(x % 256) as u8, (y % 256) as u8, 90, 255]);
        let a = Thumbnail::from_bgra(&desk, 1920, 1080, 1920 * 4).unwrap();
        let b = Thumbnail::from_bgra(&desk, 1920, 1080, 1920 * 4).unwrap();
        assert_eq!(a.difference(&b), 0.0);
    }

    #[test]
    fn a_blinking_caret_is_noise_a_new_window_is_not() {
        let white = frame(1920, 1080, |_, _| [255, 255, 255, 255]);
        let caret = frame(1920, 1080, |x, y| {
            if (400..402).contains(&x) && (300..318).contains(&y) {
                [0, 0, 0, 255]
            } else {
                [255, 255, 255, 255]
            }
        });
        let window = frame(1920, 1080, |x, y| {
            if (200..1000).contains(&x) && (200..700).contains(&y) {
                [40, 40, 40, 255]
            } else {
                [255, 255, 255, 255]
            }
        });
        let base = Thumbnail::from_bgra(&white, 1920, 1080, 1920 * 4).unwrap();
        let blink = Thumbnail::from_bgra(&caret, 1920, 1080, 1920 * 4).unwrap();
        let opened = Thumbnail::from_bgra(&window, 1920, 1080, 1920 * 4).unwrap();
        assert!(base.difference(&blink) < 0.002, "{}", base.difference(&blink));
        let changed = base.difference(&opened);
        // 800×500 of 1920×1080 is about 19% of the screen.
        assert!((0.15..0.25).contains(&changed), "{changed}");
    }

    #[test]
    fn strides_and_bad_sizes() {
        // Rows padded to 8 bytes more than needed.
        let padded: Vec<u8> = (0..100).flat_map(|_| [200u8; 408]).collect();
        let thumb = Thumbnail::from_bgra(&padded, 100, 100, 408).unwrap();
        assert_eq!(thumb.cells.len(), THUMB_WIDTH * THUMB_HEIGHT);
        assert!(Thumbnail::from_bgra(&padded, 100, 100, 200).is_none());
        assert!(Thumbnail::from_bgra(&[], 0, 0, 0).is_none());
        assert!(Thumbnail::from_bgra(&padded, 100, 200, 408).is_none());
    }
}
