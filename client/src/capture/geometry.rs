//! Where things are on a screen of several monitors, in physical pixels.
//!
//! The screen's coordinate space (all monitors together) is the one the windowing system reports
//! window positions in (physical pixels on X11 and Windows); monitors may
//! sit left of or above the primary one (negative origins) and each has
//! its own scale factor. An overlay window covers one monitor and is laid
//! out in logical (CSS) pixels: physical = logical × scale. Crops are
//! always taken from the frozen frame in physical pixels.

use serde::{Deserialize, Serialize};

/// A rectangle in whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PixelRect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl PixelRect {
    pub fn right(&self) -> i64 {
        i64::from(self.x) + i64::from(self.width)
    }

    pub fn bottom(&self) -> i64 {
        i64::from(self.y) + i64::from(self.height)
    }

    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && i64::from(x) < self.right() && y >= self.y && i64::from(y) < self.bottom()
    }

    /// The part of `self` inside `bounds`, if any.
    pub fn intersect(&self, bounds: &PixelRect) -> Option<PixelRect> {
        let left = self.x.max(bounds.x);
        let top = self.y.max(bounds.y);
        let right = self.right().min(bounds.right());
        let bottom = self.bottom().min(bounds.bottom());
        let width = u32::try_from(right - i64::from(left)).ok().filter(|w| *w > 0)?;
        let height = u32::try_from(bottom - i64::from(top)).ok().filter(|h| *h > 0)?;
        Some(PixelRect {
            x: left,
            y: top,
            width,
            height,
        })
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &PixelRect) -> PixelRect {
        let left = self.x.min(other.x);
        let top = self.y.min(other.y);
        let right = self.right().max(other.right());
        let bottom = self.bottom().max(other.bottom());
        PixelRect {
            x: left,
            y: top,
            width: u32::try_from(right - i64::from(left)).unwrap_or(u32::MAX),
            height: u32::try_from(bottom - i64::from(top)).unwrap_or(u32::MAX),
        }
    }

    /// `self` moved so that `origin` becomes (0, 0).
    pub fn relative_to(&self, origin_x: i32, origin_y: i32) -> PixelRect {
        PixelRect {
            x: self.x.saturating_sub(origin_x),
            y: self.y.saturating_sub(origin_y),
            ..*self
        }
    }
}

/// A rectangle in an overlay's logical (CSS) pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LogicalRect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// One monitor: where it is on the screen (physical pixels) and its
/// scale factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MonitorInfo {
    pub id: u32,
    pub name: String,
    pub bounds: PixelRect,
    pub scale: f64,
    pub primary: bool,
}

impl MonitorInfo {
    fn scale(&self) -> f64 {
        if self.scale.is_finite() && self.scale > 0.0 {
            self.scale
        } else {
            1.0
        }
    }

    /// The overlay's size in logical pixels.
    pub fn logical_size(&self) -> (f64, f64) {
        (
            f64::from(self.bounds.width) / self.scale(),
            f64::from(self.bounds.height) / self.scale(),
        )
    }

    /// A screen rectangle (a window's frame, say) in this monitor's
    /// overlay coordinates, cut to the monitor.
    pub fn to_overlay(&self, desktop: &PixelRect) -> Option<LogicalRect> {
        let visible = desktop.intersect(&self.bounds)?;
        let local = visible.relative_to(self.bounds.x, self.bounds.y);
        let scale = self.scale();
        Some(LogicalRect {
            x: f64::from(local.x) / scale,
            y: f64::from(local.y) / scale,
            width: f64::from(local.width) / scale,
            height: f64::from(local.height) / scale,
        })
    }
}

/// The monitor showing the screen point (`x`, `y`).
pub fn monitor_at(monitors: &[MonitorInfo], x: i32, y: i32) -> Option<&MonitorInfo> {
    monitors.iter().find(|monitor| monitor.bounds.contains(x, y))
}

