//! Drawing a generated screen: rectangles and text, glyph by glyph with
//! ab_glyph into a BGRA frame, while remembering which pixels each
//! character inked. That memory is the ground truth the evaluation checks
//! the redaction's boxes against, so it is taken from the very coverage
//! values that blend the text into the background.

use ab_glyph::{point, Font, FontVec, PxScale, ScaleFont};
use anyhow::{bail, Context, Result};
use sightline_client::capture::Frame;
use sightline_client::redaction::Category;

pub(crate) type Rgb = [u8; 3];

/// The text colours of a theme: ordinary text, comments and line numbers,
/// keys and prompts, values and strings, keywords.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    pub text: Rgb,
    pub muted: Rgb,
    pub key: Rgb,
    pub string: Rgb,
    pub keyword: Rgb,
}

/// Glyph coverage above which a pixel counts as ink of its character.
const INK: f32 = 0.35;

/// The six faces the screens are drawn in (fonts-dejavu-core and
/// fonts-liberation2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    SansMono,
    LiberationMono,
    Sans,
    LiberationSans,
    Serif,
    LiberationSerif,
}

impl Face {
    const ALL: [Face; 6] = [
        Face::SansMono,
        Face::LiberationMono,
        Face::Sans,
        Face::LiberationSans,
        Face::Serif,
        Face::LiberationSerif,
    ];

    /// The face's name, and its file under /usr/share/fonts/truetype.
    fn file(self) -> (&'static str, &'static str) {
        match self {
            Face::SansMono => ("DejaVu Sans Mono", "dejavu/DejaVuSansMono.ttf"),
            Face::LiberationMono => ("Liberation Mono", "liberation2/LiberationMono-Regular.ttf"),
            Face::Sans => ("DejaVu Sans", "dejavu/DejaVuSans.ttf"),
            Face::LiberationSans => ("Liberation Sans", "liberation2/LiberationSans-Regular.ttf"),
            Face::Serif => ("DejaVu Serif", "dejavu/DejaVuSerif.ttf"),
            Face::LiberationSerif => ("Liberation Serif", "liberation2/LiberationSerif-Regular.ttf"),
        }
    }

    pub fn name(self) -> &'static str {
        self.file().0
    }
}

/// The six fonts, read once.
pub struct Fonts {
    fonts: Vec<FontVec>,
}

impl Fonts {
    pub fn load() -> Result<Self> {
        let mut fonts = Vec::new();
        for face in Face::ALL {
            let path = format!("/usr/share/fonts/truetype/{}", face.file().1);
            let bytes = std::fs::read(&path).with_context(|| {
                format!("{path} is missing: install fonts-dejavu-core and fonts-liberation2")
            })?;
            fonts.push(FontVec::try_from_vec(bytes).with_context(|| path.clone())?);
        }
        Ok(Self { fonts })
    }

    fn font(&self, face: Face) -> &FontVec {
        &self.fonts[face as usize]
    }

    /// Sizes are em sizes, as CSS and editors give them; ab_glyph's scale
    /// is the height from descender to ascender, which is larger.
    fn scale(&self, face: Face, size: f32) -> PxScale {
        let font = self.font(face);
        let em = font.units_per_em().unwrap_or(1000.0);
        PxScale::from(size * font.height_unscaled() / em)
    }

    /// How far `ch` moves the pen. Text is laid out without kerning, so a
    /// width measured here is the width drawn.
    fn advance(&self, face: Face, size: f32, ch: char) -> f32 {
        let font = self.font(face);
        let scaled = font.as_scaled(self.scale(face, size));
        scaled.h_advance(font.glyph_id(ch))
    }

    pub(crate) fn width(&self, face: Face, size: f32, text: &str) -> f32 {
        text.chars().map(|c| self.advance(face, size, c)).sum()
    }

    /// The baseline of text centred in a row of `height` pixels from `top`.
    fn baseline(&self, face: Face, size: f32, top: f32, height: f32) -> f32 {
        let font = self.font(face);
        let scaled = font.as_scaled(self.scale(face, size));
        let (ascent, descent) = (scaled.ascent(), scaled.descent());
        (top + (height - (ascent - descent)) / 2.0 + ascent).round()
    }

