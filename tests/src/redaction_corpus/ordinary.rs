//! The ordinary side of the screens: the themes' colours, and the text
//! around the secrets (source files, commands and what they print, form
//! fields) that redaction must leave readable.

use super::render::{Line, Palette, Part, Rgb};
use rand::rngs::StdRng;
use rand::Rng;

pub(crate) const SIZES: [(u32, u32); 4] = [(800, 600), (1024, 768), (1152, 720), (1280, 800)];

pub(crate) fn one<'t, T>(rng: &mut StdRng, items: &'t [T]) -> &'t T {
    &items[rng.gen_range(0..items.len())]
}

pub(crate) struct Theme {
    pub name: &'static str,
    pub dark: bool,
    pub background: Rgb,
    /// Tab bars, title bars, navigation.
    pub panel: Rgb,
    pub border: Rgb,
    /// Inside an input box.
    pub field: Rgb,
    /// Status bar, buttons.
    pub accent: Rgb,
    pub palette: Palette,
}

/// Look, name, dark or light, then background, panel, border, field,
/// accent; text, muted, key, string, keyword. Editors after VS Code's,
/// Solarized and GitHub's themes, terminals after GNOME Terminal's.
const THEMES: &str = "\
editor   light           light FFFFFF F3F3F3 D0D0D0 FFFFFF 007ACC 24292E 6A737D 005CC5 032F62 D73A49
editor   solarized-light light FDF6E3 EEE8D5 93A1A1 FDF6E3 268BD2 586E75 93A1A1 268BD2 2AA198 859900
editor   dark            dark  1E1E1E 252526 3C3C3C 2D2D2D 007ACC D4D4D4 858585 9CDCFE CE9178 569CD6
editor   solarized-dark  dark  002B36 073642 586E75 073642 268BD2 93A1A1 586E75 268BD2 2AA198 859900
editor   github-dark     dark  0D1117 161B22 30363D 0D1117 1F6FEB C9D1D9 8B949E 79C0FF A5D6FF FF7B72
terminal light           light FFFFFF E8E8E7 C0C0C0 FFFFFF 3465A4 2E3436 75787B 4E9A06 3465A4 CC0000
terminal dark            dark  1C1C1C 2D2D2D 444444 1C1C1C 3465A4 D0D0D0 8A8A8A 8AE234 729FCF EF2929
terminal ubuntu          dark  300A24 3C3B37 5E2750 300A24 E95420 FFFFFF AAAAAA 8AE234 729FCF EF2929
terminal solarized-dark  dark  002B36 073642 586E75 002B36 268BD2 93A1A1 657B83 859900 268BD2 DC322F
form     light           light FFFFFF F6F8FA D0D7DE FFFFFF 1F883D 1F2328 656D76 1F2328 1F2328 0969DA
form     paper           light F7F7F2 2F3E46 B8B8AA FFFFFF 2F6690 222222 6B6B6B 222222 333333 2F6690
form     dark            dark  0D1117 161B22 30363D 010409 238636 E6EDF3 8D96A0 E6EDF3 E6EDF3 4493F8
form     slate           dark  1E293B 0F172A 475569 0F172A 3B82F6 E2E8F0 94A3B8 E2E8F0 F1F5F9 60A5FA";

/// One of the themes for `look` (as [`super::render::Look::name`] says it).
pub(crate) fn theme(rng: &mut StdRng, look: &str, dark: bool) -> Theme {
    let rows: Vec<Vec<&'static str>> = THEMES
        .lines()
        .map(|row| row.split_whitespace().collect::<Vec<_>>())
        .filter(|row| row.len() == 13 && row[0] == look && (row[2] == "dark") == dark)
        .collect();
    let row = one(rng, &rows);
    let c = |i: usize| {
        let hex = u32::from_str_radix(row[i], 16).unwrap_or(0);
        [(hex >> 16) as u8, (hex >> 8) as u8, hex as u8]
    };
    Theme {
        name: row[1],
        dark,
        background: c(3),
        panel: c(4),
        border: c(5),
        field: c(6),
        accent: c(7),
        palette: Palette {
            text: c(8),
            muted: c(9),
            key: c(10),
            string: c(11),
            keyword: c(12),
        },
    }
}

/// Source files an editor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    Env,
    Yaml,
    Toml,
    Python,
    Rust,
}

impl Syntax {
    pub const ALL: [Syntax; 5] = [
        Syntax::Env,
        Syntax::Yaml,
        Syntax::Toml,
        Syntax::Python,
        Syntax::Rust,
    ];

