//! Target `cli_args`: a command line (the arguments as the OS passes them: bytes,
//! separated by NUL in the input, at most 24) given to every program family's
//! [`Spec`], and the addresses in it.
//!
//! Properties:
//!
//! * Bad input is one line of error (what `main` prints before exit status 2), never
//!   a panic.
//! * Help is only ever the answer to `--help` or `-h`.
//! * A parsed command line, printed back as options, parses to the same values
//!   ([`command_line`]), and every option the program does not take keeps its
//!   default.
//! * The ports of a multi-socket program fit below 65536; the bind error for its
//!   address is one line, with a hint only for a privileged port.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;

use shared::cli::{bind_error, multisocket_addrs, Args, Opt, Parsed, Spec};

/// Every family's command line.
pub fn specs() -> [Spec; 12] {
    [
        Spec::udp_echo("udp-echo"),
        Spec::multisocket("multisocket"),
        Spec::future_notify("future-notify"),
        Spec::demo("demo", "a demo"),
        Spec::mio_mixed("mio-mixed"),
        Spec::tcp_echo("tcp-echo"),
        Spec::ident("ident"),
        Spec::udp_waiters("udp-waiters"),
        Spec::coop_budget("coop-budget"),
        // The servers that run on several threads take `--threads N` too.
        Spec::udp_echo("udp-echo-threads").with_threads(),
        Spec::tcp_echo("tcp-echo-threads").with_threads(),
        Spec::ident("ident-threads").with_threads(),
    ]
}

pub fn check(data: &[u8]) {
    let args: Vec<OsString> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == 0)
            .take(24)
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect()
    };
    for spec in specs() {
        match spec.parse(args.clone()) {
            Err(e) => assert!(
                !e.0.is_empty() && !e.0.contains(['\n', '\r']),
                "{}: the error {:?} is not one line",
                spec.name,
                e.0
            ),
            Ok(Parsed::Help) => assert!(
                args.iter().any(|a| a == "--help" || a == "-h"),
                "{}: help for {args:?}",
                spec.name
            ),
            Ok(Parsed::Run(parsed)) => run(&spec, &parsed),
        }
    }
}

fn run(spec: &Spec, parsed: &Args) {
    let mut expected = spec.defaults.clone();
    for &opt in spec.options {
        copy(opt, parsed, &mut expected);
    }
    assert_eq!(
        *parsed, expected,
        "{}: an option it does not take changed",
        spec.name
    );

    let line = command_line(spec, parsed);
    assert_eq!(
        spec.parse(line.clone()),
        Ok(Parsed::Run(parsed.clone())),
        "{}: {line:?} does not parse back",
        spec.name
    );
    if spec.options.contains(&Opt::Sockets) {
        let addrs = multisocket_addrs(parsed.bind, parsed.sockets);
        assert!(addrs.is_ok_and(|a| a.len() == parsed.sockets));
    }
    let denied = io::Error::from(io::ErrorKind::PermissionDenied);
    let message = bind_error(parsed.bind, &denied);
    assert!(!message.contains('\n'), "{message:?}");
    assert_eq!(
        message.contains("try --bind"),
        parsed.bind.port() < 1024,
        "{message:?}"
    );
}

/// Copies the value of `opt` from `from` to `to`.
fn copy(opt: Opt, from: &Args, to: &mut Args) {
    match opt {
        Opt::Bind => to.bind = from.bind,
        Opt::Queue => to.queue = from.queue,
        Opt::Quiet => to.quiet = from.quiet,
        Opt::Sockets => to.sockets = from.sockets,
        Opt::Count => to.count = from.count,
        Opt::IntervalMs => to.interval = from.interval,
        Opt::IdleTimeoutSecs => to.idle_timeout = from.idle_timeout,
        Opt::MaxConnections => to.max_connections = from.max_connections,
        Opt::Lookup => to.lookup = from.lookup,
        Opt::Tasks => to.tasks = from.tasks,
        Opt::WorkMs => to.work = from.work,
        Opt::Loop => to.read_loop = from.read_loop,
        Opt::CostUs => to.cost = from.cost,
        Opt::AllowAnySourcePort => to.allow_any_source_port = from.allow_any_source_port,
        Opt::Threads => to.threads = from.threads,
    }
}

/// The options that give `args` to a program of `spec`, each as `--flag value`.
pub fn command_line(spec: &Spec, args: &Args) -> Vec<String> {
    let mut out = Vec::new();
    let mut value = |flag: &str, v: String| out.extend([flag.to_string(), v]);
    let mut switches = Vec::new();
    for &opt in spec.options {
        match opt {
            Opt::Bind => value("--bind", args.bind.to_string()),
            Opt::Queue => value("--queue", args.queue.to_string()),
            Opt::Sockets => value("--sockets", args.sockets.to_string()),
            Opt::Count => value("--count", args.count.to_string()),
            Opt::IntervalMs => value("--interval-ms", args.interval.as_millis().to_string()),
            Opt::IdleTimeoutSecs => value(
                "--idle-timeout-secs",
                args.idle_timeout.as_secs().to_string(),
            ),
            Opt::MaxConnections => value("--max-connections", args.max_connections.to_string()),
            Opt::Lookup => value("--lookup", args.lookup.to_string()),
            Opt::Tasks => value("--tasks", args.tasks.to_string()),
            Opt::WorkMs => value("--work-ms", args.work.as_millis().to_string()),
            Opt::Loop => value("--loop", args.read_loop.to_string()),
            Opt::CostUs => value("--cost-us", args.cost.as_micros().to_string()),
            Opt::Threads => value("--threads", args.threads.to_string()),
            Opt::Quiet if args.quiet => switches.push("--quiet".to_string()),
            Opt::AllowAnySourcePort if args.allow_any_source_port => {
                switches.push("--allow-any-source-port".to_string())
            }
            Opt::Quiet | Opt::AllowAnySourcePort => {}
        }
    }
    out.extend(switches);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::vectors::cli::COMMAND_LINES;

    #[test]
    fn every_vector_holds() {
        for line in COMMAND_LINES {
            check(line.join("\0").as_bytes());
        }
    }

    #[test]
    fn defaults_print_back() {
        for spec in specs() {
            let line = command_line(&spec, &spec.defaults);
            assert_eq!(spec.parse(line), Ok(Parsed::Run(spec.defaults.clone())));
        }
    }
}
