//! The book in a real browser. `cargo xtask study` builds the book from the fixtures
//! (no bench or trace run needed); headless Chromium then opens every page at 1,400 px
//! and the test checks, from the DOM and the console, that each page loads without an
//! error, that every figure is drawn at a non-zero size, that every internal link
//! leads to a page (and anchor) that exists, and that no page is wider than the
//! window. Screenshots of the opening page and of a pair's page are left in
//! `target/study/screenshots/`.
//!
//! Chromium is driven over the DevTools protocol by the small client below, on
//! `tungstenite`: the maintained CDP crates generate the whole protocol, and building
//! `headless_chrome` took 218 s on this 2-core machine against 40 s for this client's
//! dependencies — for the six commands and three events the test uses.
//!
//! Without Chromium the test says so and counts as skipped (not passed); under CI
//! (`CI=true`), which installs it, a missing Chromium is a failure.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

mod common;
use common::{fixture, temp_dir};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 900;
/// Longest any one step (launch, a page load, a command) may take.
const STEP: Duration = Duration::from_secs(30);
/// The whole test, start to end.
const LIMIT: Duration = Duration::from_secs(150);

fn main() {
    let started = Instant::now();
    let result = match find_chromium() {
        Some(chromium) => run(&chromium).map(|n| (n, started.elapsed())),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            Err("chromium is not installed, and CI installs it (.ci/run): it must be there".into())
        }
        None => {
            println!(
                "book_browser: SKIPPED — no chromium on PATH (apt-get install chromium); the book was not opened in a browser"
            );
            println!("book in a browser: 0 passed, 0 failed, 1 skipped");
            return;
        }
    };
    match result {
        Ok((pages, took)) => {
            println!(
                "book_browser: {pages} pages checked in Chromium in {:.1} s",
                took.as_secs_f64()
            );
            println!("book in a browser: 1 passed, 0 failed");
        }
        Err(e) => {
            println!("book_browser: FAILED\n{e}");
            println!("book in a browser: 0 passed, 1 failed");
            std::process::exit(1);
        }
    }
}

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Where screenshots go: `target/study/screenshots/`.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("study/screenshots")
}

type Outcome<T> = Result<T, String>;

fn run(chromium: &Path) -> Outcome<usize> {
    let out = temp_dir("book-browser");
    let built = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["study", "--out"])
        .arg(&out)
        .arg("--results")
        .arg(fixture("results"))
        .output()
        .map_err(|e| format!("cannot run xtask: {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "cargo xtask study failed: {}",
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    let site = out.join("book");
    let pages = pages_of(&out)?;
    let mut browser = Browser::launch(chromium, &out.join("profile"))?;
    let checked = check_pages(&mut browser, &site, &pages);
    let shots = checked
        .is_ok()
        .then(|| take_screenshots(&mut browser, &site));
    browser.close();
    let n = checked?;
    shots.transpose()?;
    std::fs::remove_dir_all(&out).ok();
    Ok(n)
}

/// Every page of the book, from its SUMMARY.md as the study expanded it: the opening
/// page, every chapter, every program's page.
fn pages_of(out: &Path) -> Outcome<Vec<String>> {
    let summary = std::fs::read_to_string(out.join("src/SUMMARY.md"))
        .map_err(|e| format!("no SUMMARY.md: {e}"))?;
    let mut pages = Vec::new();
    for line in summary.lines() {
        if let (Some(a), Some(b)) = (line.find("]("), line.rfind(')')) {
            let md = &line[a + 2..b];
            pages.push(md.trim_end_matches(".md").to_string() + ".html");
        }
    }
    if pages.len() < 3 {
        return Err(format!("SUMMARY.md lists {} pages", pages.len()));
    }
    Ok(pages)
}

/// What a page reports about itself (see [`PAGE_REPORT`]).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    title: String,
    scroll_width: f64,
    inner_width: f64,
    figures: Vec<Figure>,
    links: Vec<String>,
    ids: BTreeSet<String>,
    sidebar_links: usize,
}

#[derive(Debug, serde::Deserialize)]
struct Figure {
    src: Option<String>,
    error: Option<String>,
    natural: f64,
    width: f64,
    height: f64,
}