    /// The file's name, its type in the status bar, and its usual lines.
    pub fn file(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Syntax::Env => (".env", "Properties", ENV),
            Syntax::Yaml => ("config.yaml", "YAML", YAML),
            Syntax::Toml => ("settings.toml", "TOML", TOML),
            Syntax::Python => ("settings.py", "Python", PYTHON),
            Syntax::Rust => ("main.rs", "Rust", RUST),
        }
    }

    pub fn comment(self) -> &'static str {
        match self {
            Syntax::Rust => "// ",
            _ => "# ",
        }
    }

    /// Whether names are upper case (`DB_PASSWORD`) in this syntax.
    pub fn shouts(self) -> bool {
        matches!(self, Syntax::Env | Syntax::Python | Syntax::Rust)
    }

    /// A line of the file, coloured as an editor would.
    pub fn highlight(self, line: &str, palette: Palette) -> Line {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with("//") {
            return vec![Part::plain(line, palette.muted)];
        }
        let separator = match self {
            Syntax::Env | Syntax::Toml => Some('='),
            Syntax::Yaml => Some(':'),
            Syntax::Python | Syntax::Rust => None,
        };
        if let Some(at) = separator.and_then(|s| line.find(s)) {
            return vec![
                Part::plain(&line[..at], palette.key),
                Part::plain(&line[at..], palette.string),
            ];
        }
        let mut parts = Vec::new();
        for (i, token) in line.split(' ').enumerate() {
            if i > 0 {
                parts.push(Part::plain(" ", palette.text));
            }
            let color = match token {
                t if KEYWORDS.contains(&t) => palette.keyword,
                t if t.starts_with('"') || t.starts_with("(\"") => palette.string,
                _ => palette.text,
            };
            parts.push(Part::plain(token, color));
        }
        parts
    }
}

const ENV: &str = r#"# Application
APP_NAME=orders-service
APP_ENV=production
LOG_LEVEL=info
PORT=8080
HOST=0.0.0.0
CACHE_TTL_SECONDS=300
MAX_UPLOAD_MB=25

# Keep in sync with deploy/values.yaml
FEATURE_EXPORTS=true
REDIS_HOST=cache.internal
REDIS_PORT=6379
SMTP_HOST=smtp.mailgun.org
SMTP_PORT=587
MAIL_FROM_NAME="Northwind Orders"
QUEUE_WORKERS=4
TIMEZONE=Europe/London
RELEASE=v2.14.3
BUILD_DATE=2024-05-02"#;
const YAML: &str = r#"# Service configuration
service:
  name: orders
  port: 8443
  workers: 4
  timeout_seconds: 30
logging:
  level: info
  format: json
  file: /var/log/orders/app.log
database:
  host: db.internal
  port: 5432
  pool_size: 20
  name: orders
cache:
  backend: redis
  ttl: 300
features:
  exports: true
  search: false
release: v2.14.3
updated: 2024-05-02"#;
const TOML: &str = r#"[package]
name = "orders"
version = "0.3.1"
edition = "2021"

[server]
host = "0.0.0.0"
port = 8443
workers = 4
# Requests slower than this are logged
slow_request_ms = 750

[logging]
level = "info"
format = "json"
path = "/var/log/orders"

[retry]
attempts = 3
backoff_ms = 200"#;
const PYTHON: &str = r#"import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEBUG = False
ALLOWED_HOSTS = ["orders.northwind.dev", "localhost"]
TIME_ZONE = "Europe/London"
LANGUAGE_CODE = "en-gb"

def load_settings(path):
    with open(path) as handle:
        return handle.read()

# Uploads larger than this are refused
MAX_UPLOAD_MB = 25
CACHE_TTL = 300
INSTALLED_APPS = ["orders", "billing", "reports"]"#;
const RUST: &str = r#"use std::collections::HashMap;
use std::time::Duration;

const MAX_RETRIES: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let items = load_items("orders.csv");
    let total = items.len();
    println!("loaded {total} items");
    let mut by_region: HashMap<String, usize> = HashMap::new();
    for item in &items {
        *by_region.entry(item.region.clone()).or_default() += 1;
    }
}

// Reads one order per line; blank lines are skipped
fn load_items(path: &str) -> Vec<Item> {
    Vec::new()
}"#;
const KEYWORDS: &[&str] = &[
    "use", "const", "fn", "let", "mut", "for", "in", "import", "from", "def", "with", "as", "return", "pub",
];

