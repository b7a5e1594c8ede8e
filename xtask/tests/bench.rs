//! `cargo xtask bench --quick` on one pair and the baselines, then on a pair of
//! another family into the same folder, so that the instrument cannot break silently:
//! every figure of the records there and non-zero where it must be, the ratios
//! produced, the two runs' records merged and read back as typed records. Timings are
//! never asserted here (the programs are even built with the dev profile, which the
//! conformance suite builds anyway): the targets are checked by running the bench.

use std::path::Path;
use std::process::Command;

use harness::results::bench::{BenchRecord, Entry, Ratio, UdpEchoFigures, WaitersFigures};
use harness::results::File;

/// Runs `cargo xtask bench --quick --profile dev --out OUT ARGS…`; its stdout.
fn bench(args: &[&str], out: &Path) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--quick", "--profile", "dev", "--out"])
        .arg(out)
        .args(args)
        .output()
        .expect("run cargo xtask bench");
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "bench {args:?}: {}\n{stdout}\n{stderr}",
        run.status
    );
    stdout
}

#[test]
fn quick_bench_records_every_figure_and_merges_its_runs() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-quick");
    let _ = std::fs::remove_dir_all(&out);
    let table = bench(&["echo-tokio"], &out);
    for needle in [
        "UDP echo, throughput",
        "UDP echo, a flood of 5,000",
        "Ratios",
        "kept in",
    ] {
        assert!(table.contains(needle), "{needle:?} missing from:\n{table}");
    }
    // The tables fit 100 columns (the command line below them is as long as typed).
    let tables = table.split("\nkept in").next().unwrap_or_default();
    assert!(tables.lines().all(|l| l.chars().count() <= 100), "{table}");
    // A second, narrower run of another family, into the same folder.
    let json = bench(&["udp-waiters", "--format", "json"], &out);
    let this_run: File<BenchRecord> = serde_json::from_str(&json).expect("this run's records");
    assert_eq!(
        this_run.records.len(),
        2,
        "udp-waiters legacy and modern: {json}"
    );

    let file = File::<BenchRecord>::load(&out).expect("bench.json reads back");
    let entry = |key: &str| match file.get(&format!("entry {key}")) {
        Some(r) => match &r.data {
            BenchRecord::Entry(e) => (e, &r.run),
            BenchRecord::Ratio(_) => unreachable!("an entry's key"),
        },
        None => panic!("no entry {key} in {file:#?}"),
    };
    for key in [
        "echo-tokio legacy",
        "echo-tokio modern",
        "baseline-blocking baseline",
    ] {
        let (e, run) = entry(key);
        assert!(
            run.command.ends_with("echo-tokio"),
            "each record keeps its run: {run:?}"
        );
        assert_eq!(
            (run.load.len(), e.settings.rounds),
            (2, 2),
            "a load per round"
        );
        udp_echo(e);
    }
    udp_echo(entry("echo-epoll-edge modern").0);
    // The depth sweep runs on raw epoll-edge and modern echo-tokio, not on legacy.
    for (key, points) in [
        ("echo-tokio modern", 9),
        ("echo-epoll-edge modern", 9),
        ("echo-tokio legacy", 0),
    ] {
        depth(entry(key).0, points);
    }
    for key in ["udp-waiters legacy", "udp-waiters modern"] {
        let (e, run) = entry(key);
        assert!(run.command.ends_with("--format json"), "{run:?}");
        waiters(e);
    }

    let ratio = |subject: &str, figure: &str| -> &Ratio {
        let found = file.data().find_map(|r| match r {
            BenchRecord::Ratio(r) if r.subject == subject && r.figure == figure => Some(r),
            _ => None,
        });
        found.unwrap_or_else(|| panic!("no ratio {subject} {figure}"))
    };
    ratio("echo-tokio modern / legacy", "echoes_per_s");
    for (subject, figure) in [
        ("echo-tokio modern / legacy", "cpu_per_echo_ns"),
        ("echo-tokio modern / raw epoll-edge", "cpu_per_echo_ns"),
        ("echo-tokio modern / raw epoll-edge", "rtt_p50_us"),
    ] {
        let r = ratio(subject, figure);
        assert_eq!(r.rounds.len(), 2, "{r:#?}");
        assert!(
            r.stat().is_some_and(|s| s.median > 0.0 && s.min <= s.max),
            "{r:#?}"
        );
        assert!(r.target.is_some() && r.met().is_some(), "{r:#?}");
        // Both sides are entries of the file.
        entry(&r.of);
        entry(r.to.as_deref().expect("a ratio of two entries"));
    }
}

