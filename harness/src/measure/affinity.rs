//! Keeping the load generator off the server's core. On a machine with two or more
//! usable CPUs the server (every thread it has) runs on one and the client threads on
//! another, so that the client's own work never steals the server's cycles and the
//! two do not trade places on one core. With a single CPU nothing is pinned, and the
//! output says so.

use anyhow::{Context, Result};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// Where the server and the client run, and the CPUs this process was allowed at
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Pinned {
        server: usize,
        client: usize,
        allowed: CpuSet,
    },
    Unpinned {
        cpus: usize,
    },
}

impl Placement {
    /// Picks the first two CPUs this process may run on, if there are two.
    pub fn choose() -> Result<Placement> {
        let (allowed, cpus) = allowed()?;
        Ok(match cpus.as_slice() {
            [server, client, ..] => Placement::Pinned {
                server: *server,
                client: *client,
                allowed,
            },
            _ => Placement::Unpinned { cpus: cpus.len() },
        })
    }

    /// Runs `f` on a thread of its own that may run on every CPU this process was
    /// allowed at first, as the conformance suite runs: the programs it starts
    /// inherit that, and are measured as the suite's checks measure them (what is
    /// counted there — wake-ups, polls, a ticker's delay under a flood — is not a CPU
    /// cost the client could steal from).
    pub fn unpinned<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| {
                if let Placement::Pinned { allowed, .. } = self {
                    sched_setaffinity(Pid::from_raw(0), allowed).context("sched_setaffinity")?;
                }
                f()
            });
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a measuring thread panicked"))?
        })
    }

    /// One line for the output.
    pub fn describe(&self) -> String {
        match self {
            Placement::Pinned { server, client, .. } => format!(
                "server pinned to CPU {server} (every thread), load generator to CPU {client}"
            ),
            Placement::Unpinned { cpus } => {
                format!("not pinned: {cpus} CPU available, server and client share it")
            }
        }
    }

    /// Pins the calling thread to the client CPU (threads it starts inherit it).
    pub fn pin_client_thread(&self) -> Result<()> {
        if let Placement::Pinned { client, .. } = self {
            sched_setaffinity(Pid::from_raw(0), &set_of(&[*client])?)
                .context("sched_setaffinity (client)")?;
        }
        Ok(())
    }

    /// Pins every thread of process `pid` to the server CPU. Threads the server starts
    /// later inherit the mask of the thread that starts them.
    pub fn pin_server(&self, pid: Pid) -> Result<()> {
        let Placement::Pinned { server, .. } = self else {
            return Ok(());
        };
        Placement::pin(pid, &set_of(&[*server])?)
    }

    /// Pins every thread of process `pid` to `set`.
    pub fn pin(pid: Pid, set: &CpuSet) -> Result<()> {
        let dir = format!("/proc/{pid}/task");
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {dir}"))? {
            let name = entry?.file_name();
            let Some(tid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            // A thread may have exited since the listing: that is not an error.
            match sched_setaffinity(Pid::from_raw(tid), set) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(e).context("sched_setaffinity (server)"),
            }
        }
        Ok(())
    }
}

/// The CPUs this process may run on: as a set, and their indices.
pub fn allowed() -> Result<(CpuSet, Vec<usize>)> {
    let allowed = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    let cpus = (0..CpuSet::count()).filter(|&c| allowed.is_set(c).unwrap_or(false));
    Ok((allowed, cpus.collect()))
}

/// The set of `cpus`.
pub fn set_of(cpus: &[usize]) -> Result<CpuSet> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).context("CPU index out of range")?;
    }
    Ok(set)
}
