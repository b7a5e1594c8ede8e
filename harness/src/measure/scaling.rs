//! The scaling bench's instrument: each echo server that runs across cores, started
//! with `--threads N` for N from 1 to the CPUs this process may use, under the closed
//! loop (its rate, CPU and fairness), then a paced load, the same at every N (its
//! round trips). The server gets the first N CPUs, the load generator the rest; where
//! none is left it shares the server's, and the entry says so — on 2 cores, from N = 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::sched::sched_setaffinity;
use nix::unistd::Pid;

use super::affinity::{self, Placement};
use super::cpu::Cpu;
use super::server::Server;
use crate::load::{tcp, udp};
use crate::results::scaling::{Echo, ScalingEntry, ScalingFigures, ScalingSettings};
use crate::{needs, Catalogue, Family, Flavor, Profile, Program};

/// The loads of every run: 8 clients, as the bench's TCP load, and as many UDP
/// datagrams in flight as the bench's UDP load (128: more overflows a server socket's
/// default receive buffer, and a lost datagram stalls its client); the paced load well
/// within what one thread of any of these servers echoes.
pub const SETTINGS: ScalingSettings = ScalingSettings {
    warmup_s: 0.2,
    measure_s: 1.0,
    clients: 8,
    window: 16,
    payload: 64,
    chunk: 64 * 1024,
    paced_per_s: 10_000,
};

/// A server to measure at one thread count, and its binary.
pub struct Subject {
    pub entry: ScalingEntry,
    pub exe: PathBuf,
}

/// The UDP and TCP echo servers among the programs asked for (all when none is named)
/// in `flavors` that run across cores — legacy and modern where both sides of the
/// pair do, so that each era's answer stands beside the other's, and next — built
/// with `profile`, each at 1 to as many threads as this process may use CPUs.
pub fn subjects(
    catalogue: &Catalogue,
    requested: &[String],
    flavors: &[Flavor],
    profile: Profile,
) -> Result<Vec<Subject>> {
    let (cores, all) = (affinity::allowed()?.1.len(), catalogue.programs());
    let across = |p: &Program, f| {
        let declared = |q: &&Program| q.declared.across_cores.is_some() && q.flavor == f;
        all.iter().filter(declared).any(|q| q.name == p.name)
    };
    let mut chosen = Vec::new();
    for p in catalogue.select(requested, None)? {
        let echo = match p.family {
            Ok(Family::UdpEcho) => Echo::Udp,
            Ok(Family::TcpEcho) => Echo::Tcp,
            _ => continue,
        };
        let eras = match p.flavor {
            Flavor::Next => across(&p, Flavor::Next),
            Flavor::Bridge => false,
            _ => across(&p, Flavor::Legacy) && across(&p, Flavor::Modern),
        };
        match needs::unmet(&p.declared.needs, needs::machine) {
            _ if !eras || !flavors.contains(&p.flavor) => {}
            Some(why) => eprintln!("not measured: {} {}: {why}", p.name, p.flavor_label()),
            None => chosen.push((p, echo)),
        }
    }
    let packages: Vec<&str> = chosen.iter().map(|(p, _)| p.package.as_str()).collect();
    if packages.is_empty() {
        bail!("none of these is an echo server that runs across cores in each era, or next");
    }
    let (built, mut out) = (crate::build(&packages, profile)?, Vec::new());
    for (p, echo) in chosen {
        let exe = built.exe(&p.package)?;
        out.extend((1..=cores.max(1)).map(|threads| Subject {
            entry: ScalingEntry {
                program: p.name.clone(),
                flavor: p.flavor_label(),
                echo,
                threads,
                client_shares: threads >= cores,
                errors: Vec::new(),
                settings: SETTINGS,
                rounds: Vec::new(),
            },
            exe: exe.clone(),
        }));
    }
    Ok(out)
}

impl Subject {
    /// One round of this subject on `cpus`, kept in its entry (its error too).
    pub fn round(&mut self, round: usize, cpus: &[usize]) -> Result<()> {
        let measured = measure(&self.exe, &self.entry, cpus);
        let said = measured.as_ref().err().map(|e| anyhow!("{e:#}"));
        if let Some(e) = &said {
            self.entry
                .errors
                .push(format!("round {}: {e:#}", round + 1));
        }
        self.entry.rounds.push(measured.ok());
        said.map_or(Ok(()), Err)
    }
}