    /// How many rows `line` takes in a block like `block`, on whichever of
    /// the two screens (with secrets, or the clean twin) it is longer.
    pub(crate) fn rows(&self, block: &Block, line: &Line) -> usize {
        [false, true]
            .into_iter()
            .map(|clean| self.wrap(block, cells(line, clean)).len())
            .max()
            .unwrap_or(1)
    }

    /// One logical line broken into rows as an editor (at spaces) or a
    /// terminal (at the last column) breaks it.
    fn wrap(&self, block: &Block, cells: Vec<Cell>) -> Vec<Vec<Cell>> {
        let mut rows = Vec::new();
        let mut row: Vec<Cell> = Vec::new();
        let mut x = 0.0;
        for cell in cells {
            let advance = self.advance(block.face, block.size, cell.ch);
            if x + advance > block.width && !row.is_empty() && block.wrap != Wrap::None {
                let space = row.iter().rposition(|c| c.ch == ' ');
                let rest = match (block.wrap, space) {
                    (Wrap::Words, Some(at)) if at > 0 => row.split_off(at + 1),
                    _ => Vec::new(),
                };
                rows.push(std::mem::replace(&mut row, rest));
                x = row
                    .iter()
                    .map(|c| self.advance(block.face, block.size, c.ch))
                    .sum();
            }
            row.push(cell);
            x += advance;
        }
        rows.push(row);
        rows
    }
}

/// What a piece of text is to the evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ink {
    /// Ordinary text: must stay readable.
    Plain,
    /// Text beside a secret that may go either way, such as the BEGIN and
    /// END lines around a private key.
    Context,
    /// The characters of planted secret number n.
    Secret(usize),
}

/// A run of text in one colour, as it is on the screen with secrets and
/// on its clean twin (where everything is ordinary).
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub text: String,
    pub clean: String,
    pub ink: Ink,
    pub color: Rgb,
}

impl Part {
    pub fn plain(text: &str, color: Rgb) -> Self {
        Self::swap(text, text, color)
    }

    /// Ordinary text that names a secret (`DB_PASSWORD=`, "Card number"),
    /// so the clean twin says something else there.
    pub fn swap(text: &str, clean: &str, color: Rgb) -> Self {
        Self {
            text: text.to_owned(),
            clean: clean.to_owned(),
            ink: Ink::Plain,
            color,
        }
    }

    pub fn context(text: &str, clean: &str, color: Rgb) -> Self {
        Self {
            ink: Ink::Context,
            ..Self::swap(text, clean, color)
        }
    }

    pub fn secret(id: usize, text: &str, clean: &str, color: Rgb) -> Self {
        Self {
            ink: Ink::Secret(id),
            ..Self::swap(text, clean, color)
        }
    }
}

pub(crate) type Line = Vec<Part>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrap {
    None,
    Words,
    Chars,
}

/// Lines of text in one face and size, from (`x`, `top`), wrapped at
/// `width`; with `numbers`, each logical line gets its number right-aligned
/// at that x, as in an editor's gutter; with `cursor`, a block cursor
/// follows the last character (where it lands depends on the wrapping,
/// which differs between a screen and its twin).
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub x: f32,
    pub top: f32,
    pub width: f32,
    pub face: Face,
    pub size: f32,
    pub line_height: f32,
    pub wrap: Wrap,
    pub numbers: Option<(f32, Rgb)>,
    pub cursor: Option<Rgb>,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    Fill {
        x: i32,
        y: i32,
        w: i32,
        h: i32,
        color: Rgb,
    },
    Outline {
        x: i32,
        y: i32,
        w: i32,
        h: i32,
        color: Rgb,
    },
}

/// The three kinds of screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Editor,
    Terminal,
    Form,
}

impl Look {
    pub fn name(self) -> &'static str {
        match self {
            Look::Editor => "editor",
            Look::Terminal => "terminal",
            Look::Form => "form",
        }
    }
}

/// Everything on one screen before it is drawn.
#[derive(Debug, Clone)]
pub(crate) struct Sheet {
    pub name: String,
    pub look: Look,
    pub theme: &'static str,
    pub dark: bool,
    pub face: Face,
    pub size: f32,
    pub width: u32,
    pub height: u32,
    pub background: Rgb,
    pub shapes: Vec<Shape>,
    pub blocks: Vec<Block>,
    /// The planted secrets, numbered as [`Ink::Secret`] numbers them.
    pub secrets: Vec<(Category, String)>,
}

