//! A running program: spawned with its stdout read line by line (each line
//! timestamped on arrival and parsed with `shared`'s grammar), its stderr kept, ports
//! learned from its `listening` lines, signalled, waited for, and killed if whoever
//! started it lets go without stopping it.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shared::event::{Counts, Event};

/// One stdout line and when the suite read it.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub text: String,
}

impl Line {
    pub fn event(&self) -> Result<Event> {
        self.text
            .parse()
            .map_err(|e| anyhow!("stdout line outside the grammar: {e}"))
    }
}

/// A running program.
pub struct Running {
    child: Child,
    lines: Receiver<Line>,
    /// Every stdout line received so far, in order.
    pub seen: Vec<Line>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
    exited: Option<ExitStatus>,
}

/// How long a program may take to print its `listening` lines.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

impl Running {
    /// Starts `exe args…`, optionally inside network namespace `netns`.
    pub fn spawn(exe: &Path, args: &[&str], netns: Option<&str>) -> Result<Running> {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args(args);
        Running::start(cmd)
    }

    /// Starts a prepared command (limits, environment, …) with stdin closed and
    /// stdout and stderr read by the suite.
    pub fn start(mut cmd: Command) -> Result<Running> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut stderr_pipe = child.stderr.take().context("no stderr")?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for text in BufReader::new(stdout).lines() {
                let Ok(text) = text else { break };
                if tx
                    .send(Line {
                        at: Instant::now(),
                        text,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Ok(Running {
            child,
            lines: rx,
            seen: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            exited: None,
        })
    }

    /// Starts a server and waits for `count` `listening` lines; returns it with the
    /// addresses they announced.
    pub fn server(
        exe: &Path,
        args: &[&str],
        netns: Option<&str>,
        count: usize,
    ) -> Result<(Running, Vec<SocketAddr>)> {
        let mut run = Running::spawn(exe, args, netns)?;
        let addrs = run.listening(count)?;
        Ok((run, addrs))
    }

    /// Waits for the next `count` stdout lines, which must be `listening` lines, and
    /// returns the addresses they announce.
    pub fn listening(&mut self, count: usize) -> Result<Vec<SocketAddr>> {
        let mut addrs = Vec::new();
        while addrs.len() < count {
            let line = self
                .next_line(START_TIMEOUT)
                .with_context(|| format!("waiting for `listening` (stderr: {})", self.stderr()))?;
            match line.event()? {
                Event::Listening { addr, .. } => addrs.push(addr),
                other => bail!("expected a `listening` line first, got `{other}`"),
            }
        }
        Ok(addrs)
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// The next stdout line, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Result<Line> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Ok(line)
            }
            Err(RecvTimeoutError::Timeout) => bail!("no stdout line within {timeout:?}"),
            Err(RecvTimeoutError::Disconnected) => bail!("stdout closed"),
        }
    }

    /// Takes whatever lines have arrived, without waiting.
    pub fn collect(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// Reads lines until `done` holds for the lines seen so far, or `timeout`.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Line]) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        self.collect();
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("condition not reached within {timeout:?}");
            }
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if !done(&self.seen) {
                        bail!("stdout closed before the condition was reached");
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads lines until none has come for `quiet`: the program has finished
    /// reacting to what it was sent (the lines of one event come microseconds apart;
    /// `quiet` is the margin for a loaded machine). An error if it still prints
    /// `limit` later.
    pub fn settle(&mut self, quiet: Duration, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while self.next_line(quiet).is_ok() {
            if Instant::now() >= deadline {
                bail!("still printing {limit:?} later");
            }
        }
        Ok(())
    }

    /// SIGTERM, then its exit within `timeout`; an error unless it exits 0.
    pub fn terminate(&mut self, timeout: Duration) -> Result<()> {
        self.signal(Signal::SIGTERM)?;
        let status = self.wait_exit(timeout)?;
        if !status.success() {
            bail!(
                "exit status {status} after SIGTERM: {}",
                self.stderr().trim()
            );
        }
        Ok(())
    }

    /// Every stdout line seen so far, parsed; the first line outside the grammar is an
    /// error.
    pub fn events(&self) -> Result<Vec<Event>> {
        self.seen.iter().map(Line::event).collect()
    }

    pub fn signal(&self, sig: Signal) -> Result<()> {
        kill(self.pid(), sig).context("kill")
    }

    /// Waits for the process to exit, at most `timeout`; then reads the rest of stdout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.exited = Some(status);
                // The reader thread ends at EOF; collect everything it read.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(line);
                }
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("still running {timeout:?} later");
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the process with `sig` the way a user does and a check expects: exit 0
    /// within `timeout`, and a last line that is a summary. Returns every event line
    /// and that summary's counts, for the caller to hold against the lines.
    pub fn stop_with_summary(
        &mut self,
        sig: Signal,
        timeout: Duration,
    ) -> Result<(Vec<Event>, Counts)> {
        self.signal(sig)?;
        let status = self
            .wait_exit(timeout)
            .with_context(|| format!("after {sig:?}"))?;
        if !status.success() {
            bail!("{status} after {sig:?}; stderr: {}", self.stderr_excerpt());
        }
        let events = self.events()?;
        let Some(Event::Summary(c)) = events.last() else {
            bail!("last line is not a summary: {:?}", events.last());
        };
        let counts = c.clone();
        Ok((events, counts))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// What stderr says, for a one-line report: a panic's backtrace (printed when the
    /// caller's environment sets `RUST_BACKTRACE`) left out, at most five lines, joined
    /// with ` / `.
    pub fn stderr_excerpt(&self) -> String {
        excerpt(&self.stderr())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `exe args…` to completion (for `--help` and start-up errors), at most
/// `timeout`; returns its status, stdout and stderr.
pub fn run_to_end(
    exe: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<(ExitStatus, String, String)> {
    let mut run = Running::spawn(exe, args, None)?;
    let status = run.wait_exit(timeout)?;
    let stdout: Vec<String> = run.seen.iter().map(|l| l.text.clone()).collect();
    Ok((status, stdout.join("\n"), run.stderr()))
}

/// See [`Running::stderr_excerpt`].
fn excerpt(stderr: &str) -> String {
    const MOST: usize = 5;
    let lines: Vec<&str> = stderr
        .lines()
        .take_while(|l| !l.starts_with("stack backtrace:"))
        .filter(|l| !l.trim().is_empty() && !l.starts_with("note: "))
        .collect();
    let mut out = lines
        .iter()
        .take(MOST)
        .copied()
        .collect::<Vec<_>>()
        .join(" / ");
    if lines.len() > MOST {
        out.push_str(&format!(" / … ({} more lines)", lines.len() - MOST));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn an_excerpt_leaves_out_the_backtrace() {
        let stderr =
            "\nthread 'main' (7) panicked at src/main.rs:251:5:\nthere is no reactor running\n\
                      stack backtrace:\n   0: rust_begin_unwind\n   1: core::panicking\n\
                      note: Some details are omitted\n";
        assert_eq!(
            excerpt(stderr),
            "thread 'main' (7) panicked at src/main.rs:251:5: / there is no reactor running"
        );
        let long: String = (1..=7).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            excerpt(&long),
            "line 1 / line 2 / line 3 / line 4 / line 5 / … (2 more lines)"
        );
    }
}
