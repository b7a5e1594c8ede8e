//! The map against this workspace: the scan of the legacy programs knows every
//! legacy item they use, and the snippet crates keep to their eras.

use std::collections::BTreeSet;

use api_map::legacy::Model;
use api_map::scan::scan_path;
use api_map::ApiMap;

#[test]
fn the_scan_of_the_legacy_programs_finds_no_unknown_item() {
    let model = Model::load().unwrap();
    let map = ApiMap::load().unwrap();
    let scan = scan_path(&harness::project_root().join("legacy"), &model, &map).unwrap();
    assert!(scan.files >= 20, "only {} files scanned", scan.files);
    assert!(
        scan.summary.unknown.is_empty(),
        "legacy items the map does not know: {:?}",
        scan.summary.unknown
    );
    assert!(
        scan.summary.left_out.is_empty(),
        "legacy programs use items the map leaves out: {:?}",
        scan.summary.left_out
    );
    assert_eq!(scan.summary.items, scan.summary.mapped);
    // What each program is about is among what the scan finds in it.
    let found = |program: &str| -> BTreeSet<&str> {
        let dir = format!("legacy/{program}/");
        scan.findings
            .iter()
            .filter(|f| f.file.contains(&dir))
            .map(|f| f.item.as_str())
            .collect()
    };
    let expect = [
        (
            "echo-mpsc",
            vec![
                "futures::sync::mpsc::channel",
                "futures::sync::mpsc::Sender::try_send",
                "futures::future::Future::join",
                "tokio_core::reactor::Core::run",
                "tokio_core::net::UdpSocket::recv_from",
                "tokio_signal::unix::Signal::new",
                "futures::stream::Stream::select",
                "futures::task::Task::notify",
            ],
        ),
        (
            "tcp-echo",
            vec![
                "tokio_core::net::TcpListener::accept",
                "tokio_core::reactor::Handle::spawn",
                "tokio_core::reactor::Timeout::reset",
                "futures::future::Future::shared",
            ],
        ),
        (
            "ident-tokio",
            vec![
                "tokio_io::AsyncRead::split",
                "tokio_io::io::write_all",
                "futures::stream::Stream::fold",
                "futures::future::Future::then",
            ],
        ),
        (
            "ident-service",
            vec![
                "tokio_proto::BindServer::bind_server",
                "tokio_service::Service::call",
                "tokio_io::codec::Decoder::decode",
            ],
        ),
        (
            "ident-pool",
            vec![
                "futures_cpupool::CpuPool::spawn_fn",
                "futures_cpupool::Builder::pool_size",
            ],
        ),
        (
            "echo-mio-level",
            vec!["mio::PollOpt::level", "mio::Poll::reregister"],
        ),
        (
            "mio-mixed",
            vec![
                "mio::Registration::new2",
                "mio::SetReadiness::set_readiness",
            ],
        ),
        (
            "multisocket-futuresunordered",
            vec!["futures::stream::futures_unordered::FuturesUnordered"],
        ),
        ("multisocket-join", vec!["futures::future::join_all"]),
    ];
    for (program, items) in expect {
        let in_program = found(program);
        for item in items {
            assert!(
                in_program.contains(item),
                "legacy/{program}: {item} not found; found {in_program:?}"
            );
        }
    }
    for f in &scan.findings {
        assert!(
            f.modern.is_some() && f.step.is_some(),
            "{}:{} {} has no modern equivalent",
            f.file,
            f.line,
            f.item
        );
    }
}

/// Name and version of every crate in `package`'s tree as `cargo tree -p` builds it
/// (normal and build dependencies, with the features the package alone turns on).
/// Not `cargo metadata`: it unifies features over the workspace, so the bridge
/// packages' `futures/compat` would put futures 0.1 under every user of futures 0.3.
fn dependency_tree(package: &str) -> Vec<(String, String)> {
    let out = harness::cargo()
        .args([
            "tree",
            "--locked",
            "-p",
            package,
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((
                words.next()?.to_owned(),
                words.next()?.trim_start_matches('v').to_owned(),
            ))
        })
        .collect()
}

#[test]
fn the_snippet_crates_keep_to_their_eras() {
    let modern = |(name, version): &(String, String)| {
        (name == "tokio" && version.starts_with("1."))
            || (name.starts_with("futures") && version.starts_with("0.3."))
            || (name == "mio" && !version.starts_with("0.6."))
    };
    let legacy = |(name, version): &(String, String)| {
        matches!(
            name.as_str(),
            "tokio-core" | "tokio-proto" | "tokio-service"
        ) || (name == "futures" && version.starts_with("0.1."))
            || (name == "tokio" && version.starts_with("0.1."))
            || (name == "mio" && version.starts_with("0.6."))
    };
    let old = dependency_tree("api-map-legacy");
    assert!(
        old.iter().any(legacy),
        "api-map-legacy depends on no legacy crate: {old:?}"
    );
    let mixed: Vec<_> = old.iter().filter(|d| modern(d)).collect();
    assert!(
        mixed.is_empty(),
        "api-map-legacy pulls in modern crates: {mixed:?}"
    );
    let new = dependency_tree("api-map-modern");
    assert!(
        new.iter().any(modern),
        "api-map-modern depends on no modern crate: {new:?}"
    );
    let mixed: Vec<_> = new.iter().filter(|d| legacy(d)).collect();
    assert!(
        mixed.is_empty(),
        "api-map-modern pulls in legacy crates: {mixed:?}"
    );
}