/// One generated screen and the ground truth of what is on it.
#[derive(Debug, Clone)]
pub struct Screen {
    pub name: String,
    pub look: Look,
    pub theme: &'static str,
    pub dark: bool,
    pub face: Face,
    pub size: f32,
    /// The twin of a screen with secrets, each replaced by ordinary text.
    pub clean: bool,
    pub frame: Frame,
    pub secrets: Vec<Planted>,
    pub words: Vec<Word>,
}

/// A planted secret and, for each of its visible characters in reading
/// order, the pixels it inked (indices `y * width + x`).
#[derive(Debug, Clone)]
pub struct Planted {
    pub category: Category,
    pub text: String,
    pub chars: Vec<Vec<u32>>,
}

/// An ordinary word (text between spaces on one row) and its ink.
#[derive(Debug, Clone)]
pub struct Word {
    pub text: String,
    pub pixels: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    ch: char,
    ink: Ink,
    color: Rgb,
}

/// A line as characters; on the clean twin every one is ordinary.
fn cells(line: &Line, clean: bool) -> Vec<Cell> {
    line.iter()
        .flat_map(|part| {
            let (text, ink) = match clean {
                true => (&part.clean, Ink::Plain),
                false => (&part.text, part.ink),
            };
            text.chars().map(move |ch| Cell {
                ch,
                ink,
                color: part.color,
            })
        })
        .collect()
}

struct Canvas {
    width: u32,
    height: u32,
    bgra: Vec<u8>,
}

impl Canvas {
    fn fill(&mut self, x: i32, y: i32, w: i32, h: i32, color: Rgb) {
        let (x0, y0) = (x.max(0), y.max(0));
        let (x1, y1) = ((x + w).min(self.width as i32), (y + h).min(self.height as i32));
        for row in y0..y1 {
            for column in x0..x1 {
                let at = (row as usize * self.width as usize + column as usize) * 4;
                self.bgra[at..at + 4].copy_from_slice(&[color[2], color[1], color[0], 255]);
            }
        }
    }

    fn shape(&mut self, shape: &Shape) {
        match *shape {
            Shape::Fill { x, y, w, h, color } => self.fill(x, y, w, h, color),
            Shape::Outline { x, y, w, h, color } => {
                self.fill(x, y, w, 1, color);
                self.fill(x, y + h - 1, w, 1, color);
                self.fill(x, y, 1, h, color);
                self.fill(x + w - 1, y, 1, h, color);
            }
        }
    }

    /// Blends one character of `block` over what is there, at `x` on
    /// `baseline`; returns its ink pixels.
    fn glyph(&mut self, fonts: &Fonts, block: &Block, cell: &Cell, x: f32, baseline: f32) -> Vec<u32> {
        let (font, color) = (fonts.font(block.face), cell.color);
        let glyph = ab_glyph::Glyph {
            position: point(x, baseline),
            ..font
                .as_scaled(fonts.scale(block.face, block.size))
                .scaled_glyph(cell.ch)
        };
        let mut ink = Vec::new();
        let Some(outline) = font.outline_glyph(glyph) else {
            return ink;
        };
        let bounds = outline.px_bounds();
        let (width, height) = (self.width as i32, self.height as i32);
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32);
            if px < 0 || py < 0 || px >= width || py >= height {
                return;
            }
            let alpha = coverage.clamp(0.0, 1.0);
            let index = py as u32 * self.width + px as u32;
            let at = index as usize * 4;
            for (channel, value) in [color[2], color[1], color[0]].into_iter().enumerate() {
                let old = f32::from(self.bgra[at + channel]);
                self.bgra[at + channel] = (old + (f32::from(value) - old) * alpha).round() as u8;
            }
            if coverage > INK {
                ink.push(index);
            }
        });
        ink
    }
}

/// The word being read along a row: its text and ink, and whether any of
/// it is a secret or context (then it is no ordinary word).
#[derive(Default)]
struct Reading {
    text: String,
    pixels: Vec<u32>,
    tainted: bool,
}

impl Reading {
    fn end(&mut self, words: &mut Vec<Word>) {
        let reading = std::mem::take(self);
        if !reading.text.is_empty() && !reading.tainted {
            words.push(Word {
                text: reading.text,
                pixels: reading.pixels,
            });
        }
    }
}

