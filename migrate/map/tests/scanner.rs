//! The scanner on small sources: what it reports, what it must not take for a legacy
//! item, and how it names what the map does not know.

use std::collections::HashMap;

use api_map::legacy::Model;
use api_map::scan::{scan_path, scan_source, CrateNames};
use api_map::ApiMap;

fn items(src: &str, crates: &CrateNames, model: &Model, map: &ApiMap) -> Vec<(usize, String)> {
    scan_source(src, "test.rs", crates, model, map)
        .unwrap()
        .into_iter()
        .map(|f| (f.line, f.item))
        .collect()
}

fn names(pairs: &[(&str, &str)]) -> CrateNames {
    CrateNames {
        legacy: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    }
}

#[test]
fn what_the_scanner_reports_and_what_it_does_not() {
    let model = Model::load().unwrap();
    let map = ApiMap::load().unwrap();
    let usual = CrateNames::usual();

    // Rust 2015: `async` as a name, a bare `&Fn()`, `Box<Future<…>>`.
    let old = "use futures::Future;\nfn f(g: &Fn() -> u8) { let async = 1; }\nfn h() -> Box<Future<Item = u8, Error = ()>> { unimplemented!() }\n";
    let found = items(old, &usual, &model, &map);
    assert!(
        found.contains(&(3, "futures::future::Future::Item".into())),
        "{found:?}"
    );

    // `Option::map` is not `Future::map`; a future's `map` is.
    let src = "use futures::{future, Future};\nfn f(x: Option<u8>) {\n    let a = x.map(|v| v);\n    let b = future::ok::<u8, ()>(1).map(|v| v);\n}\n";
    let found = items(src, &usual, &model, &map);
    assert!(!found.iter().any(|(l, _)| *l == 3), "{found:?}");
    assert!(
        found.contains(&(4, "futures::future::Future::map".into())),
        "{found:?}"
    );

    // A renamed crate is followed; futures 0.3 under the name `futures` is not legacy.
    let src = "fn f() { let a = futures01::future::ok::<u8, ()>(1); let b = futures::future::ready(1); }\n";
    let found = items(src, &names(&[("futures01", "futures")]), &model, &map);
    assert_eq!(found, vec![(1, "futures::future::ok".to_string())]);

    // `try_ready!` through `#[macro_use]`, and a method through `Self::Item`.
    let src = "use futures::{Async, Poll, Stream};\nstruct S<T>(T);\nimpl<T: Stream> S<T> {\n    fn f(&mut self) -> Poll<Option<T::Item>, T::Error> {\n        let x = try_ready!(self.0.poll());\n        Ok(Async::Ready(x))\n    }\n}\n";
    let found = items(src, &usual, &model, &map);
    assert!(
        found.contains(&(5, "futures::try_ready".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(5, "futures::stream::Stream::poll".into())),
        "{found:?}"
    );
}

#[test]
fn an_item_the_map_does_not_know_is_listed_by_name() {
    let model = Model::load().unwrap();
    let map = ApiMap::load().unwrap();
    let dir = std::env::temp_dir().join(format!("api-map-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.rs"), "fn main() {\n    let x = futures::future::no_such_item();\n    let t = tokio_proto::TcpServer::new;\n}\n").unwrap();
    std::fs::write(dir.join("broken.rs"), "fn broken( {").unwrap();
    let scan = scan_path(&dir, &model, &map).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(scan.files, 2);
    assert_eq!(
        scan.unread.len(),
        1,
        "the file that does not parse is reported"
    );
    assert!(
        scan.summary
            .unknown
            .contains(&"futures::future::no_such_item".to_string()),
        "{:?}",
        scan.summary
    );
    assert!(
        scan.summary
            .left_out
            .contains(&"tokio_proto::TcpServer".to_string()),
        "{:?}",
        scan.summary
    );
    let unknown = scan
        .findings
        .iter()
        .find(|f| f.item == "futures::future::no_such_item")
        .unwrap();
    assert_eq!((unknown.line, unknown.modern.as_deref()), (2, None));
}
