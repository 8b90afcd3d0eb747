//! The result of a run, as JSON or as a table.

use std::time::Duration;

use serde_json::{json, Value};

use crate::cli::S3Run;
use crate::stats::percentile;

#[derive(Debug, Clone)]
pub struct Report {
    pub op: &'static str,
    pub size_bytes: u64,
    pub concurrency: usize,
    pub duration_s: f64,
    pub ops: u64,
    pub ops_per_s: f64,
    /// MB = 10^6 bytes.
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

impl Report {
    /// `sorted_latencies_ms` holds one entry per successful request.
    pub fn new(cfg: &S3Run, elapsed: Duration, sorted_latencies_ms: &[f64], errors: u64) -> Self {
        let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let ops = sorted_latencies_ms.len() as u64;
        Self {
            op: cfg.op.name(),
            size_bytes: cfg.size,
            concurrency: cfg.concurrency,
            duration_s: secs,
            ops,
            ops_per_s: ops as f64 / secs,
            mb_per_s: (ops as f64 * cfg.size as f64) / secs / 1e6,
            p50_ms: percentile(sorted_latencies_ms, 50.0),
            p99_ms: percentile(sorted_latencies_ms, 99.0),
            errors,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "op": self.op,
            "size_bytes": self.size_bytes,
            "concurrency": self.concurrency,
            "duration_s": round3(self.duration_s),
            "ops": self.ops,
            "ops_per_s": round3(self.ops_per_s),
            "mb_per_s": round3(self.mb_per_s),
            "p50_ms": round3(self.p50_ms),
            "p99_ms": round3(self.p99_ms),
            "errors": self.errors,
        })
    }

    pub fn to_table(&self) -> String {
        let rows = [
            ("op", self.op.to_string()),
            ("size", format!("{} bytes", self.size_bytes)),
            ("concurrency", self.concurrency.to_string()),
            ("duration", format!("{:.2} s", self.duration_s)),
            ("ops", self.ops.to_string()),
            ("ops/s", format!("{:.1}", self.ops_per_s)),
            ("MB/s", format!("{:.2}", self.mb_per_s)),
            ("p50", format!("{:.2} ms", self.p50_ms)),
            ("p99", format!("{:.2} ms", self.p99_ms)),
            ("errors", self.errors.to_string()),
        ];
        let mut out = String::new();
        for (name, value) in rows {
            out.push_str(&format!("{name:<12} {value:>16}\n"));
        }
        out
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Op;

    #[test]
    fn throughput_uses_decimal_megabytes() {
        let cfg = S3Run {
            endpoint: String::new(),
            op: Op::Put,
            size: 1_000_000,
            concurrency: 2,
            duration: Duration::from_secs(2),
            bucket: String::new(),
            creds: Default::default(),
            protocol: crate::cli::Protocol::S3,
        };
        let lat: Vec<f64> = (1..=10).map(f64::from).collect();
        let r = Report::new(&cfg, Duration::from_secs(2), &lat, 1);
        assert_eq!(r.ops, 10);
        assert_eq!(r.ops_per_s, 5.0);
        assert_eq!(r.mb_per_s, 5.0);
        assert_eq!(r.p50_ms, 5.0);
        assert_eq!(r.p99_ms, 10.0);
        let j = r.to_json();
        for field in [
            "op",
            "size_bytes",
            "concurrency",
            "duration_s",
            "ops",
            "ops_per_s",
            "mb_per_s",
            "p50_ms",
            "p99_ms",
            "errors",
        ] {
            assert!(j.get(field).is_some(), "{field} missing");
        }
        assert!(r.to_table().contains("MB/s"));
    }
}