/// A screen being drawn, and the ground truth recorded so far.
struct Drawing {
    canvas: Canvas,
    secrets: Vec<Planted>,
    words: Vec<Word>,
}

/// Draws `sheet` as the screen with secrets or as its clean twin.
pub(crate) fn render(fonts: &Fonts, sheet: &Sheet, clean: bool) -> Result<Screen> {
    let (width, height) = (sheet.width, sheet.height);
    let mut canvas = Canvas {
        width,
        height,
        bgra: vec![0; width as usize * height as usize * 4],
    };
    canvas.fill(0, 0, width as i32, height as i32, sheet.background);
    for shape in &sheet.shapes {
        canvas.shape(shape);
    }
    let planted = sheet.secrets.iter().map(|(category, text)| Planted {
        category: *category,
        text: text.clone(),
        chars: Vec::new(),
    });
    let mut drawing = Drawing {
        canvas,
        secrets: if clean { Vec::new() } else { planted.collect() },
        words: Vec::new(),
    };
    for block in &sheet.blocks {
        let mut row_top = block.top;
        let mut end = block.x;
        for (number, line) in block.lines.iter().enumerate() {
            if let Some((right, color)) = block.numbers {
                let label = (number + 1).to_string();
                let x = right - fonts.width(block.face, block.size, &label);
                let ink = Ink::Plain;
                let cells: Vec<Cell> = label.chars().map(|ch| Cell { ch, ink, color }).collect();
                drawing.row(fonts, block, &cells, x, row_top);
            }
            for row in fonts.wrap(block, cells(line, clean)) {
                end = drawing.row(fonts, block, &row, block.x, row_top);
                row_top += block.line_height;
            }
        }
        if let Some(color) = block.cursor {
            let width = fonts.advance(block.face, block.size, 'M') as i32;
            let top = (row_top - block.line_height) as i32;
            let line_height = block.line_height as i32;
            drawing
                .canvas
                .fill(end as i32, top + 2, width, line_height - 4, color);
        }
    }
    // A secret partly outside the frame would count as found for the part
    // that is not drawn; the layouts must keep every one whole on screen.
    for planted in &drawing.secrets {
        let visible = planted.text.chars().filter(|c| !c.is_whitespace()).count();
        if planted.chars.len() != visible {
            bail!(
                "{}: {} of the {visible} characters of {:?} were drawn",
                sheet.name,
                planted.chars.len(),
                planted.text
            );
        }
    }
    Ok(Screen {
        name: match clean {
            true => format!("{}-clean", sheet.name),
            false => sheet.name.clone(),
        },
        look: sheet.look,
        theme: sheet.theme,
        dark: sheet.dark,
        face: sheet.face,
        size: sheet.size,
        clean,
        frame: Frame {
            width,
            height,
            stride: width as usize * 4,
            bgra: drawing.canvas.bgra,
        },
        secrets: drawing.secrets,
        words: drawing.words,
    })
}

impl Drawing {
    /// Draws one row of `block` from `x`, recording the ink of secrets and
    /// words; returns where the row ended.
    fn row(&mut self, fonts: &Fonts, block: &Block, row: &[Cell], mut x: f32, top: f32) -> f32 {
        let baseline = fonts.baseline(block.face, block.size, top, block.line_height);
        let mut reading = Reading::default();
        for cell in row {
            let advance = fonts.advance(block.face, block.size, cell.ch);
            // A secret's character drawn (partly) outside the frame is not
            // counted, so that the check in `render` fails.
            let inside = x >= 0.0
                && top >= 0.0
                && x + advance <= self.canvas.width as f32
                && top + block.line_height <= self.canvas.height as f32;
            if cell.ch.is_whitespace() {
                reading.end(&mut self.words);
            } else {
                let ink = self.canvas.glyph(fonts, block, cell, x, baseline);
                reading.text.push(cell.ch);
                reading.pixels.extend_from_slice(&ink);
                match cell.ink {
                    Ink::Plain => {}
                    Ink::Context => reading.tainted = true,
                    Ink::Secret(id) => {
                        reading.tainted = true;
                        if let Some(planted) = self.secrets.get_mut(id).filter(|_| inside) {
                            planted.chars.push(ink);
                        }
                    }
                }
            }
            x += advance;
        }
        reading.end(&mut self.words);
        x
    }
}
