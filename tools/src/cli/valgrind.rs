//! `vrm-avatar soak --valgrind`: OBS run under Valgrind's memcheck, which reports a bad read or
//! write where it happens (in any library of the process: the plugin, libobs, Mesa, ONNX
//! Runtime) instead of where glibc later finds its heap corrupted. Everything runs 20-50 times
//! slower, so OBS's graphics thread stalls as on the most overloaded machine.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Valgrind's command line for OBS, its log in `log_dir` (one file per process: OBS forks
/// helpers). JIT code (llvmpipe's and lavapipe's shaders) needs the self-modifying-code check.
pub fn wrapper(log_dir: &Path) -> Vec<String> {
    vec![
        "valgrind".into(),
        "--tool=memcheck".into(),
        "--smc-check=all-non-file".into(),
        "--error-limit=no".into(),
        "--num-callers=40".into(),
        format!("--log-file={}/valgrind.%p.log", log_dir.display()),
    ]
}

/// One kind of error memcheck reported: what, where (the innermost frame's library or source
/// file, Valgrind's own replacement functions skipped), how often, and the first one's stack.
#[derive(Debug)]
struct Kind {
    what: String,
    place: String,
    count: usize,
    example: Vec<String>,
}

/// The errors in one memcheck log, grouped by what and where. An error whose innermost frame
/// is Rust code is the plugin's (nothing else in OBS's process is written in Rust). Errors
/// that are glibc's dynamic loader reading a string a word at a time (`strncmp` from `is_dst`:
/// memcheck's known false positive) are counted apart.
pub fn summary(log: &str) -> Value {
    let mut kinds: BTreeMap<(String, String), Kind> = BTreeMap::new();
    let mut loader = 0;
    let mut lines = log.lines().map(strip_pid).peekable();
    while let Some(line) = lines.next() {
        if !is_headline(line) {
            continue;
        }
        let mut stack = Vec::new();
        while let Some(next) = lines.peek() {
            let frame = next.trim();
            if !(frame.starts_with("at ") || frame.starts_with("by ")) {
                break;
            }
            stack.push(frame[3..].to_string());
            lines.next();
        }
        if stack.len() > 1 && stack[1].contains("is_dst") {
            loader += 1;
            continue;
        }
        let what = category(line);
        let place = stack
            .iter()
            .find(|f| !f.contains("/valgrind/"))
            .map_or_else(|| "?".to_string(), |f| place_of(f));
        let kind = kinds
            .entry((what.clone(), place.clone()))
            .or_insert_with(|| Kind {
                what,
                place,
                count: 0,
                example: stack.iter().take(8).cloned().collect(),
            });
        kind.count += 1;
    }
    let mut list: Vec<Kind> = kinds.into_values().collect();
    list.sort_by_key(|k| std::cmp::Reverse(k.count));
    let ours = |k: &Kind| k.place.ends_with(".rs");
    let sum = |keep: &dyn Fn(&Kind) -> bool| -> usize {
        list.iter().filter(|k| keep(k)).map(|k| k.count).sum()
    };
    json!({
        "errors": sum(&|_| true),
        "invalid_reads": sum(&|k| k.what.starts_with("Invalid read")),
        "invalid_writes": sum(&|k| k.what.starts_with("Invalid write")),
        "bad_frees": sum(&|k| k.what.starts_with("Invalid free") || k.what.starts_with("Mismatched free")),
        "in_plugin": sum(&ours),
        "loader_false_positives": loader,
        "kinds": list.iter().map(|k| json!({
            "what": k.what, "where": k.place, "count": k.count, "in_plugin": ours(k),
            "example": k.example,
        })).collect::<Vec<_>>(),
    })
}

/// A headline without its sizes and addresses ("Invalid read of size 8" -> "Invalid read").
fn category(headline: &str) -> String {
    let text = headline.split(" of size ").next().unwrap_or(headline);
    match text.find("(0x") {
        Some(at) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// Where a frame is: its library's file name (`(in /usr/lib/x/libz.so.1)` -> `libz.so.1`) or
/// its source file (`foo (tap.rs:120)` -> `tap.rs`).
fn place_of(frame: &str) -> String {
    let inner = frame
        .rsplit_once('(')
        .map_or(frame, |(_, rest)| rest.trim_end_matches(')'));
    let path = inner.strip_prefix("in ").unwrap_or(inner);
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(':').next().unwrap_or(file).to_string()
}

fn strip_pid(line: &str) -> &str {
    match line.strip_prefix("==") {
        Some(rest) => rest.split_once("== ").map_or(line, |(_, text)| text),
        None => line,
    }
}

fn is_headline(line: &str) -> bool {
    [
        "Invalid read",
        "Invalid write",
        "Invalid free",
        "Mismatched free",
        "Conditional jump",
        "Use of uninitialised",
        "Syscall param",
        "Source and destination overlap",
        "Argument 'size' of function",
    ]
    .iter()
    .any(|start| line.starts_with(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
==7== Memcheck, a memory error detector
==7== Invalid read of size 8
==7==    at 0x4023C74: strncmp (strcmp-sse2.S:162)
==7==    by 0x4004BEE: is_dst (dl-load.c:216)
==7==    by 0x40059BE: _dl_dst_count (dl-load.c:253)
==7== 
==7== Invalid write of size 4
==7==    at 0x1: memcpy (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x2: copy_plane (frame.rs:40)
==7==    by 0x3: ??? (in /usr/lib/x86_64-linux-gnu/libobs.so.29)
==7==  Address 0x5 is 0 bytes after a block of size 16 alloc'd
==7==    at 0x6: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7== 
==7== Invalid write of size 4
==7==    at 0x1: memcpy (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x2: copy_plane (frame.rs:41)
==7==    by 0x3: ??? (in /usr/lib/x86_64-linux-gnu/libobs.so.29)
==7== 
==7== Invalid read of size 1
==7==    at 0x9: ??? (in /usr/lib/x86_64-linux-gnu/libobs.so.29)
==7==    by 0xA: copy_plane (frame.rs:41)
==7== 
";

    #[test]
    fn errors_are_grouped_by_what_and_where_and_the_loaders_false_positive_set_apart() {
        let s = summary(LOG);
        assert_eq!(s["errors"], 3);
        assert_eq!(s["invalid_writes"], 2);
        assert_eq!(s["invalid_reads"], 1);
        assert_eq!(s["in_plugin"], 2);
        assert_eq!(s["loader_false_positives"], 1);
        assert_eq!(s["kinds"][0]["count"], 2);
        assert_eq!(s["kinds"][0]["what"], "Invalid write");
        assert_eq!(s["kinds"][0]["where"], "frame.rs");
        assert_eq!(s["kinds"][1]["where"], "libobs.so.29");
        assert_eq!(s["kinds"][1]["in_plugin"], false);
    }

    #[test]
    fn a_headline_loses_sizes_and_addresses() {
        assert_eq!(category("Invalid read of size 8"), "Invalid read");
        assert_eq!(
            category("Source and destination overlap in memcpy_chk(0x30, 0x30, 4)"),
            "Source and destination overlap in memcpy_chk"
        );
        assert_eq!(
            category("Syscall param write(buf) points to uninitialised byte(s)"),
            "Syscall param write(buf) points to uninitialised byte(s)"
        );
    }
}
