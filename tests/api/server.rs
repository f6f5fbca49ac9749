//! The `ballsy` binary as a child process, for tests that need the real process: logs on
//! stdout, exit codes, signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test: BALLSY_BIN (CI points it at the release build) or this build's.
pub fn binary() -> String {
    std::env::var("BALLSY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ballsy").to_owned())
}

/// A running `ballsy serve` with its stdout captured line by line.
pub struct Server {
    child: Child,
    pub port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn capture(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Server {
    /// Starts the binary with exactly `env` (plus PORT=0 unless given) and waits for it to
    /// announce its port.
    pub fn start(env: &[(&str, String)]) -> Server {
        let mut command = Command::new(binary());
        command
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !env.iter().any(|(k, _)| *k == "PORT") {
            command.env("PORT", "0");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("ballsy starts");
        let stdout = capture(child.stdout.take().unwrap());
        let stderr = capture(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            let announced = stdout.lock().unwrap().iter().find_map(|line| {
                let value: Value = serde_json::from_str(line).ok()?;
                value["message"]
                    .as_str()?
                    .starts_with("Ballsy is listening")
                    .then(|| value["port"].as_u64())?
            });
            if let Some(port) = announced {
                break port as u16;
            }
            assert!(
                Instant::now() < deadline,
                "no start-up line; stdout: {:?} stderr: {:?}",
                stdout.lock().unwrap(),
                stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Server {
            child,
            port,
            stdout,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    #[allow(dead_code)] // used by tests/reliability.rs
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every stdout line, which in JSON mode must each be one JSON object.
    pub fn log_lines(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"))
            })
            .collect()
    }

    pub fn all_output(&self) -> String {
        let mut out = self.stdout.lock().unwrap().join("\n");
        out.push('\n');
        out.push_str(&self.stderr.lock().unwrap().join("\n"));
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
