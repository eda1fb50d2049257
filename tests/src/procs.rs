//! What the benchmarks read about processes: their CPU time and the
//! processes below them (from `/proc`), and their log lines.

use anyhow::Result;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn clock_ticks_per_second() -> Result<f64> {
    let output = std::process::Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// User + system clock ticks of `root` alone, and of `root` with every
/// process below it.
pub fn cpu_ticks(root: u32) -> Result<(u64, u64)> {
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are the 14th and 15th fields; the 3rd is first here.
        let field = |n: usize| fields.get(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        field(11) + field(12)
    };
    let tree = process_tree(root)?;
    Ok((ticks(root), tree.into_iter().map(ticks).sum()))
}

/// `root` and every process below it.
pub fn process_tree(root: u32) -> Result<Vec<u32>> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the parenthesised name.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        if let Some(ppid) = after_name
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
        {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(pid, _)| *pid));
        index += 1;
    }
    Ok(tree)
}

/// A log line without its terminal colour codes.
pub fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for code in chars.by_ref() {
                if code == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Waits (up to 30 s) until the log at `log` has `times` lines with `text`.
pub async fn wait_for_log(log: &Path, text: &str, times: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let content = std::fs::read_to_string(log).unwrap_or_default();
        if content.lines().filter(|line| line.contains(text)).count() >= times {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the app never logged {text:?} {times} times"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