/// Run in each page once it has loaded: makes lazy images load, waits for every image
/// to decode, then reports sizes, links and ids.
const PAGE_REPORT: &str = r#"(async () => {
  const imgs = Array.from(document.querySelectorAll('main img'));
  for (const i of imgs) { i.loading = 'eager'; }
  const decoded = await Promise.all(imgs.map(i => i.decode().then(() => null, e => String(e))));
  const figures = imgs.map((i, k) => {
    const r = i.getBoundingClientRect();
    return { src: i.getAttribute('src'), error: decoded[k], natural: i.naturalWidth,
             width: r.width, height: r.height };
  });
  for (const s of document.querySelectorAll('main svg')) {
    const r = s.getBoundingClientRect();
    figures.push({ src: null, error: null, natural: 1, width: r.width, height: r.height });
  }
  // mdBook's content column scrolls sideways rather than widen the page: look there too.
  const columns = Array.from(document.querySelectorAll('main, .content, #mdbook-content'));
  const widest = Math.max(document.documentElement.scrollWidth,
    ...columns.map(c => c.getBoundingClientRect().left + c.scrollWidth));
  return {
    title: document.title,
    scrollWidth: widest,
    innerWidth: window.innerWidth,
    figures,
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
    sidebarLinks: document.querySelectorAll('#mdbook-sidebar a[href], .sidebar a[href]').length,
  };
})()"#;

/// Every page of SUMMARY.md: it renders without console errors, has a title, fits the
/// window, lists every page in its sidebar, and each of its figures draws; then every
/// link of every page leads somewhere in the book.
fn check_pages(browser: &mut Browser, site: &Path, pages: &[String]) -> Outcome<usize> {
    let started = Instant::now();
    let mut problems = Vec::new();
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    for page in pages {
        if started.elapsed() > LIMIT {
            return Err(format!("still checking pages after {LIMIT:?}"));
        }
        let file = site.join(page);
        if !file.is_file() {
            problems.push(format!("{page}: listed in SUMMARY.md but not built"));
            continue;
        }
        let url = file_url(&file);
        for e in browser.load(&url)? {
            problems.push(format!("{page}: console: {e}"));
        }
        let r: Report = serde_json::from_value(browser.evaluate(PAGE_REPORT)?)
            .map_err(|e| format!("{page}: the page's report: {e}"))?;
        problems.extend(page_problems(page, &r, pages.len()));
        reports.insert(url, r);
    }
    problems.extend(link_problems(site, &reports));
    let images = reports
        .values()
        .flat_map(|r| &r.figures)
        .filter(|f| f.src.is_some())
        .count();
    if images == 0 {
        problems.push("no page has a figure: the fixtures' figures are missing".into());
    }
    if !problems.is_empty() {
        problems.dedup();
        return Err(problems.join("\n"));
    }
    let links: usize = reports.values().map(|r| r.links.len()).sum();
    println!(
        "book_browser: {} pages, {images} figures, {links} links, all fine",
        reports.len()
    );
    Ok(reports.len())
}

/// What is wrong with one page, as its report tells it.
fn page_problems(page: &str, r: &Report, pages: usize) -> Vec<String> {
    let mut problems = Vec::new();
    if r.title.is_empty() {
        problems.push(format!("{page}: no title"));
    }
    if r.scroll_width > r.inner_width + 1.0 {
        problems.push(format!(
            "{page}: {} px wide in a {} px window",
            r.scroll_width, r.inner_width
        ));
    }
    if r.sidebar_links < pages {
        problems.push(format!(
            "{page}: the sidebar has {} links for {pages} pages",
            r.sidebar_links
        ));
    }
    for f in &r.figures {
        if f.error.is_some() || f.natural <= 0.0 || f.width <= 0.0 || f.height <= 0.0 {
            problems.push(format!("{page}: a figure does not render: {f:?}"));
        }
    }
    problems
}

