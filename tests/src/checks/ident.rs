//! Checks of the RFC 1413 ident family (ident-blocking, ident-incorrect, ident-tokio,
//! ident-service, ident-pool), against real TCP connections the suite opens itself,
//! so that the owner of each is known: this process's user.
//!
//! The servers run with their default lookup (`--lookup auto`: netlink where it is
//! available); two checks force `--lookup proc`: one compares the answers of both
//! lookups, one measures what a slow (`/proc`) lookup on one connection does to
//! another client's reply — the lesson of ident-pool.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use nix::sys::signal::Signal;
use nix::sys::socket::{
    bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6,
};
use shared::event::Event;
use shared::ident::reason;

use crate::check::{Check, Ctx, Outcome, Skipped};
use crate::checks::{common, faults};
use harness::declared::DuringLookup;
use harness::measure::cpu::rss_kib;
use harness::process::{run_to_end, Running};

pub const CHECKS: &[Check] = &[
    crate::check!("help", common::help),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("bad-address", common::bad_address),
    crate::check!("port-in-use", common::tcp_port_in_use),
    crate::check!("privileged-port-hint", privileged_port_hint),
    crate::check!("userid-ipv4", userid_ipv4),
    crate::check!("userid-ipv6", userid_ipv6),
    crate::check!("reversed-or-closed-no-user", reversed_or_closed),
    crate::check!("invalid-port", invalid_port),
    crate::check!("blanks-and-bare-lf", blanks_and_bare_lf),
    crate::check!("queries-in-order", queries_in_order),
    crate::check!("pipelined-queries", pipelined_queries),
    crate::check!("other-addresses-not-reported", other_addresses),
    crate::check!("line-too-long", line_too_long),
    crate::check!("no-newline-bounded", no_newline_bounded),
    crate::check!("unterminated-at-eof", unterminated_at_eof),
    crate::check!("invalid-utf8", invalid_utf8),
    crate::check!("idle-timeout", idle_timeout),
    crate::check!("split-query", split_query),
    crate::check!("stuck-client-starves-none", stuck_client),
    crate::check!("lookup-netlink-and-proc-agree", lookups_agree),
    crate::check!("other-client-during-lookup", other_client_during_lookup),
    crate::check!("sigterm", |ctx| signal_check(ctx, Signal::SIGTERM)),
    crate::check!("sigint", |ctx| signal_check(ctx, Signal::SIGINT)),
    crate::check!("sigterm-open-connection", sigterm_open_connection),
    crate::check!("fd-exhaustion", faults::exhaustion_ident),
    crate::check!("slow-1000", faults::slow_peers_ident),
    crate::check!("max-connections", faults::max_connections_ident),
    crate::check!("unread-replies", faults::unread_ident),
    crate::check!("era-purity", common::era_purity),
];

const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Other loopback addresses (all of 127.0.0.0/8 is local on Linux).
const OTHER_A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const OTHER_B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

fn start(ctx: &Ctx, bind: &str, extra: &[&str]) -> Result<(Running, SocketAddr)> {
    let mut args = vec!["--bind", bind];
    args.extend_from_slice(extra);
    let (run, addrs) = Running::server(ctx.exe, &ctx.args(&args), None, 1)?;
    Ok((run, addrs[0]))
}

/// A TCP connection from `src` (port chosen by the kernel) to `dst`.
fn connect_from(src: IpAddr, dst: SocketAddr) -> Result<TcpStream> {
    let fd = match (src, dst) {
        (IpAddr::V4(s), SocketAddr::V4(d)) => {
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )?;
            bind(
                fd.as_raw_fd(),
                &SockaddrIn::from(std::net::SocketAddrV4::new(s, 0)),
            )
            .with_context(|| format!("bind {s}"))?;
            connect(fd.as_raw_fd(), &SockaddrIn::from(d))
                .with_context(|| format!("connect {d}"))?;
            fd
        }
        (IpAddr::V6(s), SocketAddr::V6(d)) => {
            let fd = socket(
                AddressFamily::Inet6,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )?;
            bind(
                fd.as_raw_fd(),
                &SockaddrIn6::from(std::net::SocketAddrV6::new(s, 0, 0, 0)),
            )
            .with_context(|| format!("bind {s}"))?;
            connect(fd.as_raw_fd(), &SockaddrIn6::from(d))
                .with_context(|| format!("connect {d}"))?;
            fd
        }
        _ => bail!("address families differ: {src} → {dst}"),
    };
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(REPLY_TIMEOUT))?;
    s.set_write_timeout(Some(REPLY_TIMEOUT))?;
    Ok(s)
}

/// A live connection the suite owns: listener on `server_ip`, client from
/// `client_ip`. The ident query for it is `server port, client port`.
struct Pair {
    client: TcpStream,
    accepted: TcpStream,
}

