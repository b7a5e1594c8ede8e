use std::time::Duration;

use super::bench::{BenchRecord, Entry, Rounds, Settings, UdpEchoFigures};
use super::conformance::{Row, Status};
use super::*;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("results-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn run(command: &str) -> Run {
    Run {
        command: command.into(),
        ..Run::now("release", Duration::from_secs(1), vec![[0.1, 0.2]])
    }
}

#[test]
fn a_narrower_run_merges_into_what_is_there() {
    let dir = temp_dir("merge");
    let row = |p: &str, f: &str| Row::new(p, f, Vec::new());
    let first = vec![row("a", "legacy"), row("a", "modern"), row("b", "legacy")];
    File::merge_into(&dir, &run("cargo xtask conformance"), first).unwrap();
    File::merge_into(
        &dir,
        &run("cargo xtask conformance a"),
        vec![row("a", "modern")],
    )
    .unwrap();
    let file = File::<Row>::load(&dir).unwrap();
    let keys: Vec<(String, String)> = (file.records.iter())
        .map(|r| (r.data.key(), r.run.command.clone()))
        .collect();
    let want = |k: &str, c: &str| (k.to_string(), c.to_string());
    assert_eq!(
        keys,
        [
            want("a legacy", "cargo xtask conformance"),
            want("b legacy", "cargo xtask conformance"),
            want("a modern", "cargo xtask conformance a"),
        ],
        "each record keeps the run that made it"
    );
    assert_eq!(file.get("b legacy").unwrap().data.status, Status::Fail);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_folder_has_no_records_and_another_version_is_refused() {
    let dir = temp_dir("version");
    assert!(File::<Row>::load(&dir).unwrap().records.is_empty());
    fs::create_dir_all(&dir).unwrap();
    fs::write(path::<Row>(&dir), "{\"version\": 0, \"records\": []}").unwrap();
    let e = File::<Row>::load(&dir).unwrap_err().to_string();
    assert!(
        e.contains("format version 0") && e.contains("measure again"),
        "{e}"
    );
    fs::write(path::<Row>(&dir), "not json").unwrap();
    assert!(File::<Row>::load(&dir).is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_records_read_back_as_written() {
    let settings = Settings {
        rounds: 2,
        measure_s: 1.0,
        warmup_s: 0.2,
        udp_sockets: 4,
        window: 32,
        payload: 64,
        flood_datagrams: 5_000,
        spray_rate: 5_000,
        sweep_counts: vec![1, 31],
        tcp_connections: 8,
        tcp_chunk: 65_536,
        ident_clients: 32,
        waiter_tasks: 4,
        waiter_probes: 40,
        waiter_work_ms: 300,
        coop_rate: 20_000.0,
        coop_cost_us: 250,
    };
    // A float that a plain parse reads back one unit off in its last place: a record
    // merged again must keep its figures to the bit.
    let figures = |ns: f64| UdpEchoFigures {
        cpu_per_echo_ns: ns,
        client_cpu_util: 0.9922357571872681,
        ..Default::default()
    };
    let entry = Entry {
        program: "echo-tokio".into(),
        flavor: "modern".into(),
        variant: None,
        sockets: None,
        skipped: None,
        errors: vec!["round 3: no echo".into()],
        settings,
        rounds: Rounds::UdpEcho(vec![Some(figures(2000.0)), None, Some(figures(3000.0))]),
    };
    let dir = temp_dir("bench");
    let records = vec![BenchRecord::Entry(entry.clone())];
    File::merge_into(&dir, &run("cargo xtask bench"), records).unwrap();
    let file = File::<BenchRecord>::load(&dir).unwrap();
    let Some(BenchRecord::Entry(back)) = file.data().next() else {
        panic!("no entry in {file:?}");
    };
    assert_eq!(back, &entry);
    let stat = back
        .stat(|f: &UdpEchoFigures| Some(f.cpu_per_echo_ns))
        .unwrap();
    assert_eq!(
        (stat.median, stat.min, stat.max, stat.n),
        (2500.0, 2000.0, 3000.0, 2)
    );
    assert!(back.rounds_of::<super::bench::TcpEchoFigures>().is_none());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_profiled_target_names_the_bucket_that_holds_it_back() {
    use super::bench::{Op, Target};
    use super::profile::{held_to, Bucket, Load, ProfileEntry, ProfileRound};
    // Two rounds of CPU per echo split 50/50 between the buckets named.
    let entry = |program: &str, rounds: [(f64, [Bucket; 2]); 2]| {
        let mut e = ProfileEntry::new((program, "next"), Load::Deep, None, Default::default());
        for (round, (cpu, parts)) in rounds.into_iter().enumerate() {
            let samples = parts.into_iter().map(|b| (b, 10)).collect();
            let r = ProfileRound {
                cpu_per_echo_ns: cpu,
                samples,
                ..Default::default()
            };
            e.record(round, Ok(r));
        }
        e
    };
    let raw = entry("raw", [(1000.0, [Bucket::Syscall, Bucket::UdpSend]); 2]);
    let less_syscalls = |b| if b == Bucket::Syscall { 0.2 } else { 1.0 };
    let target = || Target::new(Op::AtMost, 1.0, "raw less 80 % of its system calls");
    // Raw allows 500 × 0.2 + 500 = 600 ns.
    let fast = entry("fast", [(600.0, [Bucket::Machinery, Bucket::UdpSend]); 2]);
    let r = held_to("fast / raw".into(), (&fast, &raw), less_syscalls, target());
    assert_eq!((r.met(), r.held_back_by), (Some(true), None));
    assert_eq!(r.rounds, [1.0, 1.0]);
    // 900 ns: 450 in io_uring machinery, where raw spends none (+450); 450 sending,
    // where 500 are allowed (-50); no system call, where 100 ns are allowed (-100).
    let slow = entry("slow", [(900.0, [Bucket::Machinery, Bucket::UdpSend]); 2]);
    let r = held_to("slow / raw".into(), (&slow, &raw), less_syscalls, target());
    assert_eq!((r.met(), r.rounds[0]), (Some(false), 1.5));
    assert_eq!(
        r.held_back_by.as_deref(),
        Some("epoll/io_uring +450 ns per echo")
    );
}