/// Every link stays in the book: a file:// link leads to a file, and its anchor to an
/// element of that page.
fn link_problems(site: &Path, reports: &BTreeMap<String, Report>) -> Vec<String> {
    let root = file_url(site);
    let mut problems = Vec::new();
    for (from, r) in reports {
        for link in &r.links {
            if !link.starts_with("file://") {
                if link.starts_with("http://") || link.starts_with("https://") {
                    problems.push(format!("{from}: links outside the book: {link}"));
                }
                continue;
            }
            if !link.starts_with(&root) {
                problems.push(format!("{from}: links outside the book: {link}"));
                continue;
            }
            let (target, anchor) = link.split_once('#').unwrap_or((link, ""));
            let path = PathBuf::from(percent_decode(target.trim_start_matches("file://")));
            let path = if path.is_dir() {
                path.join("index.html")
            } else {
                path
            };
            if !path.is_file() {
                problems.push(format!("{from}: broken link {link}"));
                continue;
            }
            if anchor.is_empty() {
                continue;
            }
            let anchor = percent_decode(anchor);
            let found = match reports.get(&file_url(&path)) {
                Some(t) => t.ids.contains(&anchor),
                None => std::fs::read_to_string(&path)
                    .is_ok_and(|html| html.contains(&format!("id=\"{anchor}\""))),
            };
            if !found {
                problems.push(format!("{from}: no #{anchor} in {}", path.display()));
            }
        }
    }
    problems
}

fn take_screenshots(browser: &mut Browser, site: &Path) -> Outcome<()> {
    let dir = screenshots();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // The opening page, and the first pair page with a figure: its top, and its figures.
    browser.load(&file_url(&site.join("index.html")))?;
    browser.screenshot(&dir.join("opening.png"), 1600)?;
    // The pair page with the most figures.
    let src = site.join("../src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).map_err(|e| e.to_string())?;
    let pair = summary
        .lines()
        .filter(|l| l.starts_with("  - "))
        .filter_map(|l| Some(l[l.find("](")? + 2..l.rfind(')')?].to_string()))
        .map(|md| {
            let n = std::fs::read_to_string(src.join(&md))
                .map_or(0, |t| t.matches("<figure class=\"fig\">").count());
            (n, md)
        })
        .filter(|(n, _)| *n > 0)
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, md)| md)
        .ok_or("no pair page has a figure")?;
    let page = site.join(pair.replace(".md", ".html"));
    browser.load(&file_url(&page))?;
    browser.screenshot(&dir.join("pair.png"), HEIGHT)?;
    browser.evaluate("document.getElementById('what-it-costs').scrollIntoView(); true")?;
    browser.screenshot(&dir.join("pair-figures.png"), HEIGHT)?;
    println!(
        "book_browser: screenshots in {} (opening.png, pair.png and pair-figures.png of {pair})",
        dir.display()
    );
    Ok(())
}