impl Pair {
    fn open(server_ip: IpAddr, client_ip: IpAddr) -> Result<Pair> {
        let listener = TcpListener::bind(SocketAddr::new(server_ip, 0))
            .with_context(|| format!("listen on {server_ip}"))?;
        let client = connect_from(client_ip, listener.local_addr()?)?;
        let (accepted, _) = listener.accept()?;
        Ok(Pair { client, accepted })
    }

    fn server_port(&self) -> u16 {
        self.accepted.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    fn client_port(&self) -> u16 {
        self.client.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    fn query(&self) -> String {
        format!("{}, {}", self.server_port(), self.client_port())
    }
}

/// A connection to the ident server that sends lines and reads reply lines.
struct Querier {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Querier {
    fn connect(from: IpAddr, server: SocketAddr) -> Result<Querier> {
        let stream = connect_from(from, server)?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Querier { stream, reader })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).context("sending a query")
    }

    /// The next reply line, without its CRLF (which must be there).
    fn reply(&mut self) -> Result<String> {
        let mut line = Vec::new();
        self.reader
            .read_until(b'\n', &mut line)
            .context("no reply before the read timeout")?;
        ensure!(!line.is_empty(), "connection closed instead of a reply");
        let text = String::from_utf8(line).map_err(|_| anyhow!("reply is not UTF-8"))?;
        let Some(text) = text.strip_suffix("\r\n") else {
            bail!("reply without CRLF: {text:?}");
        };
        Ok(text.to_string())
    }

    fn ask(&mut self, query: &str) -> Result<String> {
        self.send(format!("{query}\r\n").as_bytes())?;
        self.reply().with_context(|| format!("query {query:?}"))
    }

    /// Reads until the server closes the connection (EOF or reset); returns the
    /// bytes that came first and how long it took.
    fn wait_closed(&mut self, timeout: Duration) -> Result<(Vec<u8>, Duration)> {
        let t0 = Instant::now();
        self.stream.set_read_timeout(Some(timeout))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return Ok((got, t0.elapsed())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                // A stop and continue of this process (or a signal) interrupts a
                // read that has a timeout; the kernel does not restart it.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Ok((got, t0.elapsed()))
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("the server did not close the connection within {timeout:?}")
                    })
                }
            }
        }
    }
}