/// Every figure of a UDP echo entry, round by round: there, and non-zero but for those
/// a round may leave at zero; the next-era figures only on the entries that run them.
fn udp_echo(e: &Entry) {
    const MAY_BE_ZERO: [&str; 8] = [
        "losses",
        "late",
        "stat_ticks",
        "server_dropped",
        "flood_echoed",
        "flood_share",
        "flood_queue_dropped",
        "flood_kernel_dropped",
    ];
    assert!(e.errors.is_empty() && e.skipped.is_none(), "{e:#?}");
    let rounds = e.rounds_of::<UdpEchoFigures>().expect("UDP echo rounds");
    assert_eq!(rounds.len(), 2);
    for f in rounds.iter().map(|f| f.as_ref().expect("a measured round")) {
        let json = serde_json::to_value(f).unwrap();
        // The depth sweep's points are checked on their own.
        for (name, v) in json
            .as_object()
            .expect("figures")
            .iter()
            .filter(|(n, _)| *n != "depth")
        {
            let next_era =
                name.contains("1sock") || name.starts_with("gso") || name == "syscalls_per_echo";
            match v.as_f64() {
                _ if next_era => assert!(v.is_null(), "{}: {name} = {v}", e.key()),
                Some(v) => assert!(
                    v > 0.0 || MAY_BE_ZERO.contains(&name.as_str()),
                    "{}: {name} = {v}",
                    e.key()
                ),
                None => panic!("{}: no {name}", e.key()),
            }
        }
        // The flood's accounts add up: what was read was echoed or dropped at the
        // queue, and no more came back than was sent.
        let flood = &f.flood;
        let (sent, dropped) = (
            flood.flood_server_sent.unwrap(),
            flood.flood_queue_dropped.unwrap(),
        );
        assert_eq!(flood.flood_server_recv, Some(sent + dropped), "{f:#?}");
        assert!(flood.flood_echoed <= flood.flood_sent, "{f:#?}");
        assert!(
            (0.0..=1.0).contains(&flood.flood_read_share.unwrap()),
            "{f:#?}"
        );
        // The server's own count agrees with what came back.
        assert!(f.server.server_sent >= Some(f.client_received), "{f:#?}");
    }
}

/// Every figure of a udp-waiters entry, round by round.
fn waiters(e: &Entry) {
    assert!(e.errors.is_empty() && e.skipped.is_none(), "{e:#?}");
    let rounds = e.rounds_of::<WaitersFigures>().expect("udp-waiters rounds");
    assert_eq!(rounds.len(), 2);
    for f in rounds.iter().map(|f| f.as_ref().expect("a measured round")) {
        assert_eq!(
            (f.probes, f.tasks.len()),
            (e.settings.waiter_probes, e.settings.waiter_tasks)
        );
        let read: u64 = f.tasks.iter().map(|t| t.recv).sum();
        assert_eq!(read, f.probes as u64, "every datagram read once: {f:#?}");
        assert!(f.woken_per_datagram() >= 1.0, "{f:#?}");
        assert!(f.burst_last_ms().is_some_and(|ms| ms > 0.0), "{f:#?}");
        assert_eq!(f.burst_work_ms, e.settings.waiter_work_ms);
    }
}

/// Every round of `e` has `points` points of the depth sweep, each measured.
fn depth(e: &Entry, points: usize) {
    let rounds = e.rounds_of::<UdpEchoFigures>().expect("UDP echo");
    for r in rounds.iter().flatten() {
        let measured = r
            .depth
            .iter()
            .filter(|p| p.echoes_per_s > 0.0 && p.cpu_per_echo_ns > 0.0);
        assert_eq!(
            (r.depth.len(), measured.count()),
            (points, points),
            "{}: {:?}",
            e.key(),
            r.depth
        );
    }
}
