//! The relay's and the desktop engine's modules import each other without a loop, and no
//! HTTP handler of the relay imports another handler (issue 18): state, the auth
//! extractors, credentials and templates are leaves, and only the top (`server.rs`,
//! `routes.rs`, `openapi.rs`) names every handler.
//!
//! The check reads the source, not the compiler's view: a module is a file under `src/`
//! (`a.rs` or `a/mod.rs` is `a`, `a/b.rs` is `a/b`, `lib.rs` is the crate root), and a
//! module depends on another when its code names it by a `crate::` or `super::` path
//! (in a `use` or inline). `crate::a::b::C` is a dependency on `a/b` if that file exists,
//! else on `a`. A parent's `mod x;` and `pub use x::…` of its own children are not counted:
//! a facade re-exporting its parts (`store/mod.rs`) is how a module tree is built, and the
//! parts reach the facade's shared types through `super::`.
//!
//! [`ModuleGraph`] takes any `src` dir; it lives here, once, and reads the inbox's
//! (`crates/inbox/src`) as well as the relay's.

// A test fails by panicking; the workspace lints against panics apply to product code.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// The relay's HTTP handlers: modules whose functions are routes. None may import another;
/// what two of them share lives in a leaf module of its own.
const HANDLERS: [&str; 9] = [
    "api",
    "agents_api",
    "channels",
    "conversations",
    "erasure",
    "export",
    "media",
    "stream",
    "webhook/intake",
];

#[test]
fn the_relays_modules_form_no_cycle() {
    let graph = ModuleGraph::read(&relay_src());
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "crates/relay/src has module cycles:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_inboxs_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../inbox/src");
    let graph = ModuleGraph::read(&src);
    assert!(
        graph.modules.contains("engine") && graph.modules.contains("sync"),
        "{} is not the inbox's source any more",
        src.display()
    );
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "crates/inbox/src has module cycles:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn no_handler_imports_another_handler() {
    let graph = ModuleGraph::read(&relay_src());
    for handler in HANDLERS {
        assert!(
            graph.modules.contains(handler),
            "{handler} is not a module any more: update HANDLERS"
        );
    }
    let sideways: Vec<String> = graph
        .edges
        .iter()
        .filter(|((from, to), _)| {
            HANDLERS.contains(&from.as_str()) && HANDLERS.contains(&to.as_str())
        })
        .map(|((from, to), at)| format!("  {from} → {to} ({at})"))
        .collect();
    assert!(
        sideways.is_empty(),
        "handlers import other handlers:\n{}",
        sideways.join("\n")
    );
}

/// The check itself can fail: a loop through a grouped `use`, with decoys in a comment, a
/// string and a char literal.
#[test]
fn a_cycle_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");
    write(
        dir.path(),
        "a.rs",
        "use crate::{b::Thing, c};\n// crate::c is only a comment\nfn f() { let _ = '{'; }\n",
    );
    write(
        dir.path(),
        "b.rs",
        "pub struct Thing;\nfn g() { crate::a::f(); }\n",
    );
    write(dir.path(), "c.rs", "const S: &str = \"crate::a\";\n");
    let cycles = ModuleGraph::read(dir.path()).cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].starts_with("a → b → a"), "{}", cycles[0]);
    assert!(cycles[0].contains("a.rs:1"), "{}", cycles[0]);
}

/// `super::` is the parent of the file, except inside an inline `mod` (a file's `tests`),
/// where it is the file itself; a facade re-exporting its children is no cycle.
#[test]
fn super_resolves_to_the_parent_and_facades_are_no_cycle() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib.rs", "pub mod store;\npub mod server;\n");
    write(
        dir.path(),
        "store/mod.rs",
        "mod work;\npub use work::*;\npub struct Error;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    );
    write(dir.path(), "store/work.rs", "use super::Error;\n");
    write(dir.path(), "server.rs", "use crate::store::Error;\n");
    let graph = ModuleGraph::read(dir.path());
    assert!(graph.cycles().is_empty(), "{:?}", graph.cycles());
    let edges: Vec<_> = graph.edges.keys().cloned().collect();
    assert_eq!(
        edges,
        [
            ("server".to_string(), "store".to_string()),
            ("store/work".to_string(), "store".to_string()),
        ]
    );

    // The same child naming a sibling of its parent's that names the child back is a loop.
    write(dir.path(), "store/work.rs", "use super::super::server;\n");
    write(dir.path(), "server.rs", "use crate::store::work::X;\n");
    let cycles = ModuleGraph::read(dir.path()).cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].starts_with("server → store/work → server"),
        "{}",
        cycles[0]
    );
}

