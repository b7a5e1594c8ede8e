use serde_json::{json, Value};

use super::*;
use crate::declared::{Ctl, EchoLoadKind, Io, Need, Range, Woken};

fn catalogue(packages: &[(&str, Value)]) -> Catalogue {
    Catalogue::of_declarations(packages)
}

#[test]
fn a_program_is_what_its_cargo_toml_declares() {
    let c = catalogue(&[
        ("modern-udp-twin", json!({ "family": "udp-echo" })),
        ("legacy-udp-twin", json!({ "family": "udp-echo" })),
        ("shared", Value::Null),
        (
            "modern-fan",
            json!({ "family": "multisocket", "polls": "every-up-to-30" }),
        ),
        (
            "bridge-fan-step1",
            json!({ "family": "multisocket", "polls": "woken", "program": "fan", "step": 1 }),
        ),
        (
            "bridge-fan-too-early",
            json!({
                "family": "multisocket", "polls": "woken", "program": "fan-too-early",
                "step": 1, "pitfall-of": "fan"
            }),
        ),
    ]);
    let found: Vec<(String, String, Family)> = (c.programs().iter())
        .map(|p| (p.name.clone(), p.flavor_label(), p.family().unwrap()))
        .collect();
    let row = |n: &str, f: &str, fam| (n.to_string(), f.to_string(), fam);
    assert_eq!(
        found,
        [
            row("udp-twin", "legacy", Family::UdpEcho),
            row("udp-twin", "modern", Family::UdpEcho),
            row("fan", "bridge-1", Family::Multisocket),
            row("fan", "modern", Family::Multisocket),
            row("fan-too-early", "bridge-1", Family::Multisocket),
        ],
        "in story order: UDP echo first, then multi-socket; flavors legacy → bridge → modern"
    );
    assert_eq!(c.programs()[3].polls().unwrap(), Polls::EveryUpTo30);
    assert_eq!(c.programs()[4].declared.pitfall_of.as_deref(), Some("fan"));
    let next = catalogue(&[(
        "next-udp-ring",
        json!({ "family": "udp-echo", "sibling": "udp-twin", "needs": ["io-uring"] }),
    )]);
    let p = &next.programs()[0];
    assert_eq!((p.name.as_str(), p.flavor), ("udp-ring", Flavor::Next));
    assert_eq!(p.declared.needs, [Need::IoUring]);
    assert_eq!(p.declared.sibling.as_deref(), Some("udp-twin"));
    assert!(p.family().is_ok());
    assert_eq!(c.names(), ["udp-twin", "fan", "fan-too-early"]);
    let unknown = c.check_names(&["nope".into()]).unwrap_err().to_string();
    assert!(unknown.contains("udp-twin, fan"), "{unknown}");
}

#[test]
fn what_the_suite_expects_is_declared_with_the_program() {
    let c = catalogue(&[
        (
            "legacy-echo",
            json!({
                "family": "udp-echo",
                "syscalls-per-echo": {
                    "load": "ping-pong",
                    "epoll-wait": [0.9, 1.05],
                    "epoll-ctl": { "per-turn": [0.95, 1.05] },
                    "why": "re-registers before every poll",
                },
                "expected-failure": [
                    { "checks": ["sigterm", "sigint"], "why": "signals are ignored" },
                ],
            }),
        ),
        (
            "next-echo",
            json!({
                "family": "udp-echo",
                "syscalls-per-echo": {
                    "load": "window",
                    "io": { "batched": { "io_uring_enter": [0.0, 0.5] } },
                    "epoll-wait": [0.0, 0.0],
                    "why": "completion-based",
                },
            }),
        ),
        (
            "legacy-waiters",
            json!({ "family": "udp-waiters", "woken": { "expect": "one-task", "why": "one slot" } }),
        ),
    ]);
    let by = |pkg: &str| c.programs().iter().find(|p| p.package == pkg).unwrap();
    let echo = by("legacy-echo");
    let s = echo.declared.syscalls_per_echo.as_ref().unwrap();
    assert_eq!(s.load, EchoLoadKind::PingPong);
    assert_eq!(s.io, Io::OnePerEcho(["recvfrom".into(), "sendto".into()]));
    assert_eq!(s.epoll_ctl, Ctl::PerTurn(Range([0.95, 1.05])));
    assert!(s.epoll_wait.holds(1.0) && !s.epoll_wait.holds(1.1));
    assert_eq!(echo.expected_failure("sigint"), Some("signals are ignored"));
    assert_eq!(echo.expected_failure("payloads-ipv4"), None);
    let next = by("next-echo").declared.syscalls_per_echo.as_ref().unwrap();
    assert!(matches!(&next.io, Io::Batched(calls) if calls.contains_key("io_uring_enter")));
    assert_eq!(
        next.epoll_ctl,
        Ctl::PerEcho(Range([0.0, 0.0])),
        "the default"
    );
    let woken = by("legacy-waiters").declared.woken.as_ref().unwrap();
    assert_eq!(woken.expect, Woken::OneTask);
}

