//! Scenario 5: the size of the stripped release binary, and what it means for the image.

use std::path::Path;
use std::process::Stdio;

use serde::Serialize;

use super::{Check, Measured, Settings};
use crate::process::binary_info;

const SCENARIO: &str = "5. size";
const TARGET_BYTES: u64 = 25_000_000;

#[derive(Debug, Clone, Serialize)]
pub struct SizeResult {
    pub path: String,
    pub bytes: u64,
    /// True when the ELF file still has a symbol table (then it is not stripped).
    pub has_symbol_table: bool,
    /// `gzip -6` of the binary: roughly what the image layer costs to push and pull.
    pub gzip_bytes: Option<u64>,
}

impl Measured for SizeResult {
    fn render(&self, report: &mut String) {
        super::report::size(self, report);
    }

    fn checks(&self) -> Vec<Check> {
        vec![Check::new(
            SCENARIO,
            "stripped release binary ≤ 25 MB",
            format!(
                "{:.1} MB ({} bytes){}",
                self.bytes as f64 / 1e6,
                self.bytes,
                if self.has_symbol_table {
                    ", NOT stripped"
                } else {
                    ", stripped"
                }
            ),
            self.bytes <= TARGET_BYTES && !self.has_symbol_table,
        )]
    }
}

pub async fn run(settings: &Settings) -> anyhow::Result<SizeResult> {
    let binary = settings.ballsy_bin.as_path();
    let (bytes, has_symbol_table) = binary_info(binary)?;
    let gzip_bytes = gzip_size(binary).await;
    eprintln!(
        "   {}: {bytes} bytes, symbol table: {has_symbol_table}, gzip: {gzip_bytes:?}",
        binary.display()
    );
    Ok(SizeResult {
        path: binary.display().to_string(),
        bytes,
        has_symbol_table,
        gzip_bytes,
    })
}

/// Compressed size through the `gzip` tool, if it is installed.
async fn gzip_size(binary: &Path) -> Option<u64> {
    let output = tokio::process::Command::new("gzip")
        .arg("-6")
        .arg("-c")
        .arg(binary)
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    output
        .status
        .success()
        .then_some(output.stdout.len() as u64)
}
