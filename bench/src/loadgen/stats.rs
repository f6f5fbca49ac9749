//! The pure parts of the load generator: latency histograms, percentile summaries, command
//! templates and chunk stamps. Everything here is deterministic and unit-tested.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest value a histogram records, in microseconds (one minute); larger values are clamped.
const MAX_MICROS: u64 = 60_000_000;

/// A latency histogram in microseconds: three significant figures (0.1% error), 1 µs to 60 s.
#[derive(Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
    /// Values that had to be clamped to the range (negative deltas or beyond a minute).
    clamped: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latencies")
            .field("summary", &self.summary())
            .finish()
    }
}

impl Latencies {
    pub fn new() -> Self {
        Self {
            // Bounds and precision are constants that hdrhistogram accepts.
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("valid histogram bounds"),
            clamped: 0,
        }
    }

    pub fn record(&mut self, elapsed: Duration) {
        self.record_micros(i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX));
    }

    /// Records a signed value: below 0 counts as 0 (a clock step), above a minute as a minute;
    /// both are counted in [`Percentiles::clamped`].
    pub fn record_micros(&mut self, micros: i64) {
        let value = match u64::try_from(micros) {
            Ok(v) if v <= MAX_MICROS => v,
            Ok(_) => {
                self.clamped += 1;
                MAX_MICROS
            }
            Err(_) => {
                self.clamped += 1;
                0
            }
        };
        // `saturating_record` clamps to the histogram's range, so this cannot fail.
        self.histogram.saturating_record(value);
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        self.clamped += other.clamped;
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    pub fn summary(&self) -> Percentiles {
        if self.histogram.is_empty() {
            return Percentiles::default();
        }
        let h = &self.histogram;
        Percentiles {
            count: h.len(),
            min_us: h.min(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            clamped: self.clamped,
        }
    }
}

/// A latency distribution summary, in microseconds. Quantiles are hdrhistogram's: the value
/// at or below which that fraction of samples falls, within 0.1%.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Samples outside 0..=60 s that were recorded at the nearest bound.
    pub clamped: u64,
}

impl Percentiles {
    /// `p50 0.42 ms · p99 1.90 ms · max 4.00 ms`, for logs.
    pub fn brief(&self) -> String {
        format!(
            "p50 {} · p90 {} · p99 {} · max {} (n={})",
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.max_us),
            self.count
        )
    }
}

/// Microseconds as milliseconds with two decimals: `1234` -> `1.23 ms`.
pub fn ms(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

/// Expands a command template: every `{k}` becomes `k`.
pub fn expand(template: &str, k: u64) -> String {
    template.replace("{k}", &k.to_string())
}

/// Microseconds since the Unix epoch on this machine's clock, the clock the fake Gemini stamps
/// chunks with (same machine, so no skew).
pub fn unix_micros_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Reads the `[t:<unix micros>]` stamp the fake Gemini puts at the start of a chunk's text
/// (`stamp_chunks`); `None` when the text does not start with one.
pub fn parse_stamp(text: &str) -> Option<i64> {
    let rest = text.strip_prefix("[t:")?;
    let end = rest.find(']')?;
    let digits = &rest[..end];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Every `[t:…]` stamp anywhere in `text`, in order (an SSE event or a final answer can carry
/// several).
pub fn find_stamps(text: &str) -> Vec<i64> {
    let mut stamps = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("[t:") {
        rest = &rest[at..];
        if let Some(stamp) = parse_stamp(rest) {
            stamps.push(stamp);
        }
        rest = &rest[3..];
    }
    stamps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latencies::new();
        for v in 1..=1000u64 {
            l.record(Duration::from_micros(v));
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min_us, 1);
        assert_eq!(s.max_us, 1000);
        assert_eq!(s.p50_us, 500);
        assert_eq!(s.p90_us, 900);
        assert_eq!(s.p99_us, 990);
        assert!((s.mean_us - 500.5).abs() < 0.5, "{}", s.mean_us);
        assert_eq!(s.clamped, 0);
    }

    #[test]
    fn large_values_keep_three_significant_figures() {
        let mut l = Latencies::new();
        l.record(Duration::from_micros(123_456));
        let p = l.summary().p50_us;
        assert!((123_300..=123_600).contains(&p), "{p}");
    }

    #[test]
    fn empty_histograms_summarise_to_zero() {
        let s = Latencies::new().summary();
        assert_eq!(s, Percentiles::default());
    }

    #[test]
    fn out_of_range_values_are_clamped_and_counted() {
        let mut l = Latencies::new();
        l.record_micros(-5);
        l.record_micros(MAX_MICROS as i64 * 2);
        let s = l.summary();
        assert_eq!(s.count, 2);
        assert_eq!(s.min_us, 0);
        assert!(s.max_us >= MAX_MICROS);
        assert_eq!(s.clamped, 2);
    }

    #[test]
    fn merging_adds_samples() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_micros(20));
        b.record_micros(-1);
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.count, 3);
        assert_eq!(s.max_us, 20);
        assert_eq!(s.clamped, 1);
    }

    #[test]
    fn templates_expand_every_placeholder() {
        assert_eq!(expand("5 + {k}", 7), "5 + 7");
        assert_eq!(expand("{k} and {k}", 12), "12 and 12");
        assert_eq!(expand("hello", 3), "hello");
    }

    #[test]
    fn stamps_parse_only_at_the_start() {
        assert_eq!(
            parse_stamp("[t:1764010000123456]This is"),
            Some(1_764_010_000_123_456)
        );
        assert_eq!(parse_stamp("[t:42]"), Some(42));
        assert_eq!(parse_stamp(" [t:42]x"), None);
        assert_eq!(parse_stamp("[t:]x"), None);
        assert_eq!(parse_stamp("[t:12a]x"), None);
        assert_eq!(parse_stamp("[t:-3]x"), None);
        assert_eq!(parse_stamp("[t:123"), None);
        assert_eq!(parse_stamp("plain text"), None);
    }

    #[test]
    fn stamps_are_found_anywhere() {
        assert_eq!(
            find_stamps("[t:1]This is [t:22]a streamed [t:x] [t:333]answer."),
            vec![1, 22, 333]
        );
        assert!(find_stamps("no stamps [t:").is_empty());
    }

    #[test]
    fn millisecond_formatting() {
        assert_eq!(ms(1234), "1.23 ms");
        assert_eq!(ms(0), "0.00 ms");
    }
}
