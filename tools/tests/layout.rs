//! The plugin's layout rules (README, "How it is built"), checked on its source: imports point
//! down (no `tracking` -> `pipeline`, no import circles between files).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../src");

/// Every `.rs` file below `dir`, as paths relative to `SRC` ("obs/source.rs").
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(SRC).unwrap().to_path_buf());
        }
    }
}

/// The module path of a file: "obs/source.rs" -> ["obs", "source"], "obs/mod.rs" -> ["obs"].
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without its unit tests (`#[cfg(test)] mod tests` at the end, as this
/// project writes them): tests may reach anywhere.
fn code_of(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .or_else(|| text.find("#[cfg(test)]\npub(super) mod tests"))
        .or_else(|| text.find("#[cfg(test)]\npub mod tests"))
        .map_or(text, |i| &text[..i])
}

/// The files of the plugin, with their code (tests left out) by module path.
fn plugin() -> BTreeMap<Vec<String>, (PathBuf, String)> {
    hand_written()
        .into_iter()
        .map(|(f, text)| (module_of(&f), (f.clone(), code_of(&text).to_string())))
        .collect()
}

/// The modules of `modules` that `code` (of module `me`) names through `crate::` or `super::`
/// paths: the longest known module each path starts with.
fn imports(
    me: &[String],
    code: &str,
    modules: &BTreeSet<Vec<String>>,
    is_dir: bool,
) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("crate::") || w.starts_with("super::"))
        .collect();
    for word in words {
        let mut parts: Vec<&str> = word.split("::").filter(|p| !p.is_empty()).collect();
        // A file's `super` is its folder's module (for mod.rs, the folder above).
        let mut base: Vec<String> = me.to_vec();
        if !is_dir {
            base.pop();
        }
        let start = if parts[0] == "crate" {
            base.clear();
            1
        } else {
            let mut i = 0;
            while parts.get(i) == Some(&"super") {
                if i > 0 {
                    base.pop();
                }
                i += 1;
            }
            if is_dir && i > 0 {
                base.pop();
            }
            i
        };
        parts.drain(..start);
        let mut path = base.clone();
        let mut best = None;
        for part in parts {
            path.push(part.to_string());
            if modules.contains(&path) {
                best = Some(path.clone());
            }
        }
        if let Some(module) = best.filter(|m| m.as_slice() != me && !me.starts_with(m)) {
            found.insert(module);
        }
    }
    found
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = plugin();
    let modules: BTreeSet<Vec<String>> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(me, (file, code))| {
            let is_dir = file.ends_with("mod.rs") || file.ends_with("lib.rs");
            (me.clone(), imports(me, code, &modules, is_dir))
        })
        .collect()
}