fn file_url(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Chromium process: killed, and waited for, however the test ends.
struct Chromium(Child);

impl Drop for Chromium {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Headless Chromium and one page of it, over the DevTools protocol.
struct Browser {
    child: Chromium,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    /// Events read while waiting for a reply, oldest first.
    events: VecDeque<Value>,
}

impl Browser {
    fn launch(chromium: &Path, profile: &Path) -> Outcome<Browser> {
        std::fs::create_dir_all(profile).map_err(|e| e.to_string())?;
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                &format!("--window-size={WIDTH},{HEIGHT}"),
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
        let child = Chromium(child);
        // Chromium writes its port and the browser's socket path to this file.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + STEP;
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.to_string(), path.to_string());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("chromium did not start within {STEP:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}"))
            .map_err(|e| format!("cannot reach chromium's DevTools port {port}: {e}"))?;
        stream
            .set_read_timeout(Some(STEP))
            .map_err(|e| e.to_string())?;
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream)
            .map_err(|e| format!("DevTools handshake: {e}"))?;
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            events: VecDeque::new(),
        };
        let target = b.call("Target.createTarget", json!({"url": "about:blank"}))?;
        let target = target["targetId"]
            .as_str()
            .ok_or("no targetId")?
            .to_string();
        let attached = b.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )?;
        b.session = attached["sessionId"]
            .as_str()
            .ok_or("no sessionId")?
            .to_string();
        for method in ["Page.enable", "Runtime.enable", "Log.enable"] {
            b.call(method, json!({}))?;
        }
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        Ok(b)
    }

    /// Sends a command (to the page's session once there is one) and waits for its
    /// reply; events read meanwhile are kept.
    fn call(&mut self, method: &str, params: Value) -> Outcome<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .map_err(|e| format!("{method}: {e}"))?;
        let deadline = Instant::now() + STEP;
        loop {
            let v = self.read(deadline, method)?;
            if v["id"] == id {
                if let Some(err) = v.get("error") {
                    return Err(format!("{method}: {err}"));
                }
                return Ok(v["result"].clone());
            }
            self.events.push_back(v);
        }
    }

    fn read(&mut self, deadline: Instant, what: &str) -> Outcome<Value> {
        loop {
            if Instant::now() > deadline {
                return Err(format!("{what}: no answer within {STEP:?}"));
            }
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return serde_json::from_str(t.as_str()).map_err(|e| format!("{what}: {e}"))
                }
                Ok(_) => continue,
                Err(e) => return Err(format!("{what}: {e}")),
            }
        }
    }

    /// Opens `url` and waits for its load event; returns the errors the page reported
    /// (exceptions, `console.error`, failed loads).
    fn load(&mut self, url: &str) -> Outcome<Vec<String>> {
        self.events.clear();
        let nav = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(e) = nav["errorText"].as_str() {
            return Err(format!("{url}: {e}"));
        }
        let deadline = Instant::now() + STEP;
        let mut errors = Vec::new();
        let mut loaded = false;
        while !loaded {
            let ev = match self.events.pop_front() {
                Some(ev) => ev,
                None => self.read(deadline, url)?,
            };
            match ev["method"].as_str() {
                Some("Page.loadEventFired") => loaded = true,
                _ => errors.extend(error_of(&ev)),
            }
        }
        // Scripts that run after load (the sidebar, search) report here.
        self.evaluate("new Promise(r => setTimeout(() => r(true), 50))")?;
        while let Some(ev) = self.events.pop_front() {
            errors.extend(error_of(&ev));
        }
        Ok(errors)
    }

    fn evaluate(&mut self, expression: &str) -> Outcome<Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("script failed: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// A screenshot of what the window shows, the window made `height` px tall for it
    /// (mdBook's sidebar is as tall as the window).
    fn screenshot(&mut self, file: &Path, height: u32) -> Outcome<()> {
        let metrics =
            |h: u32| json!({"width": WIDTH, "height": h, "deviceScaleFactor": 1, "mobile": false});
        self.call("Emulation.setDeviceMetricsOverride", metrics(height))?;
        self.evaluate(
            "new Promise(r => requestAnimationFrame(() => setTimeout(() => r(true), 50)))",
        )?;
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        self.call("Emulation.setDeviceMetricsOverride", metrics(HEIGHT))?;
        let r = r?;
        let data = r["data"].as_str().ok_or("no screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| e.to_string())?;
        std::fs::write(file, png).map_err(|e| format!("cannot write {}: {e}", file.display()))
    }

    /// Asks Chromium to close, and gives it a moment before it is killed.
    fn close(mut self) {
        let _ = self.call("Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The error an event reports, if it is one.
fn error_of(ev: &Value) -> Option<String> {
    let p = &ev["params"];
    match ev["method"].as_str()? {
        "Runtime.exceptionThrown" => Some(format!(
            "exception: {}",
            p["exceptionDetails"]["exception"]["description"]
                .as_str()
                .or(p["exceptionDetails"]["text"].as_str())
                .unwrap_or("?")
        )),
        "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "assert" => {
            Some(format!(
                "console.{}: {}",
                p["type"].as_str().unwrap_or("?"),
                p["args"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .map(|x| x["value"]
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| x.to_string()))
                        .collect::<Vec<_>>()
                        .join(" "))
                    .unwrap_or_default()
            ))
        }
        "Log.entryAdded" if p["entry"]["level"] == "error" => Some(format!(
            "{}: {} {}",
            p["entry"]["source"].as_str().unwrap_or("log"),
            p["entry"]["text"].as_str().unwrap_or("?"),
            p["entry"]["url"].as_str().unwrap_or("")
        )),
        _ => None,
    }
}