/// Commands and what they print; `{hash}` is a short commit hash,
/// `{time}` a time of day, `{n}` a number, `{commit}` a commit message.
const COMMANDS: &str = r#"$ git status
On branch main
Your branch is up to date with 'origin/main'.
Changes not staged for commit:
        modified:   src/orders.rs
        modified:   Cargo.toml
$ cargo build --release
   Compiling orders v0.{n}.{n} (/home/dev/shop/orders)
    Finished `release` profile [optimized] target(s) in {n}.{n}s
$ git log --oneline -4
{hash} {commit}
{hash} {commit}
{hash} {commit}
{hash} {commit}
$ ls -la
total 48
drwxr-xr-x  5 dev dev 4096 May 14 09:14 src
-rw-r--r--  1 dev dev 1830 May 14 09:02 Cargo.toml
-rw-r--r--  1 dev dev  912 Apr 30 17:45 README.md
$ tail -n 3 logs/app.log
2024-05-14 {time} INFO  worker started pid={n}
2024-05-14 {time} INFO  GET /api/orders 200 in {n} ms
2024-05-14 {time} WARN  slow query on orders_by_region
$ df -h /
Filesystem      Size  Used Avail Use% Mounted on
/dev/nvme0n1p2  468G  {n}G  {n}G  {n}% /
$ kubectl get pods -n shop
NAME                          READY   STATUS    RESTARTS   AGE
orders-{hash}-x7k2p       1/1     Running   0          {n}h
billing-{hash}-q9m4d      1/1     Running   1          {n}d
$ npm test
> shop-web@1.8.2 test
  {n} passing ({n}s)"#;
const COMMITS: &[&str] = &[
    "Fix flaky retry test",
    "Add CSV export for invoices",
    "Bump serde to 1.0.203",
    "Refactor order totals",
    "Update README with setup steps",
    "Handle empty carts at checkout",
];

/// An ordinary command and what it printed.
pub(crate) fn command(rng: &mut StdRng) -> (String, Vec<String>) {
    let blocks: Vec<&str> = COMMANDS.split("$ ").filter(|b| !b.is_empty()).collect();
    let mut lines = one(rng, &blocks).lines().map(|line| {
        let mut out = line.to_owned();
        while let Some(at) = out.find('{') {
            let end = out[at..].find('}').map_or(out.len(), |e| at + e + 1);
            let value = match &out[at..end] {
                "{hash}" => format!("{:07x}", rng.gen_range(0..0x1000_0000u32)),
                "{time}" => format!(
                    "{:02}:{:02}:{:02}",
                    rng.gen_range(7..19),
                    rng.gen_range(0..60),
                    rng.gen_range(0..60)
                ),
                "{commit}" => one(rng, COMMITS).to_string(),
                _ => rng.gen_range(2..99).to_string(),
            };
            out.replace_range(at..end, &value);
        }
        out
    });
    let command = lines.next().unwrap_or_default();
    (command, lines.collect())
}

/// Forms: the title and the button.
pub(crate) const FORMS: &[(&str, &str)] = &[
    ("Billing details", "Pay now"),
    ("Account settings", "Save changes"),
    ("Payout method", "Save payout method"),
    ("Developer settings", "Generate token"),
    ("Create your account", "Create account"),
];
/// Form fields with nothing secret, and values for them.
pub(crate) const FIELDS: &[(&str, &[&str])] = &[
    (
        "Full name",
        &[
            "Priya Nair",
            "Tom Baker",
            "Lena Fischer",
            "Marco Rossi",
            "Jonas Berg",
        ],
    ),
    ("Company", &["Northwind Traders", "Contoso Ltd", "Fabrikam Inc"]),
    (
        "Street address",
        &["12 Harbour Lane", "221 Baker Street", "8 Mill Road"],
    ),
    ("City", &["Leeds", "Bristol", "Utrecht", "Lyon"]),
    ("Postcode", &["LS1 4AP", "BS1 5TR", "3511 AB"]),
    ("Country", &["United Kingdom", "Netherlands", "France", "Germany"]),
    ("Expiry date", &["08/27", "11/26", "03/28"]),
    ("Order reference", &["INV-2041", "PO-7781", "INV-1187"]),
    (
        "Website",
        &["https://northwind.example", "https://shop.example.org"],
    ),
    ("Department", &["Finance", "Operations", "Engineering"]),
];
pub(crate) const HELP: &[&str] = &[
    "We never share your details with third parties.",
    "All fields are required unless marked optional.",
    "Changes take effect within five minutes.",
];
