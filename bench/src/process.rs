//! Servers as child processes: start them with a clean environment, wait for an HTTP status,
//! read their memory and CPU time from `/proc`, stop them with SIGTERM.
//!
//! Processes rather than in-process servers, so that RSS and CPU time are the server's alone
//! and the binary measured is the release binary that ships.
//!
//! A server's stdout and stderr go to a file, not a pipe: a pipe drained by this (busy) process
//! can fill up and block the server's log writes, which once made `LOG_LEVEL=info` look 40%
//! slower than it is. Writing to a file costs the server what writing to a fast reader does.

use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use tokio::process::{Child, Command};

/// Output lines shown in error messages.
const KEPT_LINES: usize = 40;
static LOG_COUNTER: AtomicU64 = AtomicU64::new(0);
/// Linux's USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on every mainstream
/// architecture).
const CLOCK_TICKS_PER_SEC: u64 = 100;

/// A port that was free a moment ago (bound, read, released). A server told to use it is
/// polled without having to parse its logs; on a benchmark machine nothing else takes it.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// How a server process is started.
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The whole environment besides `PATH` and `HOME`: nothing leaks in from the caller's
    /// shell (a stray `DATABASE_URL` would change what is measured).
    pub env: Vec<(String, String)>,
}

impl Launch {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    fn command(&self, log: &std::fs::File) -> io::Result<Command> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(
                ["PATH", "HOME"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
            )
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log.try_clone()?))
            .kill_on_drop(true);
        Ok(command)
    }
}

/// Memory of a process, from /proc/PID/status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcStatus {
    /// Resident set size now.
    pub rss_kib: u64,
    /// Peak resident set size so far.
    pub hwm_kib: u64,
    pub threads: u64,
    /// Open file descriptors (sockets included).
    pub open_fds: u64,
}

impl ProcStatus {
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }

    pub fn hwm_mib(&self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }
}

pub fn proc_status(pid: u32) -> anyhow::Result<ProcStatus> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let mut status = parse_status(&text);
    status.open_fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    Ok(status)
}

fn parse_status(text: &str) -> ProcStatus {
    let mut status = ProcStatus::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        match key {
            "VmRSS" => status.rss_kib = number,
            "VmHWM" => status.hwm_kib = number,
            "Threads" => status.threads = number,
            _ => {}
        }
    }
    status
}

/// User plus system CPU time of a process (all its threads), at 10 ms resolution.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_ticks(&text)
        .map(|ticks| Duration::from_millis(ticks * 1000 / CLOCK_TICKS_PER_SEC))
        .context("unexpected /proc/PID/stat format")
}

/// CPU time of a process's live threads at nanosecond resolution: the sum of each thread's
/// `/proc/PID/task/TID/schedstat` run time. Threads that already exited are not counted, so
/// this is for windows in which the set of threads is stable (an idle server).
pub fn cpu_time_precise(pid: u32) -> anyhow::Result<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("listing /proc/{pid}/task"))?
    {
        let path = task?.path().join("schedstat");
        // A thread may exit between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let ns: u64 = text
            .split_whitespace()
            .next()
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("unexpected {}", path.display()))?;
        total += ns;
    }
    Ok(Duration::from_nanos(total))
}

/// utime + stime from a /proc/PID/stat line. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// One blocking `GET path` on loopback with `Connection: close`; the status code.
pub fn http_status(addr: SocketAddr, path: &str, io_timeout: Duration) -> io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, io_timeout)?;
    stream.set_read_timeout(Some(io_timeout))?;
    stream.set_write_timeout(Some(io_timeout))?;
    stream.set_nodelay(true)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut head[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    parse_status_line(&head[..read])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response"))
}

fn parse_status_line(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head.get(..12)?).ok()?;
    let code = text.strip_prefix("HTTP/1.")?.get(2..5)?;
    code.parse().ok()
}

/// Polls `GET path` until it answers 200 or `deadline` passes; the moment it did. Blocking,
/// with a sub-millisecond interval, for start-up timing (run it on a blocking thread). Gives
/// up early when process `pid` has exited.
pub fn poll_until_ok(
    addr: SocketAddr,
    path: &str,
    interval: Duration,
    deadline: Instant,
    pid: u32,
) -> Option<Instant> {
    for attempt in 0u64.. {
        if let Ok(200) = http_status(addr, path, Duration::from_secs(2)) {
            return Some(Instant::now());
        }
        if Instant::now() >= deadline || (attempt % 200 == 199 && !is_running(pid)) {
            return None;
        }
        std::thread::sleep(interval);
    }
    None
}

