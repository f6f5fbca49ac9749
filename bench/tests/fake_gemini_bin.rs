//! The `fake-gemini` binary: its announcement line, its flags and SIGTERM.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_announces_its_port_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-gemini"))
        .args([
            "--port",
            "0",
            "--reply",
            "one two three four",
            "--chunks",
            "2",
            "--ttft-ms",
            "10",
            "--chunk-delay-ms",
            "5",
            "--known-models",
            "a,b",
            "--stamp-chunks",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("announces in time")
        .unwrap()
        .expect("a line");
    let base = line
        .strip_prefix("fake-gemini listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(base.rsplit(':').next().unwrap().parse::<u16>().unwrap() > 0);

    let client = reqwest::Client::new();
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let missing = client
        .post(format!(
            "{base}/v1beta/models/c:streamGenerateContent?alt=sse"
        ))
        .header("x-goog-api-key", "k")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let raw = client
        .post(format!(
            "{base}/v1beta/models/b:streamGenerateContent?alt=sse"
        ))
        .header("x-goog-api-key", "k")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let texts: Vec<String> = raw
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let event: Value = serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap();
            event["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.iter().all(|t| t.starts_with("[t:")));
    let joined: String = texts.iter().map(|t| t.split_once(']').unwrap().1).collect();
    assert_eq!(joined, "one two three four");

    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped_at = Instant::now();
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
}
