//! Where a server's CPU goes: `perf record -e cpu-clock -g` over the measured
//! interval of a load, its samples of the server classed into buckets (`buckets`).
//!
//! The software clock works where hardware counters do not (virtual machines). perf
//! records the server's CPU, every process on it (`-a -C CPU`; the whole machine when
//! nothing is pinned), and keeps the server's samples by process id. That rather than
//! `-p PID`: it is one event on one CPU whatever threads the server starts (a
//! runtime's workers, io_uring's), and it also counts what else ran on that CPU
//! meanwhile (a busy machine, on record). Work the kernel does in interrupt context
//! while the server runs — the softirq that delivers a datagram on loopback — is
//! charged to the server, as its CPU clock charges it.
//!
//! The samples give the split, the CPU clock read at the same two instants the
//! total: CPU per echo in a bucket is the clock's figure times the bucket's share.

pub mod buckets;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::mkfifo;

use super::affinity::Placement;
use super::cpu::{ns_per, Cpu};
use super::server::Server;
use crate::load::udp::{self, EchoLoad};
use crate::results::profile::ProfileRound;

/// Samples per second of CPU time (as perf's default frequency for a clock event).
pub const FREQUENCY_HZ: u32 = 4000;
/// How long perf may take to carry out a command.
const TIMEOUT: Duration = Duration::from_secs(30);

/// perf, allowed to record the server's CPU.
pub struct Perf {
    exe: PathBuf,
    cpu: Option<usize>,
}

/// A file of perf's under the temporary directory.
fn scratch(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("bench-perf-{}-{what}", std::process::id()))
}

