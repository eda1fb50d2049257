//! Judging one value: checksums (Luhn), randomness (Shannon entropy and
//! the mix of characters), what only stands for a secret, and what looks
//! like the continuation of a token that OCR cut.

/// Luhn's checksum over 13 to 19 digits.
pub(super) fn luhn(digits: &[u8]) -> bool {
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            match (i % 2 == 1, d * 2) {
                (true, doubled) if doubled > 9 => doubled - 9,
                (true, doubled) => doubled,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Values that only stand for a secret: `${DB_PASSWORD}`, `<token>`,
/// `****`, `true`, an earlier mask.
pub(super) fn placeholder(value: &str) -> bool {
    let v = value.trim_matches(|c: char| "\"'`“”‘’".contains(c));
    v.starts_with("${")
        || v.starts_with('<')
        || v.starts_with("[redacted")
        || v.chars().all(|c| c == '*' || c == '•' || c == '.')
        || ["true", "false", "null", "none", "required", "optional"]
            .contains(&v.to_ascii_lowercase().as_str())
}

/// A key's alphabet (base64, base64url, hex and the separators tokens use).
pub(super) fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+/=_-.~".contains(c)
}

/// Long strings that look random: 20 or more characters of a key's
/// alphabet mixing upper case, lower case and digits with high Shannon
/// entropy per character, or 32 or more hex digits.
pub(super) fn looks_random(value: &str) -> bool {
    let len = value.chars().count();
    // OCR reads a character now and then as `@` or `%`.
    let odd = value
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || "+/=_-".contains(*c)))
        .count();
    if len < 20 || odd * 10 > len {
        return false;
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let upper = value.chars().filter(char::is_ascii_uppercase).count();
    let lower = value.chars().filter(char::is_ascii_lowercase).count();
    if value.chars().all(|c| c.is_ascii_hexdigit()) {
        return len >= 32 && digits > 0 && entropy(value) >= 3.0;
    }
    // Identifiers (`snake_case_names`, `CONSTANT_NAMES`, `camelCase`) do
    // not mix all three classes and repeat their letters; keys do both.
    digits > 0 && upper > 1 && lower > 1 && entropy(value) >= 3.9
}

/// A piece that continues a token OCR cut with a space: letters mixed
/// with digits, or upper case after lower case inside it (`hNBdbb`,
/// `jW63`, `LtzJq7`, `3ickm&qxp141i`), never a plain word (`region`,
/// `Pacific`).
pub(super) fn continues_token(piece: &str) -> bool {
    let len = piece.chars().count();
    // OCR reads a character of a token now and then as `&` or `é`.
    let odd = piece.chars().filter(|c| !key_char(*c)).count();
    if len < 2 || odd * 10 > len * 3 || piece.starts_with(['(', '#', '"', '\'', '[']) {
        return false;
    }
    let digits = piece.chars().any(|c| c.is_ascii_digit());
    let letters = piece.chars().any(|c| c.is_ascii_alphabetic());
    let camel = piece
        .chars()
        .zip(piece.chars().skip(1))
        .any(|(a, b)| a.is_ascii_lowercase() && b.is_ascii_uppercase());
    (digits && letters) || camel || (digits && piece.len() >= 4)
}

/// Shannon entropy in bits per character.
fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in value.chars() {
        *counts.entry(c).or_insert(0u32) += 1;
    }
    let len = value.chars().count() as f64;
    counts
        .values()
        .map(|&n| {
            let p = f64::from(n) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_strings_but_not_identifiers_or_hashes() {
        for random in [
            "q8Zr4Tk1Lm9XcV2bN7aP0sDf",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "UbHd2K6aPZcL5zix/8iKNwN0NoRty/Xn",
            "07RmeCnMeEGXKfoBaCNB6+mPL",
        ] {
            assert!(looks_random(random), "{random}");
        }
        for ordinary in [
            "CARGO_TARGET_DIR_FOR_RELEASE",
            "x86_64-unknown-linux-gnu",
            "some_long_function_name_here",
            "3f2a9c1",
            "release-2026-11-30-final",
            "loadItemsFromDatabase2",
            "HashMap<String,usize>",
        ] {
            assert!(!looks_random(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn pieces_of_tokens_but_not_words() {
        for piece in [
            "hNBdbb",
            "jW63",
            "LtzJq7NkUkD4VXx",
            "7pAggit",
            "0343",
            "3ickm&qxp141i",
        ] {
            assert!(continues_token(piece), "{piece}");
        }
        for word in ["region", "Pacific", "the", "#", "(weekdays)"] {
            assert!(!continues_token(word), "{word}");
        }
    }

    #[test]
    fn luhn_and_placeholders() {
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(placeholder("${DB_PASSWORD}") && placeholder("\"****\"") && placeholder("true"));
        assert!(!placeholder("hunter2"));
    }
}
