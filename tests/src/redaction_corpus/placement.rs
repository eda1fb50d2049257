//! Where each kind of secret goes on each kind of screen: a line of a
//! source file, a command and what it printed, a field of a form. A
//! label that announces a secret (`DB_PASSWORD=`, "Card number") is
//! ordinary text, but the clean twin says something else there: a value
//! after `password =` is a password whatever it reads.

use super::ordinary::Syntax;
use super::render::{Line, Look, Palette, Part};
use super::secrets::{Brand, Country, Plant, Planter};
use Plant::*;

/// The kinds each look shows. The entropy rule has nothing but the value
/// to go by, so it gets two turns; only a terminal shows a curl command
/// with a bearer token, only a form a bare "API token" field.
pub(crate) fn deck(look: Look) -> Vec<Plant> {
    let mut all = match look {
        Look::Form => vec![
            Password,
            ApiTokenField,
            GithubClassic,
            Gitlab,
            Google,
            Email,
            Phone,
        ],
        Look::Editor | Look::Terminal => vec![
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
            ConnectionString,
            HighEntropy,
            HighEntropy,
            Email,
            Phone,
        ],
    };
    if look == Look::Terminal {
        all.push(Bearer);
    }
    all.extend([Brand::Visa, Brand::Mastercard, Brand::Amex].map(Card));
    all.extend([Country::De, Country::Gb, Country::Fr, Country::Nl].map(Iban));
    all
}

/// A label and a value in a web form.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub label: Part,
    pub value: Part,
}

/// A setting's name as `syntax` writes it (`DB_PASSWORD`, `db_password`).
fn name(syntax: Syntax, key: &str) -> String {
    match syntax.shouts() {
        true => key.to_uppercase(),
        false => key.to_owned(),
    }
}

/// `key = value` as `syntax` writes it, the key swapped for `clean_key`
/// on the twin.
fn assign(syntax: Syntax, palette: Palette, key: &str, clean_key: &str, value: Vec<Part>) -> Line {
    let key = Part::swap(&name(syntax, key), &name(syntax, clean_key), palette.key);
    let spaced = value
        .iter()
        .any(|p| p.text.contains(' ') || p.clean.contains(' '));
    let (before, after) = match syntax {
        Syntax::Env if spaced => ("=\"", "\""),
        Syntax::Env => ("=", ""),
        Syntax::Yaml => (": ", ""),
        Syntax::Toml | Syntax::Python => (" = \"", "\""),
        Syntax::Rust => (": &str = \"", "\";"),
    };
    let mut line = Vec::new();
    if syntax == Syntax::Rust {
        line.push(Part::plain("const ", palette.keyword));
    }
    line.extend([key, Part::plain(before, palette.text)]);
    line.extend(value);
    line.push(Part::plain(after, palette.text));
    line
}