/// The pixels of a frame (`frame_width` × `frame_height`, as captured)
/// that a selection made on its overlay (`overlay_width` × `overlay_height`
/// logical pixels) covers. The ratio is taken from the two sizes, so it
/// holds whatever scale factor the window system applied; edges round
/// outwards so nothing the user framed is cut off. `None` for a selection
/// outside the frame or without area.
pub fn crop(
    selection: &LogicalRect,
    overlay_width: f64,
    overlay_height: f64,
    frame_width: u32,
    frame_height: u32,
) -> Option<PixelRect> {
    let valid = |v: f64| v.is_finite();
    if ![
        selection.x,
        selection.y,
        selection.width,
        selection.height,
        overlay_width,
        overlay_height,
    ]
    .into_iter()
    .all(valid)
        || overlay_width <= 0.0
        || overlay_height <= 0.0
    {
        return None;
    }
    // A drag to the left or up gives a negative size: normalise it.
    let (left, right) = ordered(selection.x, selection.x + selection.width);
    let (top, bottom) = ordered(selection.y, selection.y + selection.height);
    let sx = f64::from(frame_width) / overlay_width;
    let sy = f64::from(frame_height) / overlay_height;
    // Snap values within a thousandth of a pixel, so 1.25 × 800 is 1000
    // and not 1000.0000001 rounded up.
    let snap = |v: f64| (v * 1000.0).round() / 1000.0;
    let clamp = |v: f64, max: u32| v.clamp(0.0, f64::from(max));
    let x0 = clamp(snap(left * sx).floor(), frame_width);
    let y0 = clamp(snap(top * sy).floor(), frame_height);
    let x1 = clamp(snap(right * sx).ceil(), frame_width);
    let y1 = clamp(snap(bottom * sy).ceil(), frame_height);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    Some(PixelRect {
        x: x0 as i32,
        y: y0 as i32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    })
}