#[test]
fn tracking_imports_nothing_from_the_pipeline() {
    let graph = graph();
    let upward: Vec<String> = graph
        .iter()
        .filter(|(me, _)| me.first().is_some_and(|m| m == "tracking"))
        .flat_map(|(me, to)| {
            to.iter()
                .filter(|t| t.first().is_some_and(|m| m == "pipeline"))
                .map(move |t| format!("{} -> {}", me.join("::"), t.join("::")))
        })
        .collect();
    assert!(
        upward.is_empty(),
        "tracking imports from pipeline: {upward:?}"
    );
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let graph = graph();
    // The scan sees real imports (`crate::` and `super::` paths alike).
    let edge = |from: &[&str], to: &[&str]| {
        let key: Vec<String> = from.iter().map(|s| s.to_string()).collect();
        let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        graph.get(&key).is_some_and(|t| t.contains(&to))
    };
    assert!(edge(&["obs", "source"], &["pipeline"]));
    assert!(edge(
        &["pipeline", "render_worker"],
        &["pipeline", "tracking_worker"]
    ));
    // Circles of any length: a file that reaches itself through others' imports.
    let mut circles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<(Vec<String>, Vec<String>)> = vec![(start.clone(), vec![])];
        while let Some((node, trail)) = todo.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                let mut trail = trail.clone();
                trail.push(next.join("::"));
                if next == start {
                    circles.push(format!("{} -> {}", start.join("::"), trail.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    todo.push((next.clone(), trail));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_checker_sees_a_circle_and_an_upward_import() {
    // The rules above must be able to fail: a made-up pair of files that import each other.
    let modules: BTreeSet<Vec<String>> = [vec!["a".to_string()], vec!["b".to_string()]]
        .into_iter()
        .collect();
    let a = imports(&["a".into()], "use crate::b::thing;", &modules, false);
    let b = imports(&["b".into()], "use super::a::other;", &modules, false);
    assert!(a.contains(&vec!["b".to_string()]) && b.contains(&vec!["a".to_string()]));
    let modules: BTreeSet<Vec<String>> = [
        vec!["tracking".to_string()],
        vec!["tracking".to_string(), "readiness".to_string()],
        vec!["pipeline".to_string()],
        vec!["pipeline".to_string(), "worker".to_string()],
    ]
    .into_iter()
    .collect();
    let up = imports(
        &["tracking".into(), "readiness".into()],
        "crate::pipeline::worker::join_by(h, d)",
        &modules,
        false,
    );
    assert!(up.contains(&vec!["pipeline".to_string(), "worker".to_string()]));
    // A mod.rs's `super` is the folder above.
    let modules: BTreeSet<Vec<String>> = [
        vec!["obs".to_string()],
        vec!["obs".to_string(), "source".to_string()],
        vec!["render".to_string()],
    ]
    .into_iter()
    .collect();
    let from_dir = imports(&["obs".into()], "use super::render::Gpu;", &modules, true);
    assert!(from_dir.contains(&vec!["render".to_string()]));
}

/// Whether line `at` of `lines` is inside an item gated to Unix: a `cfg(unix)` or
/// `cfg(target_os = ...)` attribute in the 15 lines above it, or on the whole file.
fn unix_gated(lines: &[&str], at: usize) -> bool {
    let gate = |line: &str| {
        line.contains("cfg(unix)")
            || line.contains("cfg(target_os = \"linux\")")
            || line.contains("cfg(all(unix")
            || line.contains("cfg(any(target_os = \"linux\"")
    };
    lines.iter().any(|l| l.starts_with("#![cfg(unix)]"))
        || lines[at.saturating_sub(15)..at].iter().any(|l| gate(l))
}

/// The `libc::` uses of `code` that no Unix gate covers, as "line: text".
fn ungated_libc(code: &str) -> Vec<String> {
    let lines: Vec<&str> = code.lines().collect();
    (0..lines.len())
        .filter(|&i| lines[i].contains("libc::") && !lines[i].trim_start().starts_with("//"))
        .filter(|&i| !unix_gated(&lines, i))
        .map(|i| format!("{}: {}", i + 1, lines[i].trim()))
        .collect()
}

#[test]
fn every_libc_call_of_the_plugin_is_behind_a_unix_gate() {
    let found: Vec<String> = plugin()
        .values()
        .flat_map(|(file, code)| {
            ungated_libc(code)
                .into_iter()
                .map(move |hit| format!("{} {hit}", file.display()))
        })
        .collect();
    assert!(found.is_empty(), "libc:: outside cfg(unix): {found:#?}");
    // The check can fail.
    assert_eq!(
        ungated_libc("fn f() {\n    unsafe { libc::kill(1, 2) };\n}\n").len(),
        1
    );
    assert!(
        ungated_libc("#[cfg(unix)]\nfn f() {\n    unsafe { libc::kill(1, 2) };\n}\n").is_empty()
    );
}

/// Every `.rs` file of the plugin with its text (the generated bindings left out).
fn hand_written() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    files
        .into_iter()
        .filter(|f| !f.ends_with("bindings_generated.rs"))
        .map(|f| {
            let text = std::fs::read_to_string(Path::new(SRC).join(&f)).unwrap();
            (f, text)
        })
        .collect()
}

#[test]
fn no_hand_written_file_is_over_1000_lines() {
    let long: Vec<String> = hand_written()
        .iter()
        .map(|(f, text)| (f, text.lines().count()))
        .filter(|(_, lines)| *lines > 1000)
        .map(|(f, lines)| format!("{} ({lines} lines)", f.display()))
        .collect();
    assert!(long.is_empty(), "files over 1000 lines: {long:?}");
}

/// The functions of `text` that are not tests, with their length in lines: from a `fn` line to
/// the `}` at the same indentation.
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let is_fn = trimmed.split_once("fn ").is_some_and(|(before, _)| {
            before.split_whitespace().all(|w| {
                matches!(w, "pub" | "unsafe" | "const" | "async" | "extern" | "\"C\"")
                    || w.starts_with("pub(")
            })
        });
        if !is_fn || (i > 0 && lines[i - 1].trim() == "#[test]") {
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + 1..].iter().position(|l| *l == close) {
            out.push((trimmed.chars().take(60).collect(), end + 2));
        }
    }
    out
}

#[test]
fn no_function_outside_the_tests_is_over_120_lines() {
    let long: Vec<String> = hand_written()
        .iter()
        .flat_map(|(f, text)| {
            function_lengths(text)
                .into_iter()
                .filter(|(_, n)| *n > 120)
                .map(move |(name, n)| format!("{}: {name} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "functions over 120 lines: {long:#?}");
    // The measure can fail.
    let made_up = format!("pub(crate) fn long() {{\n{}}}\n", "    x();\n".repeat(130));
    assert_eq!(
        function_lengths(&made_up),
        vec![("pub(crate) fn long() {".to_string(), 132)]
    );
}
