//! A one-line progress display on stderr for long work, drawn only when stderr is a terminal (never into
//! a pipe or a file, so logs and scripts see only the results) and redrawn at most five times a second.
//! The line is erased when the work ends.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Redraws at most this often.
const EVERY: Duration = Duration::from_millis(200);

/// A progress line: `LABEL: MESSAGE (12 s)`.
pub struct Progress {
    label: &'static str,
    enabled: bool,
    started: Instant,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    /// A progress line for `label`, shown only if stderr is a terminal.
    pub fn new(label: &'static str) -> Progress {
        Progress {
            label,
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
            drawn: false,
        }
    }

    /// Redraws the line with the message `msg()` if the last draw is old enough (the first draw waits a
    /// moment: short work shows nothing). Cheap when nothing is drawn.
    pub fn update(&mut self, msg: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let due = match self.last {
            Some(t) => now.duration_since(t) >= EVERY,
            None => now.duration_since(self.started) >= EVERY * 2,
        };
        if !due {
            return;
        }
        self.last = Some(now);
        let secs = now.duration_since(self.started).as_secs_f64();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{}: {} ({secs:.0} s)", self.label, msg());
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the line, if one was drawn.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