/// How `plant` appears in a source file of `syntax`.
pub(crate) fn editor(p: &mut Planter, syntax: Syntax, plant: Plant) -> Vec<Line> {
    let palette = p.palette;
    let comment = |before: &str, value: Part, after: &str| {
        vec![vec![
            Part::plain(&format!("{}{before}", syntax.comment()), palette.muted),
            value,
            Part::plain(after, palette.muted),
        ]]
    };
    let (key, clean_key) = match plant {
        RsaKey | OpenSshKey => {
            let indent = if syntax == Syntax::Yaml { "  " } else { "" };
            let (open, close) = match syntax {
                Syntax::Env => ("=\"", "\""),
                Syntax::Yaml => (": |", ""),
                Syntax::Toml | Syntax::Python => (" = \"\"\"", "\"\"\""),
                Syntax::Rust => (": &str = \"", "\";"),
            };
            let mut opener = Vec::new();
            if syntax == Syntax::Rust {
                opener.push(Part::plain("const ", palette.keyword));
            }
            let key = Part::swap(
                &name(syntax, "deploy_key"),
                &name(syntax, "deploy_notes"),
                palette.key,
            );
            opener.extend([key, Part::plain(open, palette.text)]);
            let mut lines = vec![opener];
            lines.extend(p.key_block(plant, indent, palette.string));
            lines.push(vec![Part::plain(close, palette.text)]);
            return lines;
        }
        Email => {
            let value = p.planted(Email, ' ', palette.muted);
            return comment("Contact ", value, " for access to staging");
        }
        Phone => {
            let value = p.planted(Phone, ' ', palette.muted);
            return comment("On call: ", value, " (weekdays)");
        }
        AwsKeyId => ("aws_access_key_id", "aws_profile"),
        AwsSecret => ("aws_secret_access_key", "aws_default_output"),
        GithubClassic => ("github_token", "github_org"),
        GithubFine => ("github_deploy_token", "github_deploy_branch"),
        Gitlab => ("gitlab_token", "gitlab_group"),
        Slack => ("slack_bot_token", "slack_channel"),
        Jwt => ("service_jwt", "service_name"),
        Google => ("google_maps_api_key", "google_maps_region"),
        Password => p.one(&[
            ("password", "username"),
            ("smtp_password", "smtp_username"),
            ("admin_password", "admin_username"),
        ]),
        DbPassword | Bearer | ApiTokenField => ("db_password", "db_username"),
        ConnectionString => {
            let user = p.one(&["orders_app", "reporting", "billing"]);
            let password = p.value(plant);
            let value = vec![
                Part::swap(
                    &format!("postgres://{user}:"),
                    &format!("postgres://{user}"),
                    palette.string,
                ),
                p.secret(plant, &password, "", palette.string),
                Part::plain("@db.internal:5432/orders", palette.string),
            ];
            return vec![assign(syntax, palette, "database_url", "database_url", value)];
        }
        // Two of a kind on one screen get different names.
        Card(Brand::Visa) => ("test_card", "test_customer"),
        Card(Brand::Mastercard) => ("fallback_card", "fallback_customer"),
        Card(Brand::Amex) => ("corporate_card", "corporate_customer"),
        Iban(Country::De) => ("payout_iban", "payout_bank"),
        Iban(Country::Gb) => ("refund_iban", "refund_bank"),
        Iban(Country::Fr) => ("supplier_iban", "supplier_bank"),
        Iban(Country::Nl) => ("escrow_iban", "escrow_bank"),
        HighEntropy => {
            let key = p.one(&[
                "session_salt",
                "signing_seed",
                "cache_nonce_seed",
                "upload_shard_salt",
            ]);
            (key, key)
        }
    };
    let value = p.planted(plant, '-', palette.string);
    vec![assign(syntax, palette, key, clean_key, vec![value])]
}