impl Perf {
    /// perf on this machine, if it may record the server's CPU; or why not.
    pub fn find(on: &Placement) -> Result<Perf, String> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let exe = (std::env::split_paths(&path).map(|d| d.join("perf")))
            .find(|p| p.is_file())
            .ok_or("perf is not installed (apt-get install linux-perf, dnf install perf)")?;
        let cpu = match on {
            Placement::Pinned { server, .. } => Some(*server),
            Placement::Unpinned { .. } => None,
        };
        let perf = Perf { exe, cpu };
        let probe = perf.record(&scratch("probe")).args(["--", "true"]).output();
        let _ = fs::remove_file(scratch("probe"));
        match probe.map_err(|e| format!("perf does not run: {e}"))? {
            Output { status, .. } if status.success() => Ok(perf),
            Output { stderr, .. } => Err(format!(
                "perf may not record here: {}",
                String::from_utf8_lossy(&stderr).trim()
            )),
        }
    }

    /// `perf record` of the server's CPU (every CPU when nothing is pinned) into `data`.
    fn record(&self, data: &Path) -> Command {
        let mut cmd = Command::new(&self.exe);
        // A sample every 1/FREQUENCY_HZ s of CPU time (a fixed period, not perf's
        // adaptive frequency): the samples are proportional to the time.
        cmd.args("record -e cpu-clock -g -a -q -B -N -c".split(' '));
        cmd.arg((1_000_000_000 / FREQUENCY_HZ).to_string())
            .arg("-o")
            .arg(data);
        if let Some(cpu) = self.cpu {
            cmd.args(["-C", &cpu.to_string()]);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        cmd
    }

    /// Runs `load` against `server` with perf recording over its measured interval:
    /// perf starts before the load with its events off, and the load turns them on
    /// and off where it reads the server's CPU clock (perf's `--control` FIFOs, each
    /// command answered once carried out). Then stops the server.
    pub fn echo(&self, server: Server, load: &EchoLoad) -> Result<ProfileRound> {
        let (addr, pid) = (server.addrs[0], server.pid());
        let [data, ctl, ack] = ["data", "ctl", "ack"].map(scratch);
        let recorded = (|| {
            let mut perf = Recording::start(self.record(&data), [&ctl, &ack])?;
            // Answered once perf has set up (which may take longer than the warm-up).
            perf.command("ping")?;
            let mut on = false;
            let mut probe = || -> Result<Cpu> {
                let cpu = Cpu::read(pid)?;
                on = !on;
                perf.command(if on { "enable" } else { "disable" })?;
                Ok(cpu)
            };
            let outcome = udp::run_echo(addr, load, &mut probe)?;
            perf.command("stop")?;
            perf.child.wait()?;
            Ok::<_, anyhow::Error>((outcome, self.script(&data)?))
        })();
        let _ = [data, ctl, ack].map(fs::remove_file);
        server.stop()?;
        let (o, script) = recorded?;
        let mut round = tally(&script, pid.as_raw());
        round.echoes = o.echoes;
        round.cpu_per_echo_ns = ns_per(o.server_cpu.1.since(&o.server_cpu.0), o.echoes);
        if round.samples.is_empty() {
            bail!("perf recorded no sample of the server");
        }
        Ok(round)
    }

    /// The samples of `data` as `perf script` prints them.
    fn script(&self, data: &Path) -> Result<String> {
        let out = Command::new(&self.exe)
            .args(["script", "-F", "comm,pid,tid,ip,sym", "-i"])
            .arg(data)
            .output()
            .context("cannot run perf script")?;
        if !out.status.success() {
            bail!(
                "perf script: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// perf recording with its events off, commanded through two FIFOs (held open both
/// ways here, so that no open waits for perf); killed if dropped.
struct Recording {
    child: Child,
    ctl: File,
    ack: File,
}

impl Recording {
    fn start(mut record: Command, fifos: [&Path; 2]) -> Result<Recording> {
        let open = |fifo: &Path| -> Result<File> {
            let _ = fs::remove_file(fifo);
            mkfifo(fifo, Mode::S_IRUSR | Mode::S_IWUSR).context("mkfifo")?;
            let flags = OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
            Ok(File::from(open(fifo, flags, Mode::empty())?))
        };
        let [ctl, ack] = [open(fifos[0])?, open(fifos[1])?];
        let [c, a] = fifos.map(Path::display);
        record.args(["-D", "-1", "--control", &format!("fifo:{c},{a}")]);
        let child = record
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start perf")?;
        Ok(Recording { child, ctl, ack })
    }

    /// Sends `command` and waits until perf has carried it out (`ack\n\0`).
    fn command(&mut self, command: &str) -> Result<()> {
        self.ctl.write_all(format!("{command}\n").as_bytes())?;
        let (deadline, mut got, mut buf) = (Instant::now() + TIMEOUT, Vec::new(), [0u8; 64]);
        while !got.windows(4).any(|w| w == b"ack\n") {
            match self.ack.read(&mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ if Instant::now() < deadline && self.child.try_wait()?.is_none() => {
                    std::thread::sleep(Duration::from_micros(200))
                }
                _ => {
                    let _ = self.child.kill();
                    let mut said = String::new();
                    let pipe = self.child.stderr.as_mut().context("no stderr")?;
                    let _ = pipe.read_to_string(&mut said);
                    bail!("perf did not carry out `{command}`: {}", said.trim())
                }
            }
        }
        Ok(())
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The samples of `perf script -F comm,pid,tid,ip,sym` (a line `COMM PID/TID`, then
/// a tab-indented line `ADDRESS SYMBOL` per frame, innermost first, then a blank
/// line): those of process `pid` by bucket, and how many others there were (not
/// counting the idle task's, pid 0).
pub fn tally(script: &str, pid: i32) -> ProfileRound {
    let mut round = ProfileRound::default();
    for sample in script.split("\n\n").map(|s| s.trim_matches('\n')) {
        let mut lines = sample.lines();
        let of = |t: &str| t.split_once('/')?.0.parse::<i32>().ok();
        let of = lines
            .next()
            .and_then(|l| l.split_whitespace().rev().find_map(of));
        fn frame(line: &str) -> Option<(u64, &str)> {
            let (ip, symbol) = line.trim().split_once(' ')?;
            Some((u64::from_str_radix(ip, 16).ok()?, symbol.trim()))
        }
        match of {
            Some(p) if p == pid => {
                let frames: Vec<(u64, &str)> = lines.filter_map(frame).collect();
                *round.samples.entry(buckets::classify(&frames)).or_default() += 1
            }
            Some(0) | None => {}
            Some(_) => round.foreign_samples += 1,
        }
    }
    round
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::profile::Bucket;

    /// `perf script` of an echo server's CPU under load: samples of the server (next
    /// echo-compio), of other processes, and of the idle task.
    const RECORDED: &str = include_str!("../../../tests/fixtures/perf/echo-samples.txt");

    #[test]
    fn a_recorded_sample_set_is_classed() {
        let compio = tally(RECORDED, 10721);
        let n = |b| compio.samples.get(&b).copied().unwrap_or(0);
        // syscall, send, receive, copy, machinery, runtime, program, other
        assert_eq!(Bucket::ALL.map(n), [1, 1, 2, 1, 1, 2, 1, 1], "{compio:?}");
        assert_eq!(compio.foreign_samples, 4, "the shell and the other echo");
    }
}
