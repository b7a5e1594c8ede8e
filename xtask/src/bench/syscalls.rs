//! System calls per echo, counted in the bench: `strace -f -c` attached to the running
//! server for one counted load, then detached. ptrace stops the server at every call,
//! so such a run is slow and times nothing; the counts are what the figure is. (`cargo
//! xtask trace` gives the same count call by call, from a server started under strace.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long strace may take to attach to every thread, and to detach and write.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// The `strace` on PATH, if any.
fn strace_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("strace"))
        .find(|p| p.is_file())
}

/// The strace to count with, or why system calls cannot be counted here: strace is
/// not installed, or the Yama security module lets no one but root attach to a
/// process that is not its own descendant (the server is strace's sibling).
pub fn strace() -> Result<PathBuf, String> {
    let strace = strace_on_path()
        .ok_or("strace is not installed (apt-get install strace, dnf install strace)")?;
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope");
    let scope: u8 = scope.ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    match (scope, root) {
        (0, _) | (1 | 2, true) => Ok(strace),
        _ => Err(format!(
            "kernel.yama.ptrace_scope = {scope} keeps strace from attaching to the server"
        )),
    }
}

/// strace attached to a process, counting its calls; killed if dropped early.
pub struct Counting {
    child: Option<Child>,
    out: PathBuf,
}

impl Counting {
    /// Attaches `strace -f -c` to every thread of `pid` and waits until it has.
    pub fn attach(strace: &Path, pid: Pid, out: PathBuf) -> Result<Counting> {
        let child = Command::new(strace)
            .args(["-f", "-c", "-qq", "-o"])
            .arg(&out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start strace")?;
        let counting = Counting {
            child: Some(child),
            out,
        };
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        while !traced(pid)? {
            if Instant::now() > deadline {
                bail!("strace did not attach to the server");
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(counting)
    }

    /// Detaches (SIGINT to strace) and returns the calls counted, by name.
    pub fn finish(mut self) -> Result<Vec<(String, u64)>> {
        let mut child = self.child.take().context("strace already finished")?;
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).context("signal strace")?;
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("strace did not detach");
            }
            thread::sleep(Duration::from_millis(5));
        }
        let text = std::fs::read_to_string(&self.out)
            .with_context(|| format!("cannot read {}", self.out.display()))?;
        let _ = std::fs::remove_file(&self.out);
        Ok(parse_summary(&text))
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether every thread of `pid` has a tracer.
fn traced(pid: Pid) -> Result<bool> {
    let dir = format!("/proc/{pid}/task");
    for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {dir}"))? {
        let status = std::fs::read_to_string(entry?.path().join("status")).unwrap_or_default();
        let tracer = status
            .lines()
            .find_map(|l| l.strip_prefix("TracerPid:"))
            .map(str::trim);
        if matches!(tracer, Some("0") | None) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The rows of `strace -c`'s table: `% time  seconds  usecs/call  calls  [errors]
/// syscall`; the calls column is the fourth, the name the last.
pub fn parse_summary(text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(calls)) = (cells.last(), cells.get(3)) else {
            continue;
        };
        if cells.len() < 5
            || *name == "total"
            || !cells[0].starts_with(|c: char| c.is_ascii_digit())
        {
            continue;
        }
        if let Ok(n) = calls.parse() {
            out.push((name.to_string(), n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_table() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.000600           1       400           io_uring_enter
 40.00    0.000400           0       900        12 epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           0      1300        12 total
";
        assert_eq!(
            parse_summary(text),
            [
                ("io_uring_enter".to_string(), 400),
                ("epoll_wait".to_string(), 900)
            ]
        );
    }
}
