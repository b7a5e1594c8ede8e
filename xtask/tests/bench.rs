//! `cargo xtask bench --quick` on one pair and the baselines, so that the instrument
//! cannot break silently: every field of the JSON is there, the figures are nonzero,
//! the ratios and the plots are produced. Timings are never asserted here (the
//! programs are even built with the dev profile, which the conformance suite builds
//! anyway): the targets are checked by running the bench itself.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Figures every UDP echo entry must have, and which of them must be nonzero.
const UDP_NONZERO: [&str; 11] = [
    "echoes_per_s",
    "cpu_per_echo_ns",
    "server_cpu_util",
    "client_cpu_util",
    "rtt_p50_us",
    "rtt_p99_us",
    "rtt_w32_p50_us",
    "cpu_per_echo_w1_ns",
    "peak_rss_kib",
    "server_recv",
    "server_sent",
];
const UDP_PRESENT: [&str; 5] = [
    "losses",
    "late",
    "server_dropped",
    "client_sent",
    "client_received",
];
/// Figures of the flood every UDP echo entry gets, and which of them must be nonzero.
const FLOOD_NONZERO: [&str; 5] = [
    "flood_sent",
    "flood_server_recv",
    "flood_read_share",
    "flood_reads_per_turn",
    "flood_echoes_per_turn",
];
const FLOOD_PRESENT: [&str; 5] = [
    "flood_echoed",
    "flood_share",
    "flood_server_sent",
    "flood_queue_dropped",
    "flood_kernel_dropped",
];

fn workspace_has(package_dir: &str) -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(package_dir)
        .join("Cargo.toml")
        .exists()
}

#[test]
fn quick_bench_produces_every_figure_ratio_and_plot() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-quick");
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "bench",
            "--quick",
            "echo-tokio",
            "--profile",
            "dev",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run cargo xtask bench");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "bench failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    // The table for people.
    for needle in [
        "UDP echo",
        "echoes/s",
        "CPU/echo µs",
        "UDP echo: a flood of 5,000 datagrams",
        "echoed of read",
        "Ratios",
        "command: cargo xtask bench",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }

    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("bench.json")).expect("bench.json written"),
    )
    .expect("bench.json is JSON");
    for key in [
        "command",
        "took_s",
        "machine",
        "placement",
        "method",
        "entries",
        "ratios",
        "targets",
        "skipped",
        "plots",
    ] {
        assert!(!json[key].is_null(), "bench.json has no {key}");
    }
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(json["method"]["rounds"], 2);
    assert!(json["method"]["udp_echo"]["throughput"]["window"] == 32);

    let raw = workspace_has("modern/echo-epoll-edge");
    let entries = json["entries"].as_array().unwrap();
    let mut expected = vec![
        ("echo-tokio", "legacy"),
        ("echo-tokio", "modern"),
        ("baseline-blocking", "baseline"),
    ];
    if raw {
        expected.push(("echo-epoll-edge", "modern"));
    }
    assert_eq!(entries.len(), expected.len(), "{entries:#?}");
    for (program, flavor) in expected {
        let e = entries
            .iter()
            .find(|e| e["program"] == program && e["flavor"] == flavor)
            .unwrap_or_else(|| panic!("no entry for {program} {flavor}"));
        assert_eq!(e["errors"].as_array().unwrap().len(), 0, "{e:#}");
        let rounds = e["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 2);
        assert!(rounds.iter().all(Value::is_object), "{e:#}");
        for stat in ["median", "min", "max"] {
            for f in UDP_NONZERO {
                let v = e[stat][f].as_f64();
                assert!(
                    v.is_some_and(|v| v > 0.0),
                    "{program} {flavor}: {stat} {f} = {v:?}"
                );
            }
            for f in UDP_PRESENT.iter().chain(&FLOOD_PRESENT) {
                assert!(e[stat][f].is_number(), "{program} {flavor}: no {stat} {f}");
            }
            for f in FLOOD_NONZERO {
                let v = e[stat][f].as_f64();
                assert!(
                    v.is_some_and(|v| v > 0.0),
                    "{program} {flavor}: {stat} {f} = {v:?}"
                );
            }
        }
        // The flood's accounts add up: what was read was echoed or dropped at the
        // queue, and no more came back than was sent.
        for round in rounds {
            let n = |k: &str| round[k].as_f64().unwrap_or(f64::NAN);
            assert_eq!(
                n("flood_server_recv"),
                n("flood_server_sent") + n("flood_queue_dropped"),
                "{program} {flavor}: {round:#}"
            );
            assert!(n("flood_echoed") <= n("flood_sent"), "{round:#}");
            assert!((0.0..=1.0).contains(&n("flood_read_share")), "{round:#}");
        }
        // The server's own count agrees with what came back.
        assert!(e["median"]["server_sent"].as_f64() >= e["median"]["client_received"].as_f64());
    }

    let ratios = json["ratios"].as_array().unwrap();
    let ratio = |subject: &str, figure: &str| {
        ratios
            .iter()
            .find(|r| r["subject"] == subject && r["figure"] == figure)
            .unwrap_or_else(|| panic!("no ratio {subject} {figure}"))
    };
    let mut with_targets = vec![ratio("echo-tokio modern / legacy", "cpu_per_echo_ns")];
    ratio("echo-tokio modern / legacy", "echoes_per_s");
    if raw {
        with_targets.push(ratio(
            "echo-tokio modern / raw epoll-edge",
            "cpu_per_echo_ns",
        ));
        with_targets.push(ratio("echo-tokio modern / raw epoll-edge", "rtt_p50_us"));
        ratio(
            "baseline-blocking baseline / raw epoll-edge",
            "cpu_per_echo_ns",
        );
    }
    for r in with_targets {
        assert_eq!(r["rounds"].as_array().unwrap().len(), 2, "{r:#}");
        assert!(r["median"].as_f64().is_some_and(|v| v > 0.0), "{r:#}");
        assert!(r["min"].as_f64() <= r["max"].as_f64(), "{r:#}");
        assert!(r["target"].is_string() && r["met"].is_boolean(), "{r:#}");
    }

    let plots: Vec<&str> = json["plots"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in [
        "udp-cpu-per-echo.svg",
        "udp-echoes-per-s.svg",
        "udp-rtt-p50.svg",
        "udp-flood-share.svg",
        "udp-flood-read-share.svg",
    ] {
        assert!(plots.contains(&name), "{plots:?}");
        let svg = std::fs::read_to_string(out.join(name)).expect("plot written");
        assert!(svg.contains("<svg") && svg.contains("<rect"), "{name}");
        // Text is written as SVG text: the program names and the legend are there.
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect();
        for word in ["tokio", "legacy", "modern", "baseline"] {
            assert!(
                texts.contains(&word),
                "{name}: no text {word:?} in {texts:?}"
            );
        }
    }
}
