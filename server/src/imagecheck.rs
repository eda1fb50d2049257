//! Cheap checks of an uploaded image, before any pixel is decoded: the type
//! comes from the bytes (not the declared content type), the dimensions from
//! the header, and truncation from the file's end marker. A decompression
//! bomb is refused after reading a few dozen bytes.

use image::ImageFormat;
use std::io::Cursor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    Webp,
}

impl Kind {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Webp => ImageFormat::WebP,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the image is empty")]
    Empty,
    #[error("the image is not PNG, JPEG or WebP")]
    Unsupported,
    #[error("the image is truncated or damaged")]
    Invalid,
    #[error("the image is {width}×{height} pixels; the largest side may be {max}")]
    TooLarge { width: u32, height: u32, max: u32 },
}

/// The kind, from the first bytes.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(Kind::Jpeg)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Kind::Webp)
    } else {
        None
    }
}

/// True when the file ends as its format says a whole file ends.
fn complete(kind: Kind, bytes: &[u8]) -> bool {
    match kind {
        // The IEND chunk: length 0, type, CRC.
        Kind::Png => bytes.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]),
        // End-of-image marker; some encoders pad with zeros after it.
        Kind::Jpeg => {
            let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
            end >= 2 && bytes[end - 2..end] == [0xff, 0xd9]
        }
        // The RIFF size covers everything after the first 8 bytes.
        Kind::Webp => bytes
            .get(4..8)
            .map(|size| u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize)
            .is_some_and(|size| size + 8 <= bytes.len()),
    }
}

/// Width and height from the IHDR chunk, which must come first and carry a
/// correct CRC. (The decoder would read further before answering.)
fn png_dimensions(bytes: &[u8]) -> Result<(u32, u32), Rejection> {
    let ihdr = bytes.get(8..33).ok_or(Rejection::Invalid)?;
    if ihdr[..8] != [0, 0, 0, 13, b'I', b'H', b'D', b'R'] {
        return Err(Rejection::Invalid);
    }
    let crc = u32::from_be_bytes([ihdr[21], ihdr[22], ihdr[23], ihdr[24]]);
    if crc32fast::hash(&ihdr[4..21]) != crc {
        return Err(Rejection::Invalid);
    }
    let width = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let height = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    Ok((width, height))
}

pub fn inspect(bytes: &[u8], max_side: u32) -> Result<ImageInfo, Rejection> {
    if bytes.is_empty() {
        return Err(Rejection::Empty);
    }
    let kind = sniff(bytes).ok_or(Rejection::Unsupported)?;
    let (width, height) = match kind {
        Kind::Png => png_dimensions(bytes)?,
        Kind::Jpeg | Kind::Webp => image::ImageReader::with_format(Cursor::new(bytes), kind.format())
            .into_dimensions()
            .map_err(|_| Rejection::Invalid)?,
    };
    if width == 0 || height == 0 {
        return Err(Rejection::Invalid);
    }
    if width > max_side || height > max_side {
        return Err(Rejection::TooLarge {
            width,
            height,
            max: max_side,
        });
    }
    if !complete(kind, bytes) {
        return Err(Rejection::Invalid);
    }
    Ok(ImageInfo { kind, width, height })
}

/// Scales an image down so its longest side is at most `max_side`, as JPEG.
/// Returns `None` when it is small enough already. CPU-heavy: run it on the
/// blocking pool.
pub fn downscale(bytes: &[u8], info: ImageInfo, max_side: u32) -> Result<Option<Vec<u8>>, Rejection> {
    if info.width.max(info.height) <= max_side {
        return Ok(None);
    }
    let decoded =
        image::load_from_memory_with_format(bytes, info.kind.format()).map_err(|_| Rejection::Invalid)?;
    let smaller = decoded.resize(max_side, max_side, image::imageops::FilterType::Triangle);
    let mut out = Cursor::new(Vec::new());
    smaller
        .to_rgb8()
        .write_to(&mut out, ImageFormat::Jpeg)
        .map_err(|_| Rejection::Invalid)?;
    Ok(Some(out.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image::RgbImage::new(width, height)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image::RgbImage::new(width, height)
            .write_to(&mut out, ImageFormat::Jpeg)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn accepts_whole_images_of_each_kind() {
        assert_eq!(
            inspect(&png(30, 20), 100).unwrap(),
            ImageInfo {
                kind: Kind::Png,
                width: 30,
                height: 20
            }
        );
        assert_eq!(inspect(&jpeg(30, 20), 100).unwrap().kind, Kind::Jpeg);
    }

    #[test]
    fn refuses_empty_foreign_truncated_and_huge_images() {
        assert_eq!(inspect(&[], 100), Err(Rejection::Empty));
        assert_eq!(
            inspect(b"hello, I am a text file", 100),
            Err(Rejection::Unsupported)
        );
        let whole = png(30, 20);
        assert_eq!(inspect(&whole[..whole.len() - 20], 100), Err(Rejection::Invalid));
        let whole = jpeg(30, 20);
        assert_eq!(inspect(&whole[..whole.len() / 2], 100), Err(Rejection::Invalid));
        assert!(matches!(
            inspect(&png(300, 20), 100),
            Err(Rejection::TooLarge { width: 300, .. })
        ));
    }

    #[test]
    fn a_header_claiming_a_huge_image_is_refused_without_decoding() {
        // A valid signature and IHDR chunk (with its CRC) claiming 100000×100000.
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
        bomb.extend_from_slice(&ihdr);
        bomb.extend_from_slice(&crc32fast::hash(&ihdr).to_be_bytes());
        assert!(matches!(
            inspect(&bomb, 8192),
            Err(Rejection::TooLarge {
                width: 100_000,
                height: 100_000,
                ..
            })
        ));
    }

    #[test]
    fn downscale_keeps_the_aspect_ratio() {
        let big = png(400, 200);
        let info = inspect(&big, 8192).unwrap();
        let small = downscale(&big, info, 100).unwrap().unwrap();
        let info = inspect(&small, 8192).unwrap();
        assert_eq!((info.kind, info.width, info.height), (Kind::Jpeg, 100, 50));
        assert!(downscale(&big, inspect(&big, 8192).unwrap(), 1000)
            .unwrap()
            .is_none());
    }
}