/// One round of one entry: the server on the first `threads` of `cpus`, the loads on
/// the rest (or on all of them where none is left).
fn measure(exe: &Path, e: &ScalingEntry, cpus: &[usize]) -> Result<ScalingFigures> {
    let (server_cpus, rest) = cpus.split_at(e.threads.min(cpus.len()));
    let client_cpus = if rest.is_empty() { cpus } else { rest };
    let (s, threads) = (&e.settings, e.threads.to_string());
    let queue = (s.clients * s.window * 2).to_string();
    let extra = match e.echo {
        Echo::Udp => vec!["--threads", &threads, "--queue", &queue],
        Echo::Tcp => vec!["--threads", &threads],
    };
    let server = Server::start(exe, &extra, 1, &Placement::Unpinned { cpus: cpus.len() })?;
    Placement::pin(server.pid(), &affinity::set_of(server_cpus)?)?;
    let (addr, pid) = (server.addrs[0], server.pid());
    let loads = thread::scope(|scope| {
        let client = scope.spawn(|| {
            sched_setaffinity(Pid::from_raw(0), &affinity::set_of(client_cpus)?)
                .context("sched_setaffinity (load generator)")?;
            loads(e.echo, addr, pid, s)
        });
        let joined = client.join();
        joined.map_err(|_| anyhow!("the load thread panicked"))?
    });
    server.stop()?;
    loads
}

/// The closed loop, then the paced load, of family `echo` against `addr`: the rate
/// and CPU of what the closed loop echoed (echoes, MB) and its clients' counts, and
/// the paced load's round trips.
fn loads(echo: Echo, addr: SocketAddr, pid: Pid, s: &ScalingSettings) -> Result<ScalingFigures> {
    let mut probe = || Cpu::read(pid);
    let span = |s| Duration::from_secs_f64(s);
    let span = (span(s.warmup_s), span(s.measure_s));
    let ((units, cpu, interval), per_client, rtt_ns) = match echo {
        Echo::Tcp => {
            let t = tcp::bulk_echo(addr, (s.clients, s.chunk), span, &mut probe)?;
            let shape = (s.clients, s.payload);
            let p = tcp::paced_echo(addr, shape, s.paced_per_s, span, &mut probe)?;
            let closed = (t.bytes as f64 / 1e6, t.interval.cpu, t.interval.length);
            (closed, t.per_connection, p.rtt_ns)
        }
        Echo::Udp => {
            let closed = udp::EchoLoad {
                sockets: s.clients,
                window: s.window,
                payload: s.payload,
                span,
                max_datagrams: 20_000_000,
                gso_segments: None,
            };
            let t = udp::run_echo(addr, &closed, &mut probe)?;
            let p = udp::run_paced(addr, &closed, Some(s.paced_per_s), &mut probe)?;
            let closed = (t.echoes as f64, t.server_cpu, t.interval);
            (closed, t.per_client, p.rtt_ns)
        }
    };
    if units <= 0.0 || rtt_ns.is_empty() {
        bail!("nothing was echoed in a measured interval");
    }
    let (cpu, secs) = (cpu.1.since(&cpu.0).as_secs_f64(), interval.as_secs_f64());
    let percentile = |p| crate::load::percentile(&rtt_ns, p).unwrap_or(0) as f64;
    Ok(ScalingFigures {
        rate: units / secs,
        cpu_per_unit_us: cpu * 1e6 / units,
        jain: jain(&per_client),
        per_client,
        p50_us: percentile(50) / 1e3,
        p99_us: percentile(99) / 1e3,
    })
}

/// Jain's fairness index of `counts`: (Σx)² / (n·Σx²), 1 when all are equal, 1/n
/// when one has everything.
pub fn jain(counts: &[u64]) -> f64 {
    let sum: f64 = counts.iter().map(|&c| c as f64).sum();
    let squares: f64 = counts.iter().map(|&c| (c as f64).powi(2)).sum();
    match squares > 0.0 {
        true => sum * sum / (counts.len() as f64 * squares),
        false => 0.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jain_is_one_when_fair_and_one_over_n_when_not() {
        assert_eq!(super::jain(&[5, 5, 5, 5]), 1.0);
        assert_eq!(super::jain(&[8, 0, 0, 0]), 0.25);
        assert!((super::jain(&[3, 1]) - 0.8).abs() < 1e-12 && super::jain(&[]) == 0.0);
    }
}