/// This process's user name, as `id` tells it (numeric if it has none).
fn my_user() -> Result<String> {
    let named = Command::new("id").arg("-un").output()?;
    let out = if named.status.success() {
        named
    } else {
        Command::new("id").arg("-u").output()?
    };
    ensure!(out.status.success(), "id failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn userid(query_ports: &str, user: &str) -> String {
    format!("{query_ports} : USERID : UNIX : {user}")
}

fn no_user(query_ports: &str) -> String {
    format!("{query_ports} : ERROR : NO-USER")
}

/// The reply lines the server printed for `peer`, in order.
fn reply_lines(run: &Running, peer: SocketAddr) -> Result<Vec<String>> {
    Ok(run
        .events()?
        .into_iter()
        .filter_map(|e| match e {
            Event::Reply { peer: p, text } if p == peer => Some(text),
            _ => None,
        })
        .collect())
}

/// The reason on the `closed` line of `peer`, waiting for it.
/// The reason on the `closed` line of `peer`, which must be `expected`.
fn closed_for(run: &mut Running, peer: SocketAddr, expected: &str) -> Result<String> {
    let why = closed_reason(run, peer)?;
    ensure!(why == expected, "closed for {why:?}, expected {expected:?}");
    Ok(why)
}

fn closed_reason(run: &mut Running, peer: SocketAddr) -> Result<String> {
    let is_it = |e: &Event| matches!(e, Event::Closed { peer: p, .. } if *p == peer);
    run.wait_until(EVENT_TIMEOUT, |lines| {
        lines
            .iter()
            .any(|l| l.event().map(|e| is_it(&e)).unwrap_or(false))
    })
    .with_context(|| format!("no `closed {peer}` line"))?;
    for e in run.events()? {
        if let Event::Closed {
            peer: p, reason, ..
        } = e
        {
            if p == peer {
                return Ok(reason.to_string());
            }
        }
    }
    bail!("no `closed {peer}` line")
}

/// A fresh client gets a correct answer: the server is still serving.
fn still_serving(server: SocketAddr) -> Result<()> {
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let reply = q.ask(&pair.query())?;
    ensure!(
        reply == userid(&pair.query(), &my_user()?),
        "a later client got {reply:?}"
    );
    Ok(())
}

/// Stops the server with `sig`: exit 0 within 2 s, and a summary that agrees with
/// the event lines. Returns (accepted, closed, queries).
fn stop(run: &mut Running, sig: Signal) -> Result<(u64, u64, u64)> {
    let (events, c) = run.stop_with_summary(sig, EXIT_TIMEOUT)?;
    let (Some(accepted), Some(closed), Some(queries)) =
        (c.get("accepted"), c.get("closed"), c.get("queries"))
    else {
        bail!("summary lacks accepted/closed/queries: {c:?}");
    };
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count() as u64;
    let lines = (
        count(|e| matches!(e, Event::Accepted { .. })),
        count(|e| matches!(e, Event::Closed { .. })),
        count(|e| matches!(e, Event::Reply { .. })),
    );
    ensure!(
        accepted == closed,
        "summary accepted={accepted} closed={closed}: a connection was left unaccounted"
    );
    ensure!(
        (accepted, closed, queries) == lines,
        "summary accepted={accepted} closed={closed} queries={queries}, but the lines count {lines:?}"
    );
    Ok((accepted, closed, queries))
}

fn privileged_port_hint(ctx: &Ctx) -> Outcome {
    // As root the bind would succeed: run the program as `nobody`, if this host can.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let unprivileged_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
            .unwrap_or(1024);
    if unprivileged_start <= 113 {
        return Err(Skipped(format!(
            "ip_unprivileged_port_start is {unprivileged_start}: anyone may bind port 113 here"
        ))
        .into());
    }
    let (status, stdout, stderr) = if root {
        let setpriv = Command::new("setpriv").arg("--version").output();
        if !setpriv.map(|o| o.status.success()).unwrap_or(false) {
            return Err(Skipped("running as root and no setpriv to drop privilege".into()).into());
        }
        let exe = ctx.exe.to_string_lossy().to_string();
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                &exe,
            ])
            .args(ctx.args(&["--bind", "127.0.0.1:113"]))
            .output()
            .context("setpriv")?;
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    } else {
        run_to_end(
            ctx.exe,
            &ctx.args(&["--bind", "127.0.0.1:113"]),
            Duration::from_secs(5),
        )?
    };
    if stderr.contains("Permission denied") && stderr.contains("exec") {
        return Err(Skipped(format!("cannot run the binary as nobody: {stderr}")).into());
    }
    ensure!(
        !status.success() && status.code().is_some(),
        "{status}; stdout {stdout:?}"
    );
    let line = stderr.trim();
    ensure!(
        line.lines().count() == 1 && line.contains("try --bind 127.0.0.1:1113"),
        "stderr {line:?}"
    );
    Ok(format!("unprivileged: {line}"))
}

fn userid_ipv4(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let user = my_user()?;
    // The connection's server end is on 127.0.0.3, its client end on 127.0.0.1: the
    // querier's address.
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let me = q.stream.local_addr()?;
    let reply = q.ask(&pair.query())?;
    let want = userid(&pair.query(), &user);
    ensure!(reply == want, "reply {reply:?}, expected {want:?}");
    drop(q);
    closed_reason(&mut run, me)?;
    let printed = reply_lines(&run, me)?;
    ensure!(
        printed == [want.clone()],
        "`reply to {me}` lines: {printed:?}"
    );
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!("{want:?}, and the same on a `reply to` line"))
}

fn userid_ipv6(ctx: &Ctx) -> Outcome {
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let pair = match Pair::open(v6, v6) {
        Ok(p) => p,
        Err(e) => return Err(Skipped(format!("no IPv6 loopback here: {e:#}")).into()),
    };
    let (mut run, server) = start(ctx, "[::1]:0", &[])?;
    let mut q = Querier::connect(v6, server)?;
    let reply = q.ask(&pair.query())?;
    let want = userid(&pair.query(), &my_user()?);
    ensure!(reply == want, "reply {reply:?}, expected {want:?}");
    drop(q);
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!("[::1] ↔ [::1]: {want:?}"))
}

fn reversed_or_closed(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    let (s, c) = (pair.server_port(), pair.client_port());
    let mut q = Querier::connect(LOCALHOST, server)?;
    // The reversed pair names the client end, whose remote (127.0.0.3) is not the
    // querier.
    let reversed = format!("{c}, {s}");
    let reply = q.ask(&reversed)?;
    ensure!(reply == no_user(&reversed), "reversed pair: {reply:?}");
    // Closed: both ends gone (no descriptor owns either any more).
    let forward = pair.query();
    drop(pair);
    wait_unowned(s, c)?;
    let reply = q.ask(&forward)?;
    ensure!(reply == no_user(&forward), "closed connection: {reply:?}");
    drop(q);
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!("{reversed:?} and a closed {forward:?} → NO-USER"))
}

