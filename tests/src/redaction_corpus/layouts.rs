//! The three kinds of screens the secrets are planted in, laid out as the
//! real ones are: a code editor (tabs, a gutter with line numbers, the
//! file, a status bar), a terminal (prompts, commands and their output,
//! long lines wrapped at the last column) and a web form (a navigation
//! bar, labels beside or above bordered inputs, a button). Around the
//! secrets is the ordinary text of such screens, which must stay readable.

use super::ordinary::{self, one, Syntax, Theme, SIZES};
use super::placement::{self, Field};
use super::render::{Block, Face, Fonts, Line, Look, Part, Rgb, Shape, Sheet, Wrap};
use super::secrets::{Plant, Planter};
use anyhow::{bail, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// Plants dealt evenly: each look's list shuffled, dealt out, reshuffled.
struct Deck {
    all: Vec<Plant>,
    cards: Vec<Plant>,
}

impl Deck {
    /// `count` different plants: one screen shows no kind twice (a form
    /// with two IBAN fields would be odd).
    fn deal(&mut self, rng: &mut StdRng, count: usize) -> Vec<Plant> {
        let mut hand: Vec<Plant> = Vec::new();
        let mut held_back = Vec::new();
        while hand.len() < count {
            if self.cards.is_empty() {
                self.cards = self.all.clone();
                self.cards.shuffle(rng);
            }
            match self.cards.pop() {
                Some(plant) if hand.contains(&plant) => held_back.push(plant),
                Some(plant) => hand.push(plant),
                None => break,
            }
        }
        self.cards.extend(held_back);
        hand
    }
}

/// `per_look` screens of each look, light and dark in turn.
pub(crate) fn sheets(fonts: &Fonts, rng: &mut StdRng, per_look: usize) -> Result<Vec<Sheet>> {
    let mut decks = [Look::Editor, Look::Terminal, Look::Form].map(|look| Deck {
        all: placement::deck(look),
        cards: Vec::new(),
    });
    let mut sheets = Vec::new();
    for index in 0..per_look * 3 {
        let dark = (index / 3) % 2 == 1;
        // Forms have room for fewer fields than an editor has lines.
        let look = index % 3;
        let plants = decks[look].deal(rng, [6, 5, 4][look]);
        let sheet = match look {
            0 => editor(fonts, rng, index, dark, &plants)?,
            1 => terminal(fonts, rng, index, dark, &plants)?,
            _ => form(fonts, rng, index, dark, &plants)?,
        };
        sheets.push(sheet);
    }
    Ok(sheets)
}

fn sheet(
    index: usize,
    look: Look,
    theme: &Theme,
    face: Face,
    size: f32,
    (width, height): (u32, u32),
) -> Sheet {
    Sheet {
        name: format!("{index:02}-{}-{}", look.name(), theme.name),
        look,
        theme: theme.name,
        dark: theme.dark,
        face,
        size,
        width,
        height,
        background: theme.background,
        shapes: Vec::new(),
        blocks: Vec::new(),
        secrets: Vec::new(),
    }
}

/// A single line of text, unwrapped.
fn label(x: f32, top: f32, face: Face, size: f32, height: f32, line: Line) -> Block {
    Block {
        x,
        top,
        width: f32::MAX,
        face,
        size,
        line_height: height,
        wrap: Wrap::None,
        numbers: None,
        cursor: None,
        lines: vec![line],
    }
}

fn fill(x: f32, y: f32, w: f32, h: f32, color: Rgb) -> Shape {
    Shape::Fill {
        x: x as i32,
        y: y as i32,
        w: w as i32,
        h: h as i32,
        color,
    }
}

/// Each group of planted lines put at a random place between the groups
/// of filler lines, after the first (a file's first line is its own).
fn interleave(rng: &mut StdRng, filler: Vec<Vec<Line>>, groups: Vec<Vec<Line>>) -> Vec<Line> {
    let mut slots = filler;
    for group in groups {
        let at = rng.gen_range(1..=slots.len().max(1));
        slots.insert(at.min(slots.len()), group);
    }
    slots.into_iter().flatten().collect()
}

/// The largest size from `start` down to 13 px at which `fits` holds.
fn shrink_to_fit(name: &str, start: f32, mut fits: impl FnMut(f32) -> bool) -> Result<f32> {
    let mut size = start;
    while !fits(size) {
        if size <= 13.0 {
            bail!("{name}: the planted secrets do not fit even at 13 px");
        }
        size -= 1.0;
    }
    Ok(size)
}

fn editor(fonts: &Fonts, rng: &mut StdRng, index: usize, dark: bool, plants: &[Plant]) -> Result<Sheet> {
    let theme = ordinary::theme(rng, "editor", dark);
    let pal = theme.palette;
    let (w, h) = *one(rng, &SIZES);
    let syntax = *one(rng, &Syntax::ALL);
    let (file, kind, source) = syntax.file();
    // Monospace mostly; some people write in a proportional font.
    let face = match rng.gen_bool(0.15) {
        true => *one(rng, &[Face::Sans, Face::LiberationSans]),
        false => *one(rng, &[Face::SansMono, Face::LiberationMono]),
    };
    let mut planter = Planter {
        rng: &mut *rng,
        palette: pal,
        secrets: Vec::new(),
    };
    let groups: Vec<Vec<Line>> = plants
        .iter()
        .map(|&p| placement::editor(&mut planter, syntax, p))
        .collect();
    let secrets = planter.secrets;
    let (tabs_h, status_h) = (34.0, 24.0);
    let mut content = Block {
        x: 0.0,
        top: tabs_h + 6.0,
        width: 0.0,
        face,
        size: 0.0,
        line_height: 0.0,
        wrap: Wrap::Words,
        numbers: None,
        cursor: None,
        lines: Vec::new(),
    };
    let measure = |content: &mut Block, size: f32| {
        let gutter = fonts.width(face, size, "000") + 24.0;
        content.size = size;
        content.line_height = (size * 1.45).round();
        content.numbers = Some((gutter, pal.muted));
        content.x = gutter + 16.0;
        content.width = w as f32 - content.x - 20.0;
        let capacity = ((h as f32 - status_h - 4.0 - content.top) / content.line_height) as usize;
        let planted: usize = groups.iter().flatten().map(|l| fonts.rows(content, l)).sum();
        (capacity, planted)
    };
    let start = f32::from(rng.gen_range(13u8..=22));
    let size = shrink_to_fit(file, start, |size| {
        let (capacity, planted) = measure(&mut content, size);
        planted + 2 <= capacity
    })?;
    let (capacity, mut used) = measure(&mut content, size);
    let pool: Vec<&str> = source.lines().collect();
    let mut filler = Vec::new();
    let mut at = rng.gen_range(0..pool.len());
    while filler.len() < 200 {
        let line = syntax.highlight(pool[at % pool.len()], pal);
        let rows = fonts.rows(&content, &line);
        if used + rows > capacity {
            break;
        }
        used += rows;
        filler.push(vec![line]);
        at += 1;
    }
    content.lines = interleave(rng, filler, groups);

    let mut sheet = sheet(index, Look::Editor, &theme, face, size, (w, h));
    let (wf, hf) = (w as f32, h as f32);
    let highlighted = rng.gen_range(0..(capacity / 2).max(1)) as f32;
    sheet.shapes = vec![
        fill(
            0.0,
            content.top + highlighted * content.line_height,
            wf,
            content.line_height,
            theme.panel,
        ),
        fill(0.0, 0.0, wf, tabs_h, theme.panel),
        fill(0.0, 0.0, 150.0, tabs_h, theme.background),
        fill(wf - 12.0, content.top, 8.0, hf / 3.0, theme.border),
        fill(0.0, hf - status_h, wf, status_h, theme.accent),
    ];
    let ui = *one(rng, &[Face::Sans, Face::LiberationSans]);
    let white = [255, 255, 255];
    sheet.blocks = vec![
        label(16.0, 0.0, ui, 13.0, tabs_h, vec![Part::plain(file, pal.text)]),
        label(
            166.0,
            0.0,
            ui,
            13.0,
            tabs_h,
            vec![Part::plain("README.md", pal.muted)],
        ),
        label(
            282.0,
            0.0,
            ui,
            13.0,
            tabs_h,
            vec![Part::plain("deploy.sh", pal.muted)],
        ),
        content,
    ];
    let line = rng.gen_range(1..40);
    let status = format!("main   Ln {line}, Col 1   Spaces: 4   UTF-8   LF   {kind}");
    sheet.blocks.push(label(
        12.0,
        hf - status_h,
        ui,
        13.0,
        status_h,
        vec![Part::plain(&status, white)],
    ));
    sheet.secrets = secrets;
    Ok(sheet)
}

fn terminal(fonts: &Fonts, rng: &mut StdRng, index: usize, dark: bool, plants: &[Plant]) -> Result<Sheet> {
    let theme = ordinary::theme(rng, "terminal", dark);
    let pal = theme.palette;
    let (w, h) = *one(rng, &SIZES);
    let face = *one(rng, &[Face::SansMono, Face::LiberationMono]);
    let user = format!(
        "{}@{}",
        one(rng, &["dev", "priya", "tom"]),
        one(rng, &["buildbox", "laptop", "web-01"])
    );
    let dir = *one(rng, &["~/shop", "~/src/orders", "~"]);
    let prompt = |command: Line| {
        let mut line = vec![
            Part::plain(&user, pal.key),
            Part::plain(":", pal.text),
            Part::plain(dir, pal.string),
            Part::plain("$ ", pal.text),
        ];
        line.extend(command);
        line
    };
    let mut planter = Planter {
        rng: &mut *rng,
        palette: pal,
        secrets: Vec::new(),
    };
    let mut groups = Vec::new();
    for &plant in plants {
        let (command, output) = placement::terminal(&mut planter, plant);
        let mut group = vec![prompt(command)];
        group.extend(output);
        groups.push(group);
    }
    let secrets = planter.secrets;
    let title_h = 30.0;
    let mut content = Block {
        x: 10.0,
        top: title_h + 6.0,
        width: w as f32 - 20.0,
        face,
        size: 0.0,
        line_height: 0.0,
        wrap: Wrap::Chars,
        numbers: None,
        cursor: Some(pal.text),
        lines: Vec::new(),
    };
    let measure = |content: &mut Block, size: f32| {
        content.size = size;
        content.line_height = (size * 1.3).round();
        let capacity = ((h as f32 - 8.0 - content.top) / content.line_height) as usize;
        let planted: usize = groups.iter().flatten().map(|l| fonts.rows(content, l)).sum();
        (capacity, planted)
    };
    let start = f32::from(rng.gen_range(13u8..=22));
    let size = shrink_to_fit("terminal", start, |size| {
        let (capacity, planted) = measure(&mut content, size);
        planted < capacity
    })?;
    // The last row is the prompt waiting for the next command.
    let (capacity, mut used) = measure(&mut content, size);
    used += 1;
    let mut filler = Vec::new();
    for _ in 0..12 {
        let (text, output) = ordinary::command(rng);
        let mut group = vec![prompt(vec![Part::plain(&text, pal.text)])];
        group.extend(output.iter().map(|o| vec![Part::plain(o, pal.text)]));
        let rows: usize = group.iter().map(|l| fonts.rows(&content, l)).sum();
        if used + rows <= capacity {
            used += rows;
            filler.push(group);
        }
    }
    let mut lines = interleave(rng, filler, groups);
    lines.push(prompt(Vec::new()));
    content.lines = lines;

    let mut sheet = sheet(index, Look::Terminal, &theme, face, size, (w, h));
    let wf = w as f32;
    sheet.shapes = vec![fill(0.0, 0.0, wf, title_h, theme.panel)];
    let ui = *one(rng, &[Face::Sans, Face::LiberationSans]);
    let title = format!("{user}: {dir}");
    let title_x = (wf - fonts.width(ui, 13.0, &title)) / 2.0;
    sheet.blocks = vec![
        label(
            title_x,
            0.0,
            ui,
            13.0,
            title_h,
            vec![Part::plain(&title, pal.text)],
        ),
        content,
    ];
    sheet.secrets = secrets;
    Ok(sheet)
}

fn form(fonts: &Fonts, rng: &mut StdRng, index: usize, dark: bool, plants: &[Plant]) -> Result<Sheet> {
    let theme = ordinary::theme(rng, "form", dark);
    let pal = theme.palette;
    let (w, h) = *one(rng, &SIZES);
    let (wf, hf) = (w as f32, h as f32);
    let face = *one(
        rng,
        &[
            Face::Sans,
            Face::LiberationSans,
            Face::Serif,
            Face::LiberationSerif,
        ],
    );
    let (title, button) = *one(rng, ordinary::FORMS);
    let mut planter = Planter {
        rng: &mut *rng,
        palette: pal,
        secrets: Vec::new(),
    };
    let mut fields: Vec<Field> = plants.iter().map(|&p| placement::form(&mut planter, p)).collect();
    let secrets = planter.secrets;
    let planted = fields.len();
    let mut others: Vec<&(&str, &[&str])> = ordinary::FIELDS.iter().collect();
    others.shuffle(rng);
    for (name, values) in others {
        let value = one(rng, values);
        fields.push(Field {
            label: Part::plain(name, pal.text),
            value: Part::plain(value, pal.text),
        });
    }
    let beside = rng.gen_bool(0.5);
    let (nav_h, margin) = (56.0, 48.0);
    // At one size: the label column's and the boxes' widths, the boxes'
    // height, the step from field to field, where the first one starts,
    // and whether label and box fit side by side.
    let geometry = |size: f32, beside: bool| {
        let widest = |parts: &mut dyn Iterator<Item = &Part>| {
            parts
                .map(|p| {
                    fonts
                        .width(face, size, &p.text)
                        .max(fonts.width(face, size, &p.clean))
                })
                .fold(0.0, f32::max)
        };
        let label_w = if beside {
            widest(&mut fields.iter().map(|f| &f.label)) + 24.0
        } else {
            0.0
        };
        let value_w = widest(&mut fields.iter().map(|f| &f.value)) + 32.0;
        let box_h = (size * 2.3).round();
        let step = if beside {
            box_h + 14.0
        } else {
            (size * 1.5).round() + box_h + 18.0
        };
        let top = nav_h + 24.0 + (size * 2.4).round() + (size * 1.6).round() + 16.0;
        let fits_across = margin + label_w + value_w <= wf - margin;
        (
            label_w,
            value_w.max(280.0).min(wf - 2.0 * margin - label_w),
            box_h,
            step,
            top,
            fits_across,
        )
    };
    let fits = |size: f32, beside: bool| {
        let (_, _, box_h, step, top, across) = geometry(size, beside);
        across && top + step * planted as f32 + box_h + 24.0 + (size * 1.6) <= hf - 12.0
    };
    let start = f32::from(rng.gen_range(13u8..=22));
    let size = shrink_to_fit(title, start, |size| fits(size, beside) || fits(size, !beside))?;
    let beside = if fits(size, beside) { beside } else { !beside };
    let (label_w, box_w, box_h, step, top, _) = geometry(size, beside);
    let room = ((hf - 12.0 - top - box_h - 24.0 - size * 1.6) / step) as usize;
    fields.truncate(room.max(planted));
    fields[..].shuffle(rng);

    let mut sheet = sheet(index, Look::Form, &theme, face, size, (w, h));
    let [r, g, b] = theme.panel.map(u32::from);
    let nav_text = if r * 3 + g * 6 + b < 1280 {
        [240, 240, 240]
    } else {
        pal.text
    };
    sheet.shapes.push(fill(0.0, 0.0, wf, nav_h, theme.panel));
    let site = *one(rng, &["Northwind", "Contoso Cloud", "Fabrikam Pay"]);
    let mut blocks = vec![label(
        24.0,
        0.0,
        face,
        size + 3.0,
        nav_h,
        vec![Part::plain(site, nav_text)],
    )];
    let mut x = 40.0 + fonts.width(face, size + 3.0, site);
    for item in ["Dashboard", "Orders", "Customers", "Settings"] {
        if x + fonts.width(face, size, item) < wf - 24.0 {
            blocks.push(label(
                x,
                0.0,
                face,
                size,
                nav_h,
                vec![Part::plain(item, nav_text)],
            ));
        }
        x += fonts.width(face, size, item) + 28.0;
    }
    let mut y = nav_h + 24.0;
    let title_size = (size * 1.6).round();
    blocks.push(label(
        margin,
        y,
        face,
        title_size,
        (size * 2.4).round(),
        vec![Part::plain(title, pal.text)],
    ));
    y += (size * 2.4).round();
    let help = *one(rng, ordinary::HELP);
    blocks.push(label(
        margin,
        y,
        face,
        size,
        (size * 1.6).round(),
        vec![Part::plain(help, pal.muted)],
    ));
    y = top;
    for field in fields {
        let label_h = if beside { box_h } else { (size * 1.5).round() };
        let box_x = margin + label_w;
        let box_y = if beside { y } else { y + label_h };
        blocks.push(label(margin, y, face, size, label_h, vec![field.label]));
        sheet.shapes.push(fill(box_x, box_y, box_w, box_h, theme.field));
        sheet.shapes.push(Shape::Outline {
            x: box_x as i32,
            y: box_y as i32,
            w: box_w as i32,
            h: box_h as i32,
            color: theme.border,
        });
        blocks.push(label(box_x + 12.0, box_y, face, size, box_h, vec![field.value]));
        y += step;
    }
    let button_w = fonts.width(face, size, button) + 48.0;
    sheet
        .shapes
        .push(fill(margin + label_w, y + 6.0, button_w, box_h, theme.accent));
    let white = [255, 255, 255];
    blocks.push(label(
        margin + label_w + 24.0,
        y + 6.0,
        face,
        size,
        box_h,
        vec![Part::plain(button, white)],
    ));
    sheet.blocks = blocks;
    sheet.secrets = secrets;
    Ok(sheet)
}
