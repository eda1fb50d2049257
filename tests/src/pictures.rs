//! Pictures the desktop tests put on screen, made so that what reaches the
//! model can be checked against them.

use image::RgbaImage;

/// Every pixel tells where it is: x in red and blue, y in green and blue
/// (see [`position_of`]).
pub fn position_pattern(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([
            (x % 256) as u8,
            (y % 256) as u8,
            ((x / 256) * 16 + y / 256) as u8,
            255,
        ])
    })
}

/// Which pixel of [`position_pattern`] `pixel` is.
pub fn position_of(pixel: &image::Rgba<u8>) -> (u32, u32) {
    let [r, g, b, _] = pixel.0;
    (
        u32::from(r) + 256 * u32::from(b / 16),
        u32::from(g) + 256 * u32::from(b % 16),
    )
}

/// A calm screen: a soft vertical gradient.
pub fn calm(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |_, y| {
        image::Rgba([40, 60, (80 + y / 8) as u8, 255])
    })
}

/// A busy one: coloured tiles, 60 px each, different for each `seed`.
pub fn tiles(width: u32, height: u32, seed: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let tile = (x / 60) * 7 + (y / 60) * 13 + seed;
        image::Rgba([
            (tile * 37 % 256) as u8,
            (tile * 91 % 256) as u8,
            (tile * 53 % 256) as u8,
            255,
        ])
    })
}
