//! The planted secrets: values made at random but valid for their format
//! (Luhn, ISO 13616 mod-97 and the French RIB key, GitHub's CRC32, real
//! JSON inside a JWT), and ordinary words of about the same length to
//! take their place on the clean twin.

use super::render::{Line, Palette, Part};
use rand::rngs::StdRng;
use rand::Rng;
use sightline_client::redaction::Category;
use Plant::*;

const DIGITS: &[u8] = b"0123456789";
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const PASSWORD: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%*+-?";
/// GitHub's checksum alphabet (the `base62` crate's).
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Words for decoys and passphrases: plain, lower case, nothing a rule
/// should take for a secret.
const WORDS: &[&str] = &[
    "notes", "meeting", "draft", "review", "monday", "harbour", "garden", "yellow", "planning", "summary",
    "budget", "travel", "kitchen", "library", "window", "morning", "orders", "weekly", "report", "shared",
    "folder", "team", "coffee", "design", "update", "river", "station", "winter", "market", "letter",
    "simple", "quiet", "green", "follow", "later", "north", "paper", "table", "music", "friday", "office",
    "project", "status", "customer", "support", "invoice", "archive", "copper", "lantern", "meadow",
];
const FIRST: &[&str] = &[
    "priya", "tom", "lena", "marco", "aisha", "jonas", "mei", "oliver", "sofia", "david",
];
const LAST: &[&str] = &[
    "nair", "baker", "fischer", "rossi", "khan", "berg", "chen", "hughes", "garcia", "levy",
];
const DOMAINS: &[&str] = &["example.org", "example.com", "northwind.dev", "mail.example.net"];

/// A kind of secret as it is planted; several kinds share a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plant {
    RsaKey,
    OpenSshKey,
    AwsKeyId,
    AwsSecret,
    GithubClassic,
    GithubFine,
    Gitlab,
    Slack,
    Jwt,
    Google,
    Password,
    DbPassword,
    Bearer,
    ConnectionString,
    ApiTokenField,
    Card(Brand),
    Iban(Country),
    HighEntropy,
    Email,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Brand {
    Visa,
    Mastercard,
    Amex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Country {
    De,
    Gb,
    Fr,
    Nl,
}

impl Plant {
    pub fn category(self) -> Category {
        match self {
            RsaKey | OpenSshKey => Category::PrivateKey,
            AwsKeyId | AwsSecret | GithubClassic | GithubFine | Gitlab | Slack | Jwt | Google => {
                Category::Token
            }
            Password | DbPassword | Bearer | ConnectionString | ApiTokenField => Category::Password,
            Card(_) => Category::CardNumber,
            Iban(_) => Category::Iban,
            HighEntropy => Category::HighEntropy,
            Email => Category::Email,
            Phone => Category::Phone,
        }
    }
}

/// Makes secrets and remembers them, numbered, for one screen.
pub(crate) struct Planter<'a> {
    pub rng: &'a mut StdRng,
    pub palette: Palette,
    pub secrets: Vec<(Category, String)>,
}