/// False once the process has exited (gone, or a zombie waiting to be reaped).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        !matches!(state, Some("Z") | Some("X") | None)
    })
}

/// A running server process. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    /// Just before the spawn.
    spawned_at: Instant,
    /// Where stdout and stderr go; removed with the process.
    log: PathBuf,
    name: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // `kill_on_drop` ends the process if it still runs; its log goes with it.
        let _ = std::fs::remove_file(&self.log);
    }
}

impl ServerProcess {
    /// Starts `launch`, which must serve HTTP on `port` of 127.0.0.1 (the caller passes the
    /// port in the environment or arguments). Returns at once; see [`Self::wait_ok`].
    pub fn spawn(name: &str, launch: &Launch, port: u16) -> anyhow::Result<Self> {
        let log = std::env::temp_dir().join(format!(
            "ballsy-bench-{}-{}-{name}.log",
            std::process::id(),
            LOG_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = launch.command(&file)?;
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", launch.program.display()))?;
        let pid = child
            .id()
            .context("the process exited before it could be observed")?;
        Ok(Self {
            child,
            pid,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            spawned_at,
            log,
            name: name.to_owned(),
        })
    }

    /// Spawns and waits until `GET ready_path` answers 200.
    pub async fn start(
        name: &str,
        launch: &Launch,
        port: u16,
        ready_path: &str,
        wait: Duration,
    ) -> anyhow::Result<Self> {
        let mut process = Self::spawn(name, launch, port)?;
        process.wait_ok(ready_path, wait).await?;
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ws_base(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// Waits until `GET path` answers 200; the time since the spawn. Fails early, with the
    /// process's last output, if it exits.
    pub async fn wait_ok(&mut self, path: &str, wait: Duration) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + wait;
        loop {
            let (addr, p) = (self.addr, path.to_owned());
            let status =
                tokio::task::spawn_blocking(move || http_status(addr, &p, Duration::from_secs(2)))
                    .await?;
            if let Ok(200) = status {
                return Ok(self.spawned_at.elapsed());
            }
            if let Some(exit) = self.child.try_wait()? {
                bail!(
                    "{} exited with {exit} before {path} answered 200; last output:\n{}",
                    self.name,
                    self.recent_output().join("\n")
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not answer 200 on {path} within {wait:?}; last output:\n{}",
                    self.name,
                    self.recent_output().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn status(&self) -> anyhow::Result<ProcStatus> {
        proc_status(self.pid)
    }

    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid)
    }

    /// The last lines the process wrote (stdout and stderr interleaved).
    pub fn recent_output(&self) -> Vec<String> {
        let text = std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(KEPT_LINES)..]
            .iter()
            .map(|l| (*l).to_owned())
            .collect()
    }

    /// Lines and bytes written so far (the log volume).
    pub fn output_volume(&self) -> (u64, u64) {
        std::fs::read(&self.log).map_or((0, 0), |bytes| {
            let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
            (lines, bytes.len() as u64)
        })
    }

    /// SIGTERM, then up to `grace` for a clean exit, then SIGKILL.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        // `kill` the command: std has no way to send SIGTERM without unsafe code.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

/// The file's size in bytes and whether it still has a symbol table (`.symtab`): a stripped
/// ELF binary has none.
pub fn binary_info(path: &Path) -> anyhow::Result<(u64, bool)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let has_symtab = bytes.windows(8).any(|w| w == b".symtab\0");
    Ok((bytes.len() as u64, has_symtab))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let text = "Name:\tballsy\nVmPeak:\t  100 kB\nVmHWM:\t   9876 kB\nVmRSS:\t    5432 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(text),
            ProcStatus {
                rss_kib: 5432,
                hwm_kib: 9876,
                threads: 3,
                open_fds: 0
            }
        );
    }

    #[test]
    fn cpu_ticks_survive_odd_command_names() {
        let stat =
            "1234 (tokio (rt) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn running_processes() {
        assert!(is_running(std::process::id()));
        assert!(!is_running(u32::MAX));
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503 Service"), Some(503));
        assert_eq!(parse_status_line(b"HTTP/1.1"), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH_9"), None);
    }
}
