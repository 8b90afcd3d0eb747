//! Draining a child's stdout and stderr: the pipes must be read continuously
//! or the server blocks on a full pipe, and the last lines are what a failure
//! message needs.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const KEEP_LINES: usize = 300;
/// Set to echo the server's output live (to the test's stderr).
pub const ECHO_ENV: &str = "MERIDIAN_TEST_ECHO";

/// The last lines a process printed, across restarts, tagged by stream and start.
#[derive(Clone, Default)]
pub struct OutputTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl OutputTail {
    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == KEEP_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn text(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for line in lines.iter() {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    pub fn contains(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .iter()
            .any(|l| l.to_ascii_lowercase().contains(&needle))
    }
}

/// Reads `pipe` line by line into `tail` until EOF. A line containing
/// `signal_on` is reported once on `signal`.
pub fn drain(
    pipe: impl Read + Send + 'static,
    tag: String,
    tail: OutputTail,
    signal_on: Option<(&'static str, Sender<()>)>,
) -> std::io::Result<JoinHandle<()>> {
    let echo = std::env::var_os(ECHO_ENV).is_some();
    std::thread::Builder::new()
        .name(format!("drain {tag}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut signal_on = signal_on;
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                if let Some((needle, tx)) = &signal_on {
                    if line.contains(needle) {
                        // The receiver may be gone (start gave up); the line is still kept.
                        let _ = tx.send(());
                        signal_on = None;
                    }
                }
                if echo {
                    eprintln!("{tag} {line}");
                }
                tail.push(format!("{tag} {line}"));
            }
        })
}