/// Waits until no descriptor owns the IPv4 connection with local port `local` and
/// remote port `remote` (`/proc/net/tcp`, inode column). A process that another
/// row of the suite forks at the moment the connection is closed holds a copy of
/// its descriptors until it executes its program.
fn wait_unowned(local: u16, remote: u16) -> Result<()> {
    let (l, r) = (format!(":{local:04X}"), format!(":{remote:04X}"));
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp")?;
        let owned = table.lines().skip(1).any(|row| {
            let f: Vec<&str> = row.split_whitespace().collect();
            f.len() > 9 && f[1].ends_with(&l) && f[2].ends_with(&r) && f[9] != "0"
        });
        if !owned {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the closed connection {local} ↔ {remote} is still owned 2 s later"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn invalid_port(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let cases = [
        ("0, 23", "0, 23 : ERROR : INVALID-PORT"),
        ("23, 0", "23, 0 : ERROR : INVALID-PORT"),
        ("65536, 23", "65536, 23 : ERROR : INVALID-PORT"),
        ("abc, def", "0, 0 : ERROR : INVALID-PORT"),
        ("6193 23", "0, 0 : ERROR : INVALID-PORT"),
        ("", "0, 0 : ERROR : INVALID-PORT"),
    ];
    for (query, want) in cases {
        let reply = q.ask(query)?;
        ensure!(reply == want, "{query:?} → {reply:?}, expected {want:?}");
    }
    drop(q);
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "{} malformed queries (0, 65536, letters, no comma, empty) → INVALID-PORT",
        cases.len()
    ))
}

fn blanks_and_bare_lf(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let line = format!(
        " \t{} \t,\t {}\t \n",
        pair.server_port(),
        pair.client_port()
    );
    q.send(line.as_bytes())?;
    let reply = q.reply()?;
    let want = userid(&pair.query(), &my_user()?);
    ensure!(reply == want, "{line:?} → {reply:?}, expected {want:?}");
    drop(q);
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!("{line:?} (blanks and tabs, bare LF) → {want:?}"))
}

fn queries_in_order(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let user = my_user()?;
    let pairs = [
        Pair::open(OTHER_B, LOCALHOST)?,
        Pair::open(OTHER_B, LOCALHOST)?,
        Pair::open(OTHER_B, LOCALHOST)?,
    ];
    let mut q = Querier::connect(LOCALHOST, server)?;
    for p in &pairs {
        let reply = q.ask(&p.query())?;
        ensure!(
            reply == userid(&p.query(), &user),
            "{} → {reply:?}",
            p.query()
        );
        let reversed = format!("{}, {}", p.client_port(), p.server_port());
        let reply = q.ask(&reversed)?;
        ensure!(reply == no_user(&reversed), "{reversed} → {reply:?}");
    }
    drop(q);
    stop(&mut run, Signal::SIGTERM)?;
    Ok("6 queries on one connection, each answered in turn".to_string())
}

fn pipelined_queries(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let user = my_user()?;
    let a = Pair::open(OTHER_B, LOCALHOST)?;
    let b = Pair::open(OTHER_B, LOCALHOST)?;
    let reversed = format!("{}, {}", a.client_port(), a.server_port());
    let batch = format!("{}\r\n{reversed}\r\n0, 1\n{}\r\n", a.query(), b.query());
    let mut q = Querier::connect(LOCALHOST, server)?;
    q.send(batch.as_bytes())?;
    let want = [
        userid(&a.query(), &user),
        no_user(&reversed),
        "0, 1 : ERROR : INVALID-PORT".to_string(),
        userid(&b.query(), &user),
    ];
    for (i, w) in want.iter().enumerate() {
        let reply = q.reply().with_context(|| format!("reply {i}"))?;
        ensure!(reply == *w, "reply {i}: {reply:?}, expected {w:?}");
    }
    drop(q);
    stop(&mut run, Signal::SIGTERM)?;
    Ok("4 queries in one write, 4 replies in order".to_string())
}

fn other_addresses(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    // A connection between 127.0.0.2 and 127.0.0.3: none of 127.0.0.1's business.
    let pair = Pair::open(OTHER_B, OTHER_A)?;
    let forward = pair.query();
    let reversed = format!("{}, {}", pair.client_port(), pair.server_port());
    let mut q = Querier::connect(LOCALHOST, server)?;
    for query in [&forward, &reversed] {
        let reply = q.ask(query)?;
        ensure!(
            reply == no_user(query),
            "querier 127.0.0.1 asked about 127.0.0.3 ↔ 127.0.0.2 ({query}) and got {reply:?}"
        );
    }
    drop(q);
    // The same question from 127.0.0.2, the connection's client end, is answered.
    let mut q = Querier::connect(OTHER_A, server)?;
    let reply = q.ask(&forward)?;
    let want = userid(&forward, &my_user()?);
    ensure!(
        reply == want,
        "querier 127.0.0.2 got {reply:?}, expected {want:?}"
    );
    drop(q);
    stop(&mut run, Signal::SIGTERM)?;
    Ok(
        "127.0.0.3 ↔ 127.0.0.2: NO-USER to 127.0.0.1 (both orders), USERID to 127.0.0.2"
            .to_string(),
    )
}

