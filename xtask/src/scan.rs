//! `cargo xtask scan PATH [--format table|json]` — every use of a legacy item (tokio-core,
//! tokio-io, futures 0.1, futures-cpupool, tokio-signal, tokio-timer, mio 0.6,
//! tokio-proto/tokio-service) in the `.rs` files under PATH, with its modern
//! equivalent and the step of the migration checklist it belongs to, from the API map
//! (`migrate/map`). The scanning is api-map's; this prints.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use api_map::legacy::Model;
use api_map::scan::{scan_path, Scan};
use api_map::ApiMap;

use crate::args::Format;

#[derive(clap::Args)]
pub struct Args {
    /// A directory (every `.rs` file under it, `target/` skipped) or one file.
    path: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn main(args: Args) -> Result<i32> {
    if !args.path.exists() {
        return Err(harness::UsageError(format!(
            "{}: no such file or directory",
            args.path.display()
        ))
        .into());
    }
    let model = Model::load()?;
    let map = ApiMap::load()?;
    let scan = scan_path(&args.path, &model, &map)?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&scan)? + "\n",
        Format::Table => table(&scan),
    };
    // A reader that stops early (`| head`) is no error.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(0),
    }
}

fn table(scan: &Scan) -> String {
    let mut out = String::new();
    // One table per file, under its name: the path would take a third of each row.
    let mut by_file: Vec<(&str, Vec<Vec<String>>)> = Vec::new();
    for f in &scan.findings {
        let modern = match (&f.modern, &f.left_out) {
            (Some(m), _) => m.clone(),
            (None, Some(_)) => "(left out of the map)".to_owned(),
            (None, None) => "(unknown: not in the map)".to_owned(),
        };
        let row = vec![
            f.line.to_string(),
            f.item.clone(),
            modern,
            f.step.clone().unwrap_or_default(),
        ];
        match by_file.last_mut() {
            Some((file, rows)) if *file == f.file => rows.push(row),
            _ => by_file.push((&f.file, vec![row])),
        }
    }
    for (file, rows) in by_file {
        let _ = writeln!(out, "{file}");
        out += &harness::table(&["line", "legacy item", "modern", "step"], rows);
        out += "\n";
    }
    let s = &scan.summary;
    let _ = writeln!(
        out,
        "{} file(s), {} use(s) of {} legacy item(s): {} mapped, {} left out, {} unknown",
        scan.files,
        s.uses,
        s.items,
        s.mapped,
        s.left_out.len(),
        s.unknown.len()
    );
    for item in &s.left_out {
        let _ = writeln!(out, "left out: {item}");
    }
    for item in &s.unknown {
        let _ = writeln!(out, "unknown: {item}");
    }
    for u in &scan.unread {
        let _ = writeln!(out, "not scanned: {}: {}", u.file, u.error);
    }
    out
}
