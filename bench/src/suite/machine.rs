//! Where and how a run happened: the machine, the commit and the command line.

use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may run on (`nproc`).
    pub cores: usize,
    pub cpu_model: String,
    pub memory_total_mib: u64,
    pub kernel: String,
    /// Short commit of the workspace, read from `.git` (`unknown` outside a checkout).
    pub commit: String,
    /// The command line as run, e.g. `cargo run --release -p ballsy-bench --bin bench -- all`.
    pub command: String,
    /// Start of the run, UTC, RFC 3339.
    pub started_at: String,
    pub open_files_limit: String,
}

impl Machine {
    pub fn detect(workspace: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            memory_total_mib: field(&meminfo, "MemTotal")
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into()),
            commit: commit(workspace).unwrap_or_else(|| "unknown".into()),
            command: command_line(),
            started_at: now_rfc3339(),
            open_files_limit: limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| {
                    l.split_whitespace()
                        .skip(3)
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" / ")
                })
                .unwrap_or_default(),
        }
    }
}

/// `key : value` from /proc-style text.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// The benchmark as the documented cargo command when run through `cargo run` (the binary
/// lives in a target directory), else the literal argv.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let rest = args.get(1..).unwrap_or_default().join(" ");
    let exe = args.first().cloned().unwrap_or_default();
    if exe.contains("/release/") {
        format!("cargo run --release -p ballsy-bench --bin bench -- {rest}")
    } else {
        args.join(" ")
    }
}

/// The checked-out commit, read from the repository files rather than by running git:
/// `.git/HEAD` names a ref (or is a detached hash); the ref is a loose file or in
/// `packed-refs`. `.git` may also be a file pointing elsewhere (worktrees).
pub fn commit(workspace: &Path) -> Option<String> {
    if let Ok(commit) = std::env::var("BENCH_COMMIT")
        && !commit.trim().is_empty()
    {
        return Some(commit.trim().to_owned());
    }
    let mut git = workspace.join(".git");
    if git.is_file() {
        let pointer = std::fs::read_to_string(&git).ok()?;
        git = workspace.join(pointer.trim().strip_prefix("gitdir:")?.trim());
    }
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let hash = match head.strip_prefix("ref:") {
        None => head.to_owned(),
        Some(name) => {
            let name = name.trim();
            // Worktrees keep refs in the common directory.
            let common = std::fs::read_to_string(git.join("commondir"))
                .map(|c| git.join(c.trim()))
                .unwrap_or_else(|_| git.clone());
            match std::fs::read_to_string(common.join(name)) {
                Ok(hash) => hash.trim().to_owned(),
                Err(_) => std::fs::read_to_string(common.join("packed-refs"))
                    .ok()?
                    .lines()
                    .find_map(|l| {
                        let (hash, r) = l.split_once(' ')?;
                        (r == name).then(|| hash.to_owned())
                    })?,
            }
        }
    };
    (hash.len() >= 7 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hash[..7].to_owned())
}

/// UTC now as `2026-11-24T19:30:00Z` (no chrono in this crate: civil-from-days by hand).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's algorithm: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn proc_fields() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC\n";
        assert_eq!(field(text, "model name").as_deref(), Some("AMD EPYC"));
        assert_eq!(field(text, "missing"), None);
    }
}