fn line_too_long(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let me = q.stream.local_addr()?;
    let mut line = vec![b'1'; 1500];
    line.extend_from_slice(b"\r\n");
    // The server may close while this is still being written: that is fine.
    let _ = q.stream.write_all(&line);
    let (got, took) = q.wait_closed(REPLY_TIMEOUT)?;
    ensure!(
        got.is_empty(),
        "got {:?} before the close",
        String::from_utf8_lossy(&got)
    );
    let why = closed_for(&mut run, me, reason::TOO_LONG)?;
    drop(q);
    still_serving(server)?;
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "1,500-byte line: connection closed after {took:.2?}, no reply, `{why}`; next client served"
    ))
}

/// A query whose line never ends (the client sends it, then shuts its side) is not a
/// query: the server answers nothing and closes at end-of-file, as it would with
/// half a query. (tokio-util's `LinesCodec` hands such a line out at EOF unless told
/// otherwise; the legacy servers never did.)
fn unterminated_at_eof(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let me = q.stream.local_addr()?;
    let query = format!("{}, {}", pair.server_port(), pair.client_port());
    q.send(query.as_bytes())?;
    q.stream.shutdown(std::net::Shutdown::Write)?;
    let (got, _) = q.wait_closed(REPLY_TIMEOUT)?;
    ensure!(
        got.is_empty(),
        "{query:?} with no line end, then EOF → {:?}, expected no answer",
        String::from_utf8_lossy(&got)
    );
    let why = closed_for(&mut run, me, reason::EOF)?;
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!("{query:?} then EOF: no answer, closed for {why:?}"))
}

fn no_newline_bounded(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    // Warm up (first connection, first /proc read), then measure.
    still_serving(server)?;
    let pid = run.pid();
    let before = rss_kib(pid)?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let me = q.stream.local_addr()?;
    // 100 KB without a newline in one write, then up to 8 MiB more: a server that
    // buffered it all would show it in its RSS; a bounded one closes the connection,
    // and the writes fail.
    let chunk = vec![b'7'; 64 * 1024];
    let mut written = 0usize;
    let mut stopped_by = String::from("nothing: all 8 MiB were written");
    q.stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    match q.stream.write_all(&vec![b'7'; 100_000]) {
        Ok(()) => {
            written += 100_000;
            while written < 8 << 20 {
                match q.stream.write(&chunk) {
                    Ok(n) => written += n,
                    Err(e) => {
                        stopped_by = e.to_string();
                        break;
                    }
                }
            }
        }
        Err(e) => stopped_by = e.to_string(),
    }
    let (got, _) = q.wait_closed(REPLY_TIMEOUT)?;
    ensure!(
        got.is_empty(),
        "got {:?} before the close",
        String::from_utf8_lossy(&got)
    );
    let why = closed_for(&mut run, me, reason::TOO_LONG)?;
    let after = rss_kib(pid)?;
    let grown = after.saturating_sub(before);
    ensure!(
        grown < 2048,
        "VmRSS grew by {grown} KiB ({before} → {after}) while the peer sent {written} bytes without a newline"
    );
    drop(q);
    still_serving(server)?;
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "no newline: closed (`{why}`) after {written} bytes were written (then: {stopped_by}); \
         VmRSS {before} → {after} KiB; next client served"
    ))
}

fn invalid_utf8(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let me = q.stream.local_addr()?;
    q.send(b"\xff\xfe\xc0, \x80\r\n")?;
    // Either an error reply, or the connection closed: never a crash.
    let mut line = Vec::new();
    let n = q.reader.read_until(b'\n', &mut line).unwrap_or(0);
    let outcome = if n == 0 {
        let why = closed_reason(&mut run, me)?;
        format!("connection closed (`{why}`)")
    } else {
        let text = String::from_utf8_lossy(&line).to_string();
        ensure!(
            text.ends_with(" : ERROR : INVALID-PORT\r\n"),
            "reply {text:?}, expected an INVALID-PORT error"
        );
        format!("reply {:?}", text.trim_end())
    };
    drop(q);
    ensure!(run.alive(), "the server died: {}", run.stderr());
    ensure!(
        !run.stderr().contains("panicked"),
        "the server panicked: {}",
        run.stderr()
    );
    still_serving(server)?;
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "invalid UTF-8: {outcome}; no panic, next client served"
    ))
}