/// How `plant` appears in a terminal: the command typed (after the
/// prompt) and what it printed.
pub(crate) fn terminal(p: &mut Planter, plant: Plant) -> (Line, Vec<Line>) {
    let color = p.palette.text;
    let same = |text: &str| vec![Part::plain(text, color)];
    let swap = |text: &str, clean: &str| vec![Part::swap(text, clean, color)];
    // `before` (or `clean_before` on the twin), the secret, `after`.
    let around = |before: &str, clean_before: &str, value: Part, after: &str| {
        vec![
            Part::swap(before, clean_before, color),
            value,
            Part::plain(after, color),
        ]
    };
    match plant {
        RsaKey | OpenSshKey => {
            let file = if plant == RsaKey { "id_rsa" } else { "id_ed25519" };
            let lines = p.key_block(plant, "", color);
            (swap(&format!("cat ~/.ssh/{file}"), "cat ~/.ssh/config"), lines)
        }
        AwsKeyId | GithubFine | Google | DbPassword => {
            let (name, clean) = match plant {
                AwsKeyId => ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"),
                GithubFine => ("GITHUB_TOKEN", "GITHUB_ORG"),
                Google => ("GOOGLE_API_KEY", "GOOGLE_PROJECT"),
                _ => ("DB_PASSWORD", "DB_SCHEMA"),
            };
            let value = p.planted(plant, '-', color);
            let export = around(&format!("export {name}="), &format!("export {clean}="), value, "");
            (export, Vec::new())
        }
        AwsSecret => {
            let value = p.planted(plant, '-', color);
            let key = around("aws_secret_access_key = ", "output = ", value, "");
            let lines = vec![same("[default]"), same("region = eu-west-2"), key];
            (swap("cat ~/.aws/credentials", "cat ~/.aws/config"), lines)
        }
        GithubClassic => {
            let token = p.value(plant);
            let mut line = same("git remote set-url origin https://");
            line.push(p.secret(plant, &token, "", color));
            line.extend(swap(
                "@github.com/northwind/shop.git",
                "github.com/northwind/shop.git",
            ));
            (line, Vec::new())
        }
        Gitlab => {
            let value = p.planted(plant, ' ', color);
            let mut line = around(
                "curl --header \"PRIVATE-TOKEN: ",
                "curl --header \"Accept: ",
                value,
                "\"",
            );
            line.extend(same(" https://gitlab.com/api/v4/projects?owned=true"));
            (line, vec![same("[]")])
        }
        Slack => {
            let value = p.planted(plant, '-', color);
            let lines = vec![
                same("SLACK_CHANNEL=#deploys"),
                around("SLACK_BOT_TOKEN=", "SLACK_BOT_NAME=", value, ""),
            ];
            (same("env | grep SLACK"), lines)
        }
        Jwt => {
            let value = p.planted(plant, ' ', color);
            let json = "\", \"expires_in\": 3600}";
            let line = around("{\"access_token\": \"", "{\"display_name\": \"", value, json);
            (same("cat ~/.cache/northwind/session.json"), vec![line])
        }
        Password => {
            let value = p.planted(plant, '-', color);
            let lines = vec![
                same("[database]"),
                same("host = db.internal"),
                same("user = orders"),
                around("password = ", "schema = ", value, ""),
            ];
            (same("cat config/database.ini"), lines)
        }
        Bearer | ApiTokenField => {
            let value = p.planted(plant, '-', color);
            let mut line = around(
                "curl -s -H \"Authorization: Bearer ",
                "curl -s -H \"Accept: ",
                value,
                "\"",
            );
            line.extend(same(" https://api.northwind.dev/v1/orders"));
            (line, vec![same("{\"orders\": [], \"next\": null}")])
        }
        ConnectionString => {
            let password = p.value(plant);
            let mut line = swap("psql \"postgres://orders_app:", "psql \"postgres://orders_app");
            line.push(p.secret(plant, &password, "", color));
            line.extend(same("@db.internal:5432/orders\""));
            (line, vec![same("psql (16.2)"), same("orders=>")])
        }
        Card(_) => {
            let value = p.planted(plant, ' ', color);
            let lines = vec![
                same("2024-05-02 10:14:03 INFO  checkout started order=88231"),
                around(
                    "2024-05-02 10:14:07 WARN  declined card ",
                    "2024-05-02 10:14:07 WARN  declined for ",
                    value,
                    " retry=1",
                ),
                same("2024-05-02 10:14:09 INFO  checkout finished in 5.8s"),
            ];
            (same("tail -n 3 logs/payments.log"), lines)
        }
        Iban(country) => {
            let value = p.planted(plant, ' ', color);
            let file = if country == Country::De {
                "payout.txt"
            } else {
                "refund.txt"
            };
            let lines = vec![
                same("Beneficiary: Northwind Traders Ltd"),
                around("IBAN: ", "Bank: ", value, ""),
                same("Reference: INV-2041"),
            ];
            (same(&format!("cat {file}")), lines)
        }
        HighEntropy => {
            let key = p.one(&["signing_seed", "session_salt", "cache_nonce_seed"]);
            let value = p.planted(plant, '-', color);
            let line = around(&format!("14:  {key}: "), &format!("14:  {key}: "), value, "");
            (same(&format!("grep -n {key} config/app.yml")), vec![line])
        }
        Email => {
            let value = p.planted(plant, ' ', color);
            (
                swap("git config user.email", "git config user.name"),
                vec![vec![value]],
            )
        }
        Phone => {
            let value = p.planted(plant, ' ', color);
            let line = around(
                "Primary: Tom Baker  ",
                "Primary: Tom Baker  ",
                value,
                "  (until Friday)",
            );
            (same("cat oncall.txt"), vec![line])
        }
    }
}

/// How `plant` appears as a field of a web form.
pub(crate) fn form(p: &mut Planter, plant: Plant) -> Field {
    let pal = p.palette;
    let (label, clean_label) = match plant {
        Password | DbPassword => ("Password", "Nickname"),
        ApiTokenField | Bearer => ("API token", "Team name"),
        GithubClassic | GithubFine => ("Personal access token", "Repository owner"),
        Gitlab => ("GitLab token", "GitLab group"),
        Google => ("Maps API key", "Maps region"),
        Card(_) => ("Card number", "Order reference"),
        Iban(_) => ("IBAN", "Bank name"),
        Email => ("Email address", "Department"),
        Phone => ("Phone", "Job title"),
        _ => ("Secret", "Note"),
    };
    Field {
        label: Part::swap(label, clean_label, pal.text),
        value: p.planted(plant, ' ', pal.text),
    }
}