fn ordered(a: f64, b: f64) -> (f64, f64) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(id: u32, x: i32, y: i32, width: u32, height: u32, scale: f64) -> MonitorInfo {
        MonitorInfo {
            id,
            name: format!("m{id}"),
            bounds: PixelRect { x, y, width, height },
            scale,
            primary: id == 0,
        }
    }

    fn logical(x: f64, y: f64, width: f64, height: f64) -> LogicalRect {
        LogicalRect { x, y, width, height }
    }

    #[test]
    fn crops_at_common_scale_factors() {
        // A 200×100 logical selection at (40, 20) on each scale.
        for (scale, frame, expected) in [
            (
                1.0,
                (1920, 1080),
                PixelRect {
                    x: 40,
                    y: 20,
                    width: 200,
                    height: 100,
                },
            ),
            (
                1.25,
                (2400, 1350),
                PixelRect {
                    x: 50,
                    y: 25,
                    width: 250,
                    height: 125,
                },
            ),
            (
                1.5,
                (2880, 1620),
                PixelRect {
                    x: 60,
                    y: 30,
                    width: 300,
                    height: 150,
                },
            ),
            (
                2.0,
                (3840, 2160),
                PixelRect {
                    x: 80,
                    y: 40,
                    width: 400,
                    height: 200,
                },
            ),
        ] {
            let m = monitor(0, 0, 0, frame.0, frame.1, scale);
            let (w, h) = m.logical_size();
            assert_eq!((w, h), (1920.0, 1080.0), "scale {scale}");
            let got = crop(&logical(40.0, 20.0, 200.0, 100.0), w, h, frame.0, frame.1);
            assert_eq!(got, Some(expected), "scale {scale}");
        }
    }

    #[test]
    fn fractional_selections_round_outwards() {
        // At 1.25, logical 10.5 is physical 13.125: the crop starts at 13
        // and ends at ceil((10.5 + 3) × 1.25) = 17.
        let got = crop(&logical(10.5, 10.5, 3.0, 3.0), 1536.0, 864.0, 1920, 1080).unwrap();
        assert_eq!(
            got,
            PixelRect {
                x: 13,
                y: 13,
                width: 4,
                height: 4
            }
        );
    }

    #[test]
    fn reversed_drags_outside_parts_and_empty_selections() {
        let reversed = crop(&logical(300.0, 200.0, -100.0, -50.0), 1920.0, 1080.0, 1920, 1080);
        assert_eq!(
            reversed,
            Some(PixelRect {
                x: 200,
                y: 150,
                width: 100,
                height: 50
            })
        );
        let spilling = crop(&logical(1900.0, 1000.0, 100.0, 200.0), 1920.0, 1080.0, 1920, 1080);
        assert_eq!(
            spilling,
            Some(PixelRect {
                x: 1900,
                y: 1000,
                width: 20,
                height: 80
            })
        );
        assert_eq!(
            crop(&logical(5.0, 5.0, 0.0, 10.0), 1920.0, 1080.0, 1920, 1080),
            None
        );
        assert_eq!(
            crop(&logical(3000.0, 5.0, 10.0, 10.0), 1920.0, 1080.0, 1920, 1080),
            None
        );
        assert_eq!(
            crop(&logical(f64::NAN, 5.0, 10.0, 10.0), 1920.0, 1080.0, 1920, 1080),
            None
        );
        assert_eq!(
            crop(&logical(5.0, 5.0, 10.0, 10.0), 0.0, 1080.0, 1920, 1080),
            None
        );
    }

    #[test]
    fn negative_origins_and_mixed_scales() {
        // A 4K monitor at 2× left of the primary, a 1.25× one above it.
        let monitors = [
            monitor(0, 0, 0, 1920, 1080, 1.0),
            monitor(1, -3840, -500, 3840, 2160, 2.0),
            monitor(2, 0, -1350, 2400, 1350, 1.25),
        ];
        assert_eq!(monitor_at(&monitors, -1, 0).map(|m| m.id), Some(1));
        assert_eq!(monitor_at(&monitors, -3840, -500).map(|m| m.id), Some(1));
        assert_eq!(monitor_at(&monitors, 0, -1).map(|m| m.id), Some(2));
        assert_eq!(monitor_at(&monitors, 1919, 1079).map(|m| m.id), Some(0));
        assert_eq!(monitor_at(&monitors, 1920, 0).map(|m| m.id), None);

        // A window straddling the left monitor and the primary.
        let window = PixelRect {
            x: -400,
            y: 100,
            width: 800,
            height: 300,
        };
        let on_left = monitors[1].to_overlay(&window).unwrap();
        // Desktop x -400 is 3440 px into the left monitor, 1720 logical.
        assert_eq!(on_left, logical(1720.0, 300.0, 200.0, 150.0));
        let on_primary = monitors[0].to_overlay(&window).unwrap();
        assert_eq!(on_primary, logical(0.0, 100.0, 400.0, 300.0));
        assert_eq!(monitors[2].to_overlay(&window), None);

        // Selecting that window's part on the left overlay crops exactly
        // its pixels from the left monitor's frame.
        let (w, h) = monitors[1].logical_size();
        let got = crop(&on_left, w, h, 3840, 2160).unwrap();
        assert_eq!(
            got,
            PixelRect {
                x: 3440,
                y: 600,
                width: 400,
                height: 300
            }
        );

        // On the 1.25× monitor above: screen (100, -1000) is local
        // (100, 350) physical, (80, 280) logical.
        let above = PixelRect {
            x: 100,
            y: -1000,
            width: 250,
            height: 125,
        };
        let on_top = monitors[2].to_overlay(&above).unwrap();
        assert_eq!(on_top, logical(80.0, 280.0, 200.0, 100.0));
        let (w, h) = monitors[2].logical_size();
        assert_eq!(
            crop(&on_top, w, h, 2400, 1350),
            Some(PixelRect {
                x: 100,
                y: 350,
                width: 250,
                height: 125
            })
        );
    }
}