fn idle_timeout(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &["--idle-timeout-secs", "1"])?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let me = q.stream.local_addr()?;
    let (got, took) = q.wait_closed(Duration::from_secs(5))?;
    ensure!(
        got.is_empty(),
        "got {:?} from an idle connection",
        String::from_utf8_lossy(&got)
    );
    ensure!(
        took >= Duration::from_millis(900),
        "closed after {took:?}, before the 1 s idle timeout"
    );
    let why = closed_for(&mut run, me, reason::IDLE)?;
    drop(q);
    still_serving(server)?;
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "--idle-timeout-secs 1: a silent connection closed after {took:.2?} (`{why}`); next client served"
    ))
}

fn split_query(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    q.stream.set_nodelay(true)?;
    // One query in two TCP segments, 200 ms apart.
    let first = format!("{}, ", pair.server_port());
    let second = format!("{}\r\n", pair.client_port());
    q.send(first.as_bytes())?;
    thread::sleep(Duration::from_millis(200));
    // The server may have dropped the connection already.
    let _ = q.stream.write_all(second.as_bytes());
    let want = userid(&pair.query(), &my_user()?);
    let reply = q.reply().context("a query split across two segments")?;
    ensure!(
        reply == want,
        "{first:?} + 200 ms + {second:?} → {reply:?}, expected {want:?}"
    );
    drop(q);
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!("{first:?}, 200 ms, {second:?} → {want:?}"))
}

fn stuck_client(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    // Client A sends half a query and then nothing.
    let mut a = Querier::connect(LOCALHOST, server)?;
    a.send(format!("{}, ", pair.server_port()).as_bytes())?;
    // B connects once the server has taken A in.
    let a_addr = a.stream.local_addr()?;
    run.wait_until(EVENT_TIMEOUT, |lines| {
        lines
            .iter()
            .any(|l| matches!(l.event(), Ok(Event::Accepted { peer }) if peer == a_addr))
    })?;
    // Client B must be served meanwhile.
    let t0 = Instant::now();
    let mut b = Querier::connect(LOCALHOST, server)?;
    b.stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let result = b.ask(&pair.query());
    let took = t0.elapsed();
    drop(b);
    drop(a);
    let reply = result.context("B waited 2 s for a reply while A was stuck mid-query")?;
    let want = userid(&pair.query(), &my_user()?);
    ensure!(reply == want, "B got {reply:?}, expected {want:?}");
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "A stuck after half a query; B answered in {took:.2?}"
    ))
}

/// Starts the server with `--lookup LOOKUP`; a `Skipped` where netlink was asked for
/// and the host has none.
fn start_with_lookup(ctx: &Ctx, bind: &str, lookup: &str) -> Result<(Running, SocketAddr)> {
    start(ctx, bind, &["--lookup", lookup]).map_err(|e| {
        if format!("{e:#}").contains("NETLINK_SOCK_DIAG unavailable") {
            Skipped(format!("--lookup {lookup}: {e:#}")).into()
        } else {
            e
        }
    })
}