fn relay_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Which module names which, with where it first does (`file:line`).
#[derive(Debug)]
struct ModuleGraph {
    modules: BTreeSet<String>,
    edges: BTreeMap<(String, String), String>,
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src`. `main.rs` is left out: it is the root of another
    /// crate (the binary), whose `crate::` is not this library's.
    fn read(src: &Path) -> ModuleGraph {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let module_of = |file: &Path| -> String {
            let relative = file.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts
                .last()
                .is_some_and(|last| last == "mod" || last == "lib")
            {
                parts.pop();
            }
            parts.join("/")
        };
        files.retain(|file| file.strip_prefix(src).unwrap() != Path::new("main.rs"));
        let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
        let mut edges = BTreeMap::new();
        for file in &files {
            let from = module_of(file);
            let source = std::fs::read_to_string(file).unwrap();
            let shown = file.strip_prefix(src).unwrap().display().to_string();
            for (line, path) in references(&from, &source) {
                let to = resolve(&modules, &path);
                if to != from {
                    let named: Vec<&str> = path
                        .iter()
                        .map(String::as_str)
                        .filter(|s| *s != "self")
                        .collect();
                    edges
                        .entry((from.clone(), to))
                        .or_insert_with(|| format!("{shown}:{line} `{}`", named.join("::")));
                }
            }
        }
        ModuleGraph { modules, edges }
    }

    /// Every loop, one per strongly connected group of modules, each written as its
    /// shortest cycle through the group's first module and where each step is taken.
    fn cycles(&self) -> Vec<String> {
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, to) in self.edges.keys() {
            next.entry(from).or_default().push(to);
        }
        strongly_connected(&self.modules, &next)
            .into_iter()
            .filter(|group| group.len() > 1)
            .map(|group| {
                let start = group.iter().next().copied().unwrap_or_default();
                let cycle = shortest_cycle(start, &group, &next);
                let steps: Vec<String> = cycle
                    .windows(2)
                    .map(|step| {
                        let at = &self.edges[&(step[0].to_string(), step[1].to_string())];
                        format!("    {} → {}: {at}", step[0], step[1])
                    })
                    .collect();
                format!(
                    "{}\n  (the loop's group: {})\n{}",
                    cycle.join(" → "),
                    group.iter().copied().collect::<Vec<_>>().join(", "),
                    steps.join("\n")
                )
            })
            .collect()
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The module a path names: the longest prefix of it that is a file (`crate::a::b::C` is
/// `a/b` if `a/b.rs` exists, else `a`; the crate root `""` if nothing else matches).
fn resolve(modules: &BTreeSet<String>, path: &[String]) -> String {
    let path: Vec<&str> = path
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "self")
        .collect();
    (0..=path.len())
        .rev()
        .map(|n| path[..n].join("/"))
        .find(|candidate| modules.contains(candidate))
        .unwrap_or_default()
}

/// Every `crate::…` and `super::…` path in `source` (the file of module `module`), made
/// absolute (segments from the crate root), with its line. Grouped `use` trees
/// (`crate::a::{b, c::D}`) give one path per leaf.
fn references(module: &str, source: &str) -> Vec<(usize, Vec<String>)> {
    let tokens = tokens(&code_only(source));
    let file_module: Vec<String> = module
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) open at a brace depth; `super::` inside one is
    // the module around it, not the file's parent.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let (line, token) = &tokens[i];
        let after_path_separator = i > 0 && tokens[i - 1].1 == Token::PathSep;
        let followed_by_separator = tokens.get(i + 1).is_some_and(|t| t.1 == Token::PathSep);
        match token {
            Token::Ident(word) if word == "mod" => {
                if let (Some((_, Token::Ident(name))), Some((_, Token::Punct('{')))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    depth += 1;
                    inline.push((name.clone(), depth));
                    i += 3;
                    continue;
                }
            }
            Token::Ident(word)
                if (word == "crate" || word == "super")
                    && followed_by_separator
                    && !after_path_separator =>
            {
                let mut base: Vec<String> = if word == "crate" {
                    Vec::new()
                } else {
                    let mut here = file_module.clone();
                    here.extend(inline.iter().map(|(name, _)| name.clone()));
                    here.pop();
                    here
                };
                let mut at = i + 2;
                // `super::super::…` climbs once more per `super`.
                while word == "super"
                    && tokens
                        .get(at)
                        .is_some_and(|t| t.1 == Token::Ident("super".into()))
                    && tokens.get(at + 1).is_some_and(|t| t.1 == Token::PathSep)
                {
                    base.pop();
                    at += 2;
                }
                let mut leaves = Vec::new();
                i = use_tree(&tokens, at, base, &mut leaves);
                found.extend(leaves.into_iter().map(|path| (*line, path)));
                continue;
            }
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, opened)| *opened == depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Reads one use tree (or an inline path) at `at` under `prefix`, pushing each leaf path;
/// returns where it ends. `a::b`, `a::*`, `a::{b, c::{d}}`, `a as x` (the rename is left
/// for the caller to skip).
fn use_tree(
    tokens: &[(usize, Token)],
    mut at: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tokens.get(at).map(|t| &t.1) {
            Some(Token::Ident(segment)) => {
                prefix.push(segment.clone());
                at += 1;
                if tokens.get(at).is_some_and(|t| t.1 == Token::PathSep) {
                    at += 1;
                    continue;
                }
                out.push(prefix);
                return at;
            }
            Some(Token::Punct('{')) => {
                at += 1;
                loop {
                    match tokens.get(at).map(|t| &t.1) {
                        Some(Token::Punct('}')) => return at + 1,
                        Some(Token::Punct(',')) => at += 1,
                        Some(Token::Ident(_) | Token::Punct('{' | '*')) => {
                            at = use_tree(tokens, at, prefix.clone(), out);
                            // Skip `as name`.
                            if tokens
                                .get(at)
                                .is_some_and(|t| t.1 == Token::Ident("as".into()))
                            {
                                at += 2;
                            }
                        }
                        // Not a use tree after all; stop without looping.
                        _ => return at,
                    }
                }
            }
            // `a::*`, or the path ends (`a::b(…)`, `a::<T>`).
            other => {
                let star = matches!(other, Some(Token::Punct('*')));
                out.push(prefix);
                return at + usize::from(star);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// Identifiers, `::` and single punctuation, each with its line (1-based).
fn tokens(code: &str) -> Vec<(usize, Token)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((line, Token::Ident(chars[start..i].iter().collect())));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((line, Token::PathSep));
            i += 2;
        } else {
            out.push((line, Token::Punct(c)));
            i += 1;
        }
    }
    out
}

/// `source` with comments removed and string and char literals emptied (newlines kept, so
/// lines still count), so a `crate::` in a doc comment or a string is not a dependency and
/// a `'{'` does not open a block.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut open = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    open += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    open -= 1;
                    i += 2;
                    if open == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r'
            && (i == 0 || !ident(chars[i - 1]) || chars[i - 1] == 'b')
            && matches!(next, Some('"' | '#'))
            && raw_string_hashes(&chars, i + 1).is_some()
        {
            // r"…", r#"…"#: no escapes; ends at a quote followed by as many hashes.
            let hashes = raw_string_hashes(&chars, i + 1).unwrap_or(0);
            i += 2 + hashes;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\n' {
                    out.push('\n');
                }
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: '\n', '\'', '\u{…}'.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            // Code, or a lifetime's quote.
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At `at` (just after an `r`): the number of `#` before a `"`, if this is a raw string.
fn raw_string_hashes(chars: &[char], at: usize) -> Option<usize> {
    let hashes = chars[at..].iter().take_while(|c| **c == '#').count();
    (chars.get(at + hashes) == Some(&'"')).then_some(hashes)
}

/// Tarjan's algorithm: the strongly connected groups of modules.
fn strongly_connected<'a>(
    modules: &'a BTreeSet<String>,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
) -> Vec<BTreeSet<&'a str>> {
    struct Walk<'a, 'g> {
        next: &'g BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        groups: Vec<BTreeSet<&'a str>>,
    }
    impl<'a> Walk<'a, '_> {
        fn visit(&mut self, module: &'a str) {
            let n = self.index.len();
            self.index.insert(module, n);
            self.low.insert(module, n);
            self.stack.push(module);
            self.on_stack.insert(module);
            for &to in self.next.get(module).into_iter().flatten() {
                if !self.index.contains_key(to) {
                    self.visit(to);
                    let low = self.low[module].min(self.low[to]);
                    self.low.insert(module, low);
                } else if self.on_stack.contains(to) {
                    let low = self.low[module].min(self.index[to]);
                    self.low.insert(module, low);
                }
            }
            if self.low[module] == self.index[module] {
                let mut group = BTreeSet::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    group.insert(top);
                    if top == module {
                        break;
                    }
                }
                self.groups.push(group);
            }
        }
    }
    let mut walk = Walk {
        next,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for module in modules {
        if !walk.index.contains_key(module.as_str()) {
            walk.visit(module);
        }
    }
    walk.groups
}

/// The shortest way from `start` back to itself inside `group` (breadth first).
fn shortest_cycle<'a>(
    start: &'a str,
    group: &BTreeSet<&'a str>,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
) -> Vec<&'a str> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(module) = queue.pop_front() {
        for &to in next.get(module).into_iter().flatten() {
            if !group.contains(to) {
                continue;
            }
            if to == start {
                let mut cycle = vec![start, module];
                let mut at = module;
                while at != start {
                    at = came_from[at];
                    cycle.push(at);
                }
                cycle.reverse();
                // Reversed it reads start → … → module → start.
                return cycle;
            }
            if !came_from.contains_key(to) && to != start {
                came_from.insert(to, module);
                queue.push_back(to);
            }
        }
    }
    vec![start]
}
