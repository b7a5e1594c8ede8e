//! Two test hosts made by the suite itself: network namespaces joined by a veth pair
//! whose egress on the server side is rate-limited with a token bucket (`tc … tbf`).
//!
//! On loopback a UDP send never backs up: the kernel hands the datagram to the
//! receiver at once. Behind a 1 Mbit/s bucket it does, so a server's sends really
//! return `EAGAIN` and its queue really fills. Addresses come from 198.18.0.0/15, the
//! range set aside for network benchmark tests (RFC 2544); traffic never leaves the two
//! namespaces. Everything made here is removed on drop, also when a check fails, and
//! namespaces left behind by a run that was killed are swept at the next start.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use anyhow::{anyhow, bail, Context, Result};
use nix::sched::{setns, CloneFlags};

/// Prefix of every namespace the suite makes: `aeio-PID-N-s` / `aeio-PID-N-c`.
const PREFIX: &str = "aeio-";
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A server namespace and a client namespace joined by a rate-limited link.
pub struct Pair {
    pub server_ns: String,
    pub client_ns: String,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| "cannot run `ip` (package iproute2)".to_string())?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Removes namespaces of earlier runs whose process is gone.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Pair {
    /// Makes the pair with a tbf of `rate` (e.g. `1mbit`) on the server's egress. An
    /// error means the namespaces cannot be made here (not root, no iproute2, …): the
    /// caller reports the check as skipped.
    pub fn create(rate: &str) -> Result<Pair> {
        if NEXT.load(Ordering::Relaxed) == 0 {
            sweep_stale();
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("{PREFIX}{}-{n}", std::process::id());
        let pair = Pair {
            server_ns: format!("{base}-s"),
            client_ns: format!("{base}-c"),
        };
        ip(&["netns", "add", &pair.server_ns])?;
        // From here on, drop removes whatever was made.
        ip(&["netns", "add", &pair.client_ns])?;
        let (s, c) = (&pair.server_ns, &pair.client_ns);
        ip(&[
            "link", "add", "vs", "netns", s, "type", "veth", "peer", "name", "vc", "netns", c,
        ])?;
        ip(&[
            "-n",
            s,
            "addr",
            "add",
            &format!("{SERVER_IP}/30"),
            "dev",
            "vs",
        ])?;
        ip(&[
            "-n",
            c,
            "addr",
            "add",
            &format!("{CLIENT_IP}/30"),
            "dev",
            "vc",
        ])?;
        for (ns, dev) in [(s, "vs"), (c, "vc"), (s, "lo"), (c, "lo")] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        // The bucket's queue (`limit`) is larger than a socket's send buffer, so the
        // socket fills first and its sends return EAGAIN, rather than the qdisc
        // silently dropping.
        let out = Command::new("tc")
            .args(["-n", s, "qdisc", "add", "dev", "vs", "root", "tbf"])
            .args(["rate", rate, "burst", "4kb", "limit", "4mb"])
            .output()
            .context("cannot run `tc` (package iproute2)")?;
        if !out.status.success() {
            bail!("tc failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(pair)
    }

    /// A UDP socket bound in the client namespace (a socket belongs to the namespace
    /// it was made in, whatever thread later uses it).
    pub fn client_socket(&self) -> Result<UdpSocket> {
        let path = format!("/run/netns/{}", self.client_ns);
        let ns = File::open(&path).with_context(|| format!("open {path}"))?;
        thread::spawn(move || -> Result<UdpSocket> {
            setns(&ns, CloneFlags::CLONE_NEWNET).context("setns")?;
            Ok(UdpSocket::bind(SocketAddr::from((CLIENT_IP, 0)))?)
        })
        .join()
        .map_err(|_| anyhow!("setns thread panicked"))?
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it (and so its peer).
        let _ = ip(&["netns", "del", &self.server_ns]);
        let _ = ip(&["netns", "del", &self.client_ns]);
    }
}
