//! Crash points for crash tests: the storage crates call [`point`] just before each step of a multi-file
//! operation that decides what a crash leaves behind — an fsync, a rename, a directory sync, a removal. A
//! test runs a command with `TSDB_FAILPOINT` set and the process dies at the chosen point, as if killed:
//! nothing after it runs, no destructor, no buffered write.
//!
//! Environment (read once, at the first point reached):
//! - `TSDB_FAILPOINT=NAME` dies at the first `point(NAME)`; `NAME#N` at its N-th; `*#N` at the N-th point of
//!   any name. Unset (the normal case): every point is a relaxed atomic load and a branch.
//! - `TSDB_FAILPOINT_TRACE=FILE` appends the name of every point reached to FILE, one per line, so a test can
//!   first learn how many points a command passes and then crash it at each one.
//!
//! The process dies by `std::process::abort`, which like SIGKILL leaves the files as the kernel has them.
//!
//! This crate depends on nothing and knows nothing of the formats; the names are chosen by the callers
//! (`crate.what.step`, e.g. `block.commit.rename`).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Which point kills the process, parsed from `TSDB_FAILPOINT`.
struct Plan {
    /// `None` for any name (`*`).
    name: Option<String>,
    /// The hit (1-based) that kills.
    nth: u64,
}

struct Config {
    plan: Option<Plan>,
    trace: Option<Mutex<std::fs::File>>,
}

static CONFIG: OnceLock<Config> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

fn config() -> &'static Config {
    CONFIG.get_or_init(|| {
        let plan = std::env::var("TSDB_FAILPOINT").ok().and_then(|v| {
            let (name, nth) = match v.rsplit_once('#') {
                Some((n, k)) => (n.to_string(), k.parse().ok()?),
                None => (v.clone(), 1),
            };
            Some(Plan {
                name: (name != "*").then_some(name),
                nth,
            })
        });
        let trace = std::env::var_os("TSDB_FAILPOINT_TRACE").and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
                .map(Mutex::new)
        });
        Config { plan, trace }
    })
}

/// A crash point named `name`: returns at once unless the environment (see the crate docs) chose it, in
/// which case the process dies here.
#[inline]
pub fn point(name: &str) {
    let c = config();
    if c.plan.is_none() && c.trace.is_none() {
        return;
    }
    hit(c, name);
}

#[cold]
fn hit(c: &Config, name: &str) {
    if let Some(t) = &c.trace {
        if let Ok(mut f) = t.lock() {
            let _ = writeln!(f, "{name}");
        }
    }
    if let Some(p) = &c.plan {
        if p.name.as_deref().is_none_or(|n| n == name) {
            let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
            if n == p.nth {
                std::process::abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unset_points_return() {
        // The test process has no TSDB_FAILPOINT: reaching a point does nothing.
        super::point("test.point");
    }
}