/// The same questions get the same replies with `--lookup netlink` and `--lookup
/// proc`, from an IPv4 querier seen through a dual-stack socket (`::ffff:127.0.0.1`)
/// and from an IPv6 one: USERID for the querier's connections (the ident connection
/// itself, and one whose server end is on another local address), NO-USER for the
/// reversed pair, for a connection between two other addresses and for a closed
/// one, INVALID-PORT for port 0.
/// `--lookup proc` says so on stderr, in one line; netlink says nothing.
fn lookups_agree(ctx: &Ctx) -> Outcome {
    let user = my_user()?;
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let has_v6 = TcpListener::bind((v6, 0)).is_ok();
    let mine = Pair::open(OTHER_B, LOCALHOST)?;
    let others = Pair::open(OTHER_B, OTHER_A)?;
    let closed = Pair::open(LOCALHOST, LOCALHOST)?;
    let (closed_query, s, c) = (closed.query(), closed.server_port(), closed.client_port());
    drop(closed);
    wait_unowned(s, c)?;
    let reversed = format!("{}, {}", mine.client_port(), mine.server_port());
    let mut cases = vec![
        (LOCALHOST, mine.query(), userid(&mine.query(), &user)),
        (LOCALHOST, reversed.clone(), no_user(&reversed)),
        (LOCALHOST, others.query(), no_user(&others.query())),
        (LOCALHOST, closed_query.clone(), no_user(&closed_query)),
        (
            LOCALHOST,
            "0, 1".to_string(),
            "0, 1 : ERROR : INVALID-PORT".to_string(),
        ),
    ];
    let v6_pair = if has_v6 {
        Some(Pair::open(v6, v6)?)
    } else {
        None
    };
    if let Some(p) = &v6_pair {
        cases.push((v6, p.query(), userid(&p.query(), &user)));
        // The IPv6 connection is not the IPv4 querier's.
        cases.push((LOCALHOST, p.query(), no_user(&p.query())));
    }
    let bind = if has_v6 { "[::]:0" } else { "127.0.0.1:0" };
    for lookup in ["netlink", "proc"] {
        let (mut run, server) = start_with_lookup(ctx, bind, lookup)?;
        for (from, query, want) in &cases {
            let mut q = Querier::connect(*from, SocketAddr::new(*from, server.port()))?;
            let reply = q.ask(query)?;
            ensure!(
                reply == *want,
                "--lookup {lookup}, querier {from}: {query:?} → {reply:?}, expected {want:?}"
            );
            // The ident connection itself: both ends on the querier's address (the
            // case netlink answers from the kernel's hash table).
            let itself = format!("{}, {}", server.port(), q.stream.local_addr()?.port());
            let reply = q.ask(&itself)?;
            let want = userid(&itself, &user);
            ensure!(
                reply == want,
                "--lookup {lookup}, querier {from}: {itself:?} (this connection) → {reply:?}, \
                 expected {want:?}"
            );
        }
        stop(&mut run, Signal::SIGTERM)?;
        let stderr = run.stderr();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        match lookup {
            "proc" => ensure!(
                lines.len() == 1 && lines[0].contains("/proc/net/tcp"),
                "--lookup proc: expected one line on stderr naming /proc/net/tcp, got {lines:?}"
            ),
            _ => ensure!(
                lines.is_empty(),
                "--lookup {lookup}: unexpected stderr {lines:?}"
            ),
        }
    }
    Ok(format!(
        "{} queries{}, the same replies with netlink and /proc; /proc announced on stderr",
        2 * cases.len(),
        if has_v6 {
            " (IPv4 through [::] and IPv6)"
        } else {
            " (no IPv6 here)"
        }
    ))
}

/// A's queries per round, sent in one write: a server that runs lookups on its event
/// loop answers B after all of them.
pub const IN_FLIGHT: usize = 8;
/// B's reply time in lookups (A's time per query in the same round), median over the
/// rounds: from this value up B waits for A's lookups (it is then about
/// [`IN_FLIGHT`]), below it B is served meanwhile (a few wake-ups: tens of
/// microseconds on an idle machine; on a loaded one, where B also competes with the
/// lookup for a CPU, seen up to about one lookup).
pub const WAITS_FROM: f64 = 3.0;
/// A lookup quicker than this cannot be told from scheduling noise: skip.
const MIN_LOOKUP: Duration = Duration::from_millis(1);
/// Measured rounds (after one that warms the server up).
const DELAY_ROUNDS: usize = 7;
/// How long B waits for a reply before the server is taken to serve nobody else.
const B_TIMEOUT: Duration = Duration::from_secs(2);

/// A client whose reply lines are read on a thread of their own, each stamped with
/// the moment it arrived, so that two clients can be timed at once.
struct Stamped {
    stream: TcpStream,
    replies: mpsc::Receiver<(String, Instant)>,
}

impl Stamped {
    fn connect(from: IpAddr, server: SocketAddr) -> Result<Stamped> {
        let stream = connect_from(from, server)?;
        stream.set_read_timeout(None)?;
        let reader = BufReader::new(stream.try_clone()?);
        let (tx, replies) = mpsc::channel();
        thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                let line = line.trim_end_matches('\r').to_string();
                if tx.send((line, Instant::now())).is_err() {
                    break;
                }
            }
        });
        Ok(Stamped { stream, replies })
    }

    /// Sends `count` copies of a query line in one write; returns when it was
    /// handed to the kernel.
    fn send(&mut self, query: &str, count: usize) -> Result<Instant> {
        let at = Instant::now();
        self.stream
            .write_all(format!("{query}\r\n").repeat(count).as_bytes())?;
        Ok(at)
    }

    fn reply(&self, timeout: Duration) -> Result<(String, Instant)> {
        self.replies
            .recv_timeout(timeout)
            .map_err(|_| anyhow!("no reply within {timeout:?}"))
    }
}