#[test]
fn a_missing_unknown_or_malformed_declaration_is_kept_with_the_reason() {
    let c = catalogue(&[
        ("legacy-a", Value::Null),
        ("legacy-b", json!({ "family": "udp_echo" })),
        ("legacy-c", json!({ "family": "udp-echo", "famly": "x" })),
        ("legacy-d", json!({ "family": "multisocket" })),
        (
            "legacy-e",
            json!({ "family": "udp-echo", "polls": "woken" }),
        ),
        ("bridge-f", json!({ "family": "udp-echo" })),
        ("modern-g", json!({ "family": "udp-echo", "step": 2 })),
        (
            "modern-h",
            json!({ "family": "udp-echo", "sibling": "echo-select" }),
        ),
        (
            "next-i",
            json!({ "family": "udp-echo", "needs": ["io_uring"] }),
        ),
        (
            "modern-j",
            json!({ "family": "udp-echo", "pitfall-of": "udp-twin" }),
        ),
        (
            "modern-k",
            json!({ "family": "ident", "woken": { "expect": "every-task", "why": "x" } }),
        ),
        (
            "modern-l",
            json!({ "family": "udp-echo", "syscalls-per-echo": {
                "load": "window", "epoll-wait": [1.0, 0.0], "why": "x" } }),
        ),
    ]);
    let why = |pkg: &str| {
        let p = c.programs().iter().find(|p| p.package == pkg).unwrap();
        p.family().unwrap_err().to_string()
    };
    let expect = [
        ("legacy-a", "no family declared"),
        ("legacy-b", "unknown family \"udp_echo\""),
        ("legacy-b", "udp-echo, multisocket"),
        ("legacy-c", "famly"),
        ("legacy-d", "declares `polls`"),
        ("legacy-e", "is for multisocket programs"),
        ("bridge-f", "`step`"),
        ("modern-g", "only bridge packages"),
        ("modern-h", "only next packages"),
        ("next-i", "io_uring"),
        ("modern-j", "only bridge packages"),
        ("modern-k", "`woken` is for udp-waiters programs"),
        ("modern-l", "low ≤ high"),
    ];
    for (pkg, says) in expect {
        assert!(why(pkg).contains(says), "{pkg}: {}", why(pkg));
    }
    assert_eq!(c.programs().len(), 12, "none is dropped");
}

#[test]
fn the_workspace_is_read_typed() {
    let c = Catalogue::load().unwrap();
    assert!(c.programs().len() > 40, "{}", c.programs().len());
    let deps = c.dependencies("legacy-echo-tokio");
    let futures = deps.iter().find(|d| d.name == "futures").unwrap();
    assert!(futures.resolved.as_deref().unwrap().starts_with("0.1."));
    let shared = deps.iter().find(|d| d.name == "shared").unwrap();
    assert_eq!(shared.req, "path");
    let tree = c.dependency_tree("modern-echo-tokio").unwrap();
    assert!(tree.iter().any(|(n, v)| n == "tokio" && v.starts_with('1')));
}

#[test]
fn a_server_on_several_threads_is_a_row_of_its_own() {
    let c = catalogue(&[
        (
            "legacy-twin",
            json!({ "family": "tcp-echo", "across-cores": "reuseport" }),
        ),
        (
            "modern-twin",
            json!({
                "family": "ident",
                "across-cores": "work-stealing",
                "during-lookup": { "expect": "waits", "why": "one thread" },
                "expected-failure": [{ "checks": ["split-query"], "why": "always" }],
                "threaded": {
                    "during-lookup": { "expect": "served", "why": "another worker" },
                    "expected-failure": [{ "checks": ["serves-on-threads"], "why": "one thread" }],
                },
            }),
        ),
        ("modern-alone", json!({ "family": "udp-echo" })),
        (
            "modern-bad",
            json!({ "family": "tcp-echo", "threaded": { "rss-at-1000-peers-kib": 1 } }),
        ),
        (
            "modern-worse",
            json!({ "family": "mio-empty", "across-cores": "reuseport" }),
        ),
        (
            "modern-typo",
            json!({ "family": "udp-echo", "across-cores": "reuse-port" }),
        ),
    ]);
    let by = |pkg: &str| c.programs().iter().find(|p| p.package == pkg).unwrap();
    let legacy = by("legacy-twin").on_threads(2).unwrap();
    assert_eq!(legacy.flavor_label(), "legacy×2");
    assert_eq!(legacy.args(), ["--threads", "2"]);
    assert_eq!(legacy.across_cores(), AcrossCores::Reuseport);
    assert_eq!(AcrossCores::Reuseport.sockets(2), 2);
    let modern = by("modern-twin");
    let threaded = modern.on_threads(2).unwrap();
    assert_eq!(threaded.program.flavor_label(), "modern");
    let lookup = |p: &Program| p.declared.during_lookup.as_ref().unwrap().expect;
    use crate::declared::DuringLookup;
    assert_eq!(lookup(modern), DuringLookup::Waits);
    assert_eq!(lookup(&threaded.program), DuringLookup::Served, "replaced");
    assert_eq!(
        threaded.program.expected_failure("split-query"),
        None,
        "the row on threads documents its own failures"
    );
    assert_eq!(
        threaded.program.expected_failure("serves-on-threads"),
        Some("one thread")
    );
    let legacy = by("legacy-twin").on_threads(2).unwrap().program;
    assert!(legacy.declared.expected_failure.is_empty());
    assert_eq!(modern.expected_failure("serves-on-threads"), None);
    assert_eq!(AcrossCores::WorkStealing.sockets(2), 1);
    assert!(by("modern-alone").on_threads(2).is_none());
    let why = |pkg: &str| by(pkg).family().unwrap_err().to_string();
    assert!(
        why("modern-bad").contains("`across-cores`"),
        "{}",
        why("modern-bad")
    );
    assert!(
        why("modern-worse").contains("echo and ident"),
        "{}",
        why("modern-worse")
    );
    assert!(
        why("modern-typo").contains("reuse-port"),
        "{}",
        why("modern-typo")
    );
}