impl Planter<'_> {
    pub fn one<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.gen_range(0..items.len())]
    }

    fn pick(&mut self, set: &[u8], n: usize) -> String {
        (0..n).map(|_| char::from(self.one(set))).collect()
    }

    /// Ordinary words about `len` characters long.
    pub fn decoy(&mut self, len: usize, joiner: char) -> String {
        let mut out = String::from(self.one(WORDS));
        while out.len() + 3 < len {
            out.push(joiner);
            out.push_str(self.one(WORDS));
        }
        out
    }

    /// Plants `text` and returns it as a part, `clean` on the twin.
    pub fn secret(&mut self, plant: Plant, text: &str, clean: &str, color: [u8; 3]) -> Part {
        self.secrets.push((plant.category(), text.to_owned()));
        Part::secret(self.secrets.len() - 1, text, clean, color)
    }

    /// A planted value in `color`, with words of the same length on the
    /// twin joined by `joiner`.
    pub fn planted(&mut self, plant: Plant, joiner: char, color: [u8; 3]) -> Part {
        let value = self.value(plant);
        let clean = self.decoy(value.len(), joiner);
        self.secret(plant, &value, &clean, color)
    }

    pub fn value(&mut self, plant: Plant) -> String {
        match plant {
            AwsKeyId => format!("AKIA{}", self.pick(BASE32, 16)),
            AwsSecret => self.pick(BASE64, 40),
            GithubClassic => {
                let random = self.pick(ALNUM, 30);
                let mut crc = u64::from(crc32fast::hash(random.as_bytes()));
                let mut checksum = [b'0'; 6];
                for digit in checksum.iter_mut().rev() {
                    *digit = BASE62[(crc % 62) as usize];
                    crc /= 62;
                }
                format!("ghp_{random}{}", String::from_utf8_lossy(&checksum))
            }
            GithubFine => format!("github_pat_{}_{}", self.pick(ALNUM, 22), self.pick(ALNUM, 59)),
            Gitlab => format!("glpat-{}", self.pick(URL_SAFE, 20)),
            Slack => {
                let team = self.rng.gen_range(10..=12);
                format!(
                    "xoxb-{}-{}-{}",
                    self.pick(DIGITS, team),
                    self.pick(DIGITS, 13),
                    self.pick(ALNUM, 24)
                )
            }
            Jwt => self.jwt(),
            Google => format!("AIza{}", self.pick(URL_SAFE, 35)),
            Password | DbPassword => self.password(),
            ConnectionString => self.pick(ALNUM, 16),
            Bearer => self.pick(ALNUM, 40),
            ApiTokenField => self.pick(ALNUM, 32),
            Card(brand) => self.card(brand),
            Iban(country) => self.iban(country),
            HighEntropy => {
                let len = self.rng.gen_range(32..=48);
                self.pick(BASE64, len)
            }
            Email => {
                let (first, last, domain) = (self.one(FIRST), self.one(LAST), self.one(DOMAINS));
                format!("{first}.{last}@{domain}")
            }
            Phone => self.phone(),
            RsaKey | OpenSshKey => self.key_lines(plant).join("\n"),
        }
    }

    /// Three ways people choose passwords: a word dressed up, random
    /// characters, and a passphrase (only its context tells it apart).
    fn password(&mut self) -> String {
        match self.rng.gen_range(0..3) {
            0 => {
                let word = self.one(WORDS);
                let symbol = char::from(self.one(b"!#%*?"));
                let digits = self.pick(DIGITS, 4);
                format!("{}{}{symbol}{digits}", word[..1].to_uppercase(), &word[1..])
            }
            1 => {
                let len = self.rng.gen_range(12..=18);
                self.pick(PASSWORD, len)
            }
            _ => {
                let words = [self.one(WORDS), self.one(WORDS), self.one(WORDS)];
                format!("{}-{}-{}{}", words[0], words[1], words[2], self.pick(DIGITS, 2))
            }
        }
    }

    fn jwt(&mut self) -> String {
        let engine = data_encoding::BASE64URL_NOPAD;
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let issued = self.rng.gen_range(1_700_000_000u64..1_760_000_000);
        let subject = self.rng.gen_range(1000..99999);
        let role = self.one(&["admin", "reader", "billing", "deploy"]);
        let payload = format!(
            r#"{{"sub":"user-{subject}","role":"{role}","iat":{issued},"exp":{}}}"#,
            issued + 3600
        );
        let signature: Vec<u8> = (0..32).map(|_| self.rng.gen()).collect();
        format!(
            "{}.{}.{}",
            engine.encode(header.as_bytes()),
            engine.encode(payload.as_bytes()),
            engine.encode(&signature)
        )
    }

    /// A Luhn-valid number, grouped as printed on the card.
    fn card(&mut self, brand: Brand) -> String {
        let (prefix, len, groups): (String, usize, &[usize]) = match brand {
            Brand::Visa => ("4".into(), 16, &[4, 4, 4, 4]),
            Brand::Mastercard => (format!("5{}", self.rng.gen_range(1..=5)), 16, &[4, 4, 4, 4]),
            Brand::Amex => (self.one(&["34", "37"]).to_string(), 15, &[4, 6, 5]),
        };
        let mut digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
        while digits.len() < len - 1 {
            digits.push(self.rng.gen_range(0..10));
        }
        // The check digit will be rightmost, so the payload's rightmost
        // digit is the first one doubled.
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                if i % 2 == 0 {
                    (d * 2) / 10 + (d * 2) % 10
                } else {
                    d
                }
            })
            .sum();
        digits.push((10 - sum % 10) % 10);
        let text: String = digits.iter().filter_map(|&d| char::from_digit(d, 10)).collect();
        let mut out = Vec::new();
        let mut at = 0;
        for group in groups {
            out.push(&text[at..at + group]);
            at += group;
        }
        out.join(" ")
    }

    /// An IBAN in the registry's format for its country, with valid check
    /// digits, printed in groups of four.
    fn iban(&mut self, country: Country) -> String {
        let (code, bban) = match country {
            Country::De => ("DE", self.pick(DIGITS, 18)),
            Country::Gb => {
                let bank = self.one(&["NWBK", "BARC", "LOYD", "HBUK", "MIDL"]);
                ("GB", format!("{bank}{}", self.pick(DIGITS, 14)))
            }
            Country::Fr => {
                let (bank, branch, account) =
                    (self.pick(DIGITS, 5), self.pick(DIGITS, 5), self.pick(DIGITS, 11));
                let number = |s: &str| s.parse::<u64>().unwrap_or(0) % 97;
                let key = 97 - (89 * number(&bank) + 15 * number(&branch) + 3 * number(&account)) % 97;
                ("FR", format!("{bank}{branch}{account}{key:02}"))
            }
            Country::Nl => {
                let bank = self.one(&["ABNA", "INGB", "RABO", "TRIO"]);
                ("NL", format!("{bank}{}", self.pick(DIGITS, 10)))
            }
        };
        let check = 98 - mod97(&format!("{bban}{code}00"));
        let iban: Vec<char> = format!("{code}{check:02}{bban}").chars().collect();
        iban.chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn phone(&mut self) -> String {
        match self.rng.gen_range(0..4) {
            0 => format!("+44 20 7946 0{}", self.pick(DIGITS, 3)),
            1 => format!("+1 415 555 01{}", self.pick(DIGITS, 2)),
            2 => format!("+49 30 {} {}", self.pick(DIGITS, 4), self.pick(DIGITS, 4)),
            _ => format!("+31 20 {} {}", self.pick(DIGITS, 3), self.pick(DIGITS, 4)),
        }
    }

    /// The base64 lines of a private key, as its PEM file wraps them.
    fn key_lines(&mut self, plant: Plant) -> Vec<String> {
        let (start, width) = match plant {
            OpenSshKey => (
                "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
                70,
            ),
            _ => ("MIIEpAIBAAKCAQEA", 64),
        };
        let count = self.rng.gen_range(3..=5);
        let mut lines = vec![format!("{start}{}", self.pick(BASE64, width - start.len()))];
        for _ in 2..count {
            lines.push(self.pick(BASE64, width));
        }
        let last = self.rng.gen_range(16..width - 4);
        lines.push(format!("{}==", self.pick(BASE64, last)));
        lines
    }

    /// A private key block: BEGIN and END lines as context, the base64
    /// lines as the secret; the twin shows ordinary lines instead.
    pub fn key_block(&mut self, plant: Plant, indent: &str, color: [u8; 3]) -> Vec<Line> {
        let kind = if plant == OpenSshKey { "OPENSSH" } else { "RSA" };
        let body = self.key_lines(plant);
        self.secrets.push((plant.category(), body.join("\n")));
        let id = self.secrets.len() - 1;
        let mut lines = vec![vec![Part::context(
            &format!("{indent}-----BEGIN {kind} PRIVATE KEY-----"),
            &format!("{indent}Host buildbox.internal"),
            color,
        )]];
        for text in &body {
            let clean = self.decoy(text.len(), ' ');
            lines.push(vec![
                Part::plain(indent, color),
                Part::secret(id, text, &clean, color),
            ]);
        }
        lines.push(vec![Part::context(
            &format!("{indent}-----END {kind} PRIVATE KEY-----"),
            &format!("{indent}User deploy"),
            color,
        )]);
        lines
    }
}

/// The remainder of a decimal string (letters counting 10 to 35) by 97.
fn mod97(text: &str) -> u32 {
    text.chars().fold(0, |rest, c| match c.to_digit(36) {
        Some(value) if value >= 10 => (rest * 100 + value) % 97,
        Some(value) => (rest * 10 + value) % 97,
        None => rest,
    })
}