impl Drop for Stamped {
    /// Ends the reader thread (its read sees end-of-file).
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn median<T: Copy + PartialOrd + Default>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// With `--lookup proc` (milliseconds of CPU per lookup), client A sends
/// [`IN_FLIGHT`] queries in one write and client B, right after, one that needs no
/// lookup (`0, 0`). A's time per query is one lookup; B's reply time, counted in
/// lookups of the same round, says whether B waited for A's. Medians over the rounds:
/// a busy machine slows lookups and wake-ups alike, and a round where B's query
/// happens to reach the server first (the two segments handled on different CPUs)
/// does not decide.
fn other_client_during_lookup(ctx: &Ctx) -> Outcome {
    let program = ctx.program;
    let Some(documented) = &program.declared.during_lookup else {
        bail!(
            "{} documents no behaviour while another client's lookups run: declare \
             [package.metadata.study.during-lookup] in its Cargo.toml",
            program.package
        );
    };
    let (expected, why) = (documented.expect, documented.why.as_str());
    let (mut run, server) = start_with_lookup(ctx, "127.0.0.1:0", "proc")?;
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    let (query, want_a) = (pair.query(), userid(&pair.query(), &my_user()?));
    let (probe, want_b) = ("0, 0", "0, 0 : ERROR : INVALID-PORT");
    let mut a = Stamped::connect(LOCALHOST, server)?;
    let mut b = Stamped::connect(LOCALHOST, server)?;
    let (mut lookups, mut waits, mut in_lookups) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=DELAY_ROUNDS {
        let a_sent = a.send(&query, IN_FLIGHT)?;
        let b_sent = b.send(probe, 1)?;
        let mut a_done = a_sent;
        for i in 0..IN_FLIGHT {
            let (reply, at) = a
                .reply(REPLY_TIMEOUT)
                .with_context(|| format!("A's query {i}"))?;
            ensure!(reply == want_a, "A got {reply:?}, expected {want_a:?}");
            a_done = at;
        }
        let (b_reply, b_at) = b.reply(B_TIMEOUT).with_context(|| {
            format!(
                "B's query, sent just after A's (round {round}), while A's connection stays open"
            )
        })?;
        ensure!(b_reply == want_b, "B got {b_reply:?}, expected {want_b:?}");
        if round > 0 {
            let lookup = (a_done - a_sent) / IN_FLIGHT as u32;
            let waited = b_at - b_sent;
            lookups.push(lookup);
            waits.push(waited);
            in_lookups.push(waited.as_secs_f64() / lookup.as_secs_f64().max(1e-9));
        }
    }
    drop((a, b));
    stop(&mut run, Signal::SIGTERM)?;
    let (lookup, waited, ratio) = (median(lookups), median(waits), median(in_lookups));
    if lookup < MIN_LOOKUP {
        return Err(Skipped(format!(
            "a /proc lookup takes {lookup:.2?} here: too quick to tell waiting from scheduling noise"
        ))
        .into());
    }
    let observed = if ratio >= WAITS_FROM {
        DuringLookup::Waits
    } else {
        DuringLookup::Served
    };
    let figures = format!(
        "A: {IN_FLIGHT} queries in one write, {lookup:.2?} per /proc lookup; B's reply \
         {waited:.2?} = {ratio:.1} lookups (medians of {DELAY_ROUNDS} rounds)"
    );
    ensure!(
        observed == expected,
        "{figures}: B {observed}, expected B {expected} (≥ {WAITS_FROM} lookups waits): {why}"
    );
    Ok(format!("{figures}: B {expected} ({why})"))
}

fn signal_check(ctx: &Ctx, sig: Signal) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    for _ in 0..3 {
        let mut q = Querier::connect(LOCALHOST, server)?;
        let me = q.stream.local_addr()?;
        q.ask(&pair.query())?;
        q.ask("0, 0")?;
        drop(q);
        closed_reason(&mut run, me)?;
    }
    let t0 = Instant::now();
    let counts = stop(&mut run, sig)?;
    ensure!(
        counts == (3, 3, 6),
        "summary (accepted, closed, queries) = {counts:?}, expected (3, 3, 6)"
    );
    Ok(format!(
        "exit 0 after {:.2?}, summary accepted=3 closed=3 queries=6",
        t0.elapsed()
    ))
}

fn sigterm_open_connection(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let pair = Pair::open(OTHER_B, LOCALHOST)?;
    let mut q = Querier::connect(LOCALHOST, server)?;
    let me = q.stream.local_addr()?;
    q.ask(&pair.query())?;
    // The connection stays open (and idle): the signal must close it.
    let t0 = Instant::now();
    let counts = stop(&mut run, Signal::SIGTERM)?;
    let took = t0.elapsed();
    let (got, _) = q.wait_closed(Duration::from_secs(1))?;
    ensure!(got.is_empty(), "unexpected bytes after the signal");
    let why = closed_for(&mut run, me, reason::SHUTDOWN)?;
    ensure!(
        counts == (1, 1, 1),
        "summary (accepted, closed, queries) = {counts:?}"
    );
    let _ = q.stream.shutdown(Shutdown::Both);
    Ok(format!(
        "an open, idle connection closed (`{why}`), exit 0 after {took:.2?}"
    ))
}
