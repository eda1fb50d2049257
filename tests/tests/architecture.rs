//! The invariants of `ARCHITECTURE.md` that the source itself can show:
//! which crate may depend on what, which server modules may know HTTP,
//! how long a file may grow, and that no two files of a crate import each
//! other. Each test reads the repository, not a build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Result<T = ()> = anyhow::Result<T>;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every package in `Cargo.lock` with the names of its dependencies.
fn lock_graph() -> Result<BTreeMap<String, Vec<String>>> {
    let text = std::fs::read_to_string(repository().join("Cargo.lock"))?;
    let lock: toml::Value = toml::from_str(&text)?;
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in lock
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = package
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or_default();
        let dependencies: Vec<String> = package
            .get("dependencies")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_str)
            // "name version" when two versions are locked; the name is enough.
            .map(|entry| entry.split(' ').next().unwrap_or(entry).to_owned())
            .collect();
        // A package locked at two versions keeps the union of both lists.
        graph.entry(name.to_owned()).or_default().extend(dependencies);
    }
    Ok(graph)
}

/// `root` and everything it pulls in, with every optional feature that the
/// lock file resolved for the workspace (so a superset of a real build).
fn closure(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_owned()];
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(graph.get(&name).into_iter().flatten().cloned());
        }
    }
    seen
}

/// The `[dependencies]` a crate names directly in its manifest.
fn direct_dependencies(crate_dir: &str) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(repository().join(crate_dir).join("Cargo.toml"))?;
    let manifest: toml::Value = toml::from_str(&text)?;
    let mut names = BTreeSet::new();
    let mut tables = vec![manifest.get("dependencies").cloned()];
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        tables.extend(targets.values().map(|t| t.get("dependencies").cloned()));
    }
    for table in tables.into_iter().flatten() {
        names.extend(table.as_table().into_iter().flat_map(|t| t.keys().cloned()));
    }
    Ok(names)
}

#[test]
fn proto_depends_only_on_serde() -> Result {
    let direct = direct_dependencies("proto")?;
    let allowed: BTreeSet<String> = ["serde", "serde_json", "specta"].map(String::from).into();
    assert!(direct.is_subset(&allowed), "proto depends on {direct:?}");
    Ok(())
}

