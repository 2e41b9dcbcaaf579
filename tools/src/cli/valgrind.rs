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

/// One kind of error memcheck reported: its headline, its first frames and how often.
#[derive(Debug, PartialEq)]
struct Kind {
    headline: String,
    frames: Vec<String>,
    count: usize,
    in_plugin: bool,
}

/// The errors in one memcheck log, grouped by headline and first three frames. Errors that
/// are glibc's dynamic loader reading a string a word at a time (`strncmp` from `is_dst`:
/// memcheck's known false positive) are counted apart.
pub fn summary(log: &str) -> Value {
    let mut kinds: BTreeMap<(String, Vec<String>), Kind> = BTreeMap::new();
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
        let frames: Vec<String> = stack.iter().take(3).cloned().collect();
        let in_plugin = stack.iter().any(|f| f.contains("obs_vrm_avatar"));
        let kind = kinds
            .entry((line.to_string(), frames.clone()))
            .or_insert(Kind {
                headline: line.to_string(),
                frames,
                count: 0,
                in_plugin: false,
            });
        kind.count += 1;
        kind.in_plugin |= in_plugin;
    }
    let mut list: Vec<Kind> = kinds.into_values().collect();
    list.sort_by_key(|k| std::cmp::Reverse(k.count));
    json!({
        "errors": list.iter().map(|k| k.count).sum::<usize>(),
        "writes": list.iter().filter(|k| k.headline.starts_with("Invalid write")).map(|k| k.count).sum::<usize>(),
        "in_plugin": list.iter().filter(|k| k.in_plugin).map(|k| k.count).sum::<usize>(),
        "loader_false_positives": loader,
        "kinds": list.iter().map(|k| json!({
            "headline": k.headline, "count": k.count, "frames": k.frames, "in_plugin": k.in_plugin,
        })).collect::<Vec<_>>(),
    })
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
==7==    at 0x1: memcpy (vg_replace_strmem.c:1)
==7==    by 0x2: obs_vrm_avatar::camera::copy (libobs_vrm_avatar.so)
==7==    by 0x3: video_tick (libobs.so.29)
==7==  Address 0x5 is 0 bytes after a block of size 16 alloc'd
==7==    at 0x6: malloc (vg_replace_malloc.c:1)
==7== 
==7== Invalid write of size 4
==7==    at 0x1: memcpy (vg_replace_strmem.c:1)
==7==    by 0x2: obs_vrm_avatar::camera::copy (libobs_vrm_avatar.so)
==7==    by 0x3: video_tick (libobs.so.29)
==7== 
==7== Invalid read of size 1
==7==    at 0x9: async_tick (obs-source.c:1)
==7== 
";

    #[test]
    fn errors_are_grouped_and_the_loaders_false_positive_set_apart() {
        let s = summary(LOG);
        assert_eq!(s["errors"], 3);
        assert_eq!(s["writes"], 2);
        assert_eq!(s["in_plugin"], 2);
        assert_eq!(s["loader_false_positives"], 1);
        assert_eq!(s["kinds"][0]["count"], 2);
        assert_eq!(
            s["kinds"][0]["frames"][1],
            "0x2: obs_vrm_avatar::camera::copy (libobs_vrm_avatar.so)"
        );
        assert_eq!(s["kinds"][1]["headline"], "Invalid read of size 1");
        assert_eq!(s["kinds"][1]["in_plugin"], false);
    }
}
