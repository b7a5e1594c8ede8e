//! The API map's parts: the map itself (`gen/api-map.md`, from
//! `migrate/map/api-map.toml` and the legacy crates' own sources) and the scan of
//! legacy echo-mpsc beside its ladder (`gen/scan-echo-mpsc.md`). The rendering is the
//! `api-map` crate's; this links its source lines to the programs' pages.

use api_map::legacy::Model;
use api_map::ApiMap;

use super::part::{Ctx, Part};

pub fn parts(ctx: &Ctx) -> Vec<Part> {
    let link = |path: &str, n: usize| ctx.line_link(path, n).unwrap_or_default();
    let rendered = ApiMap::load().and_then(|map| {
        let model = Model::load()?;
        Ok((
            api_map::markdown(&map, &model, &link)?,
            api_map::scan_echo_mpsc(&model, &map, &link)?,
        ))
    });
    match rendered {
        Ok((map, scan)) => vec![
            Part::new("api-map.md", map),
            Part::new("scan-echo-mpsc.md", scan),
        ],
        Err(e) => ["api-map.md", "scan-echo-mpsc.md"]
            .map(|path| {
                let why = format!("the API map could not be read: {e:#}");
                Part {
                    missing: Some(why.clone()),
                    ..Part::new(path, format!("*{why}*\n"))
                }
            })
            .into(),
    }
}