#[test]
fn only_the_server_knows_axum_and_sqlx_and_only_the_shell_knows_tauri() -> Result {
    let graph = lock_graph()?;
    for (package, forbidden) in [
        ("sightline-proto", &["axum", "sqlx", "tauri", "hyper"][..]),
        ("sightline-certs", &["axum", "sqlx", "tauri", "reqwest"][..]),
        ("sightline-client", &["axum", "sqlx", "tauri"][..]),
        ("sightline-server", &["tauri", "sightline-client"][..]),
        ("sightline-desktop", &["axum", "sqlx", "sightline-server"][..]),
    ] {
        let reached = closure(&graph, package);
        for name in forbidden {
            assert!(!reached.contains(*name), "{package} depends on {name}");
        }
    }
    for crate_dir in ["proto", "certs", "client", "server", "src-tauri", "tests"] {
        let direct = direct_dependencies(crate_dir)?;
        let knows_tauri = direct.iter().any(|name| name.starts_with("tauri"));
        assert_eq!(knows_tauri, crate_dir == "src-tauri", "{crate_dir} and tauri");
    }
    Ok(())
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// A file's text without its comments, so that words in documentation do
/// not count as uses: whole comment lines go, and a trailing comment after
/// ` // ` (a URL's `https://` has no space before its slashes).
fn code_of(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| match line.find(" // ") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_domain_does_not_know_http() -> Result {
    let server = repository().join("server/src");
    // The serving process: the router and its handlers, the TLS accept
    // loop, and the command line that starts them.
    let transport = |path: &Path| {
        path.starts_with(server.join("http"))
            || path.starts_with(server.join("cli"))
            || path == server.join("tls.rs")
            || path == server.join("main.rs")
    };
    let mut offenders = Vec::new();
    for path in rust_files(&server)? {
        if transport(&path) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&path)?);
        for word in [
            "axum",
            "hyper",
            "StatusCode",
            "HeaderMap",
            "IntoResponse",
            "ApiError",
            "http::",
            "AppState",
        ] {
            // The serving state may name its own type; nothing else may.
            if word == "AppState" && path == server.join("state.rs") {
                continue;
            }
            if code.contains(word) {
                offenders.push(format!("{} names {word}", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
    Ok(())
}

/// Files a newcomer has to read at once stay short; a longer one says why
/// at its top.
#[test]
fn long_files_say_why() -> Result {
    const LIMIT: usize = 600;
    let mut offenders = Vec::new();
    for crate_dir in ["proto", "certs", "server", "client", "src-tauri", "tests"] {
        for path in rust_files(&repository().join(crate_dir))? {
            let text = std::fs::read_to_string(&path)?;
            let lines = text.lines().count();
            let says_why = text
                .lines()
                .take(20)
                .any(|line| line.contains("Why this file is long:"));
            if lines > LIMIT && !says_why {
                offenders.push(format!("{} ({lines} lines)", path.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "longer than {LIMIT} lines without a reason: {offenders:#?}"
    );
    Ok(())
}

/// One crate's source tree as modules: each file's module path, and the
/// module paths its code names.
struct ModuleTree {
    files: BTreeMap<Vec<String>, PathBuf>,
    uses: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn is_identifier(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ModuleTree {
    /// The files under `src` that `belongs` admits, as one crate.
    fn read(src: &Path, belongs: impl Fn(&Path) -> bool) -> Result<Self> {
        let mut files = BTreeMap::new();
        let mut texts = BTreeMap::new();
        for path in rust_files(src)? {
            if !belongs(&path) {
                continue;
            }
            let module = module_path(src, &path);
            let text = std::fs::read_to_string(&path)?;
            // Unit tests inside a file look at their own module; they are
            // not an import of it.
            let text = match text.find("#[cfg(test)]\nmod tests {") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            texts.insert(module.clone(), code_of(&text));
            files.insert(module, path);
        }
        let uses = texts
            .iter()
            .map(|(module, code)| (module.clone(), Self::named_paths(module, code)))
            .collect();
        Ok(Self { files, uses })
    }

    /// The absolute module paths named in `code`: by `crate::…`,
    /// `super::…` and `self::…`, and by a child module's own name
    /// (`child::item`, as a parent names what it declares), including those
    /// inside `use a::{b, c}` groups.
    fn named_paths(module: &[String], code: &str) -> BTreeSet<Vec<String>> {
        // One line, groups without spaces: `use a::{b, c}` is `a::{b,c}`.
        let mut flat = code.split_whitespace().collect::<Vec<_>>().join(" ");
        for (spaced, tight) in [(", ", ","), ("{ ", "{"), (" }", "}")] {
            while flat.contains(spaced) {
                flat = flat.replace(spaced, tight);
            }
        }
        let children: BTreeSet<String> = flat
            .split(';')
            .filter_map(|statement| {
                let statement = statement.trim();
                let name = statement
                    .strip_prefix("pub mod ")
                    .or_else(|| statement.strip_prefix("pub(crate) mod "))
                    .or_else(|| statement.strip_prefix("mod "))?;
                is_identifier(name).then(|| name.to_owned())
            })
            .collect();
        let tokens =
            flat.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '{' | '}' | ',')));
        let mut named = BTreeSet::new();
        for token in tokens {
            // Each path starts where a token starts, or after `<`, `(`, …
            for (at, _) in token.match_indices("::") {
                let head_start = token[..at]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(0, |i| i + 1);
                let head = &token[head_start..at];
                let preceded_by_path = token[..head_start].ends_with("::");
                if preceded_by_path {
                    continue;
                }
                let mut path: Vec<String> = match head {
                    "crate" => Vec::new(),
                    "self" | "super" => module.to_vec(),
                    child if children.contains(child) => {
                        let mut path = module.to_vec();
                        path.push(child.to_owned());
                        path
                    }
                    _ => continue,
                };
                if head == "super" {
                    path.pop();
                }
                let mut parts = token[at + 2..].split("::").peekable();
                // `super::super::…`: each one more step up.
                while parts.peek() == Some(&"super") {
                    path.pop();
                    parts.next();
                }
                let mut grouped = false;
                for part in parts {
                    // `a::{b,c}`: the group names children of `a`.
                    if let Some(group) = part.strip_prefix('{') {
                        for item in group.split(',') {
                            let first = item.trim_matches(|c| c == '{' || c == '}');
                            let first = first.split("::").next().unwrap_or_default();
                            if is_identifier(first) && first != "self" {
                                let mut child = path.clone();
                                child.push(first.to_owned());
                                named.insert(child);
                            }
                        }
                        grouped = true;
                        break;
                    }
                    if !is_identifier(part) {
                        break;
                    }
                    path.push(part.to_owned());
                }
                // A group named its members, not the module they are in.
                if !grouped {
                    named.insert(path);
                }
            }
        }
        named
    }

    /// The file a named path lives in: its longest prefix that is a file.
    fn file_of(&self, path: &[String]) -> Option<&Vec<String>> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.files.get_key_value(&path[..n]).map(|(k, _)| k))
    }

    /// Pairs of files that each name the other.
    fn circles(&self) -> Vec<(PathBuf, PathBuf)> {
        let mut edges: BTreeMap<&Vec<String>, BTreeSet<&Vec<String>>> = BTreeMap::new();
        for (module, named) in &self.uses {
            for path in named {
                if let Some(target) = self.file_of(path) {
                    if target != module {
                        edges.entry(module).or_default().insert(target);
                    }
                }
            }
        }
        let mut circles = Vec::new();
        for (from, targets) in &edges {
            for to in targets {
                let back = edges.get(to).is_some_and(|t| t.contains(from));
                if back && from < to {
                    circles.push((self.files[*from].clone(), self.files[*to].clone()));
                }
            }
        }
        circles
    }
}

/// No module imports its own caller back. A pair that must is allowed
/// when one of the two files says why in a comment naming the other.
#[test]
fn no_two_files_of_a_crate_import_each_other() -> Result {
    let mut offenders = Vec::new();
    let root = repository();
    // Each crate of the workspace: a library, and a binary beside it with
    // the modules only it declares (the server's `main.rs` and `cli/`);
    // `src/bin/` files are crates of one file each.
    fn server_binary(path: &Path) -> bool {
        let server = repository().join("server/src");
        path == server.join("main.rs") || path.starts_with(server.join("cli"))
    }
    type Belongs = Box<dyn Fn(&Path) -> bool>;
    let crates: Vec<(PathBuf, Belongs)> = vec![
        (root.join("proto/src"), Box::new(|_: &Path| true)),
        (root.join("certs/src"), Box::new(|_: &Path| true)),
        (root.join("server/src"), Box::new(|p: &Path| !server_binary(p))),
        (root.join("server/src"), Box::new(server_binary)),
        (root.join("client/src"), Box::new(|_: &Path| true)),
        // The shell's `main.rs` declares no module; its library is the app.
        (
            root.join("src-tauri/src"),
            Box::new(|p: &Path| !p.ends_with("main.rs")),
        ),
        (
            root.join("tests/src"),
            Box::new(|p: &Path| !p.components().any(|c| c.as_os_str() == "bin")),
        ),
        (root.join("tests/tests/e2e"), Box::new(|_: &Path| true)),
    ];
    for (src, belongs) in crates {
        let tree = ModuleTree::read(&src, belongs)?;
        for (a, b) in tree.circles() {
            let explained = [(&a, &b), (&b, &a)].iter().any(|(file, other)| {
                let name = other.strip_prefix(&src).unwrap_or(other).display().to_string();
                std::fs::read_to_string(file).is_ok_and(|text| {
                    text.lines()
                        .any(|line| line.contains("Imports its caller back") && line.contains(&name))
                })
            });
            if !explained {
                offenders.push(format!("{} <-> {}", a.display(), b.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "files that import each other: {offenders:#?}"
    );
    Ok(())
}

#[test]
fn the_circle_finder_finds_circles() {
    let module = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut tree = ModuleTree {
        files: BTreeMap::new(),
        uses: BTreeMap::new(),
    };
    for (name, file, code) in [
        (&["a"][..], "a.rs", "use crate::{b::{Thing, other}, e};"),
        (&["b"][..], "b.rs", "use super::a::Item;"),
        (&["c"][..], "c/mod.rs", "mod d;\npub use d::{X,\n  Y};"),
        (&["c", "d"][..], "c/d.rs", "use super::super::a::Item;"),
    ] {
        tree.files.insert(module(name), PathBuf::from(file));
        tree.uses
            .insert(module(name), ModuleTree::named_paths(&module(name), code));
    }
    assert!(tree.uses[&module(&["c", "d"])].contains(&module(&["a", "Item"])));
    assert!(
        !tree.uses[&module(&["a"])].contains(&module(&[])),
        "a group names its members only"
    );
    assert!(tree.uses[&module(&["c"])].contains(&module(&["c", "d", "Y"])));
    assert_eq!(
        tree.circles(),
        vec![(PathBuf::from("a.rs"), PathBuf::from("b.rs"))]
    );
}

/// Pictures for upload are made in one place, the encoder, which takes
/// only a frame that went through redaction (`capture::encode(&Redacted,
/// …)`): no other code builds an `Attachment`, so no upload path can skip
/// redaction. Test modules (at the end of a file) may build their own.
#[test]
fn pictures_for_upload_are_built_only_from_redacted_frames() -> Result {
    let root = repository();
    let encoder = root.join("client/src/capture/mod.rs");
    let mut builders = Vec::new();
    for dir in ["client/src", "src-tauri/src"] {
        for file in rust_files(&root.join(dir))? {
            let text = std::fs::read_to_string(&file)?;
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let builds = code.lines().any(|line| {
                let line = line.trim();
                line.contains("Attachment {")
                    && !line.starts_with("pub struct")
                    && !line.starts_with("impl")
                    && !line.starts_with("//")
            });
            if builds && file != encoder {
                builders.push(file.display().to_string());
            }
        }
    }
    assert!(
        builders.is_empty(),
        "Attachment built outside the encoder: {builders:?}"
    );
    let encoder_text = std::fs::read_to_string(&encoder)?;
    assert!(
        encoder_text.contains("pub fn encode(redacted: &Redacted"),
        "the encoder no longer takes a redacted frame"
    );
    Ok(())
}
