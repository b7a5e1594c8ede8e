//! The generated parts of the book: everything measured or derived, written as
//! Markdown files under `gen/` that the hand-written chapters include
//! (`{{#include gen/figure/cpu-per-echo.md}}`), and the page of every program. Each
//! part renders typed results; where there is nothing to render, it says what is
//! missing, why, and the command that measures it (only a command that can).
//!
//! A part's Markdown writes `{{root}}` where a path starts at the book's root: the
//! include step puts the including page's path to the root there, so that one part
//! works in a chapter at any depth.

mod api_map;
mod checks;
mod depth;
mod figures;
mod fuzz;
mod ladders;
pub mod pages;
mod part;
mod scaling;
mod sources;
mod tables;

pub use part::{Ctx, Part};

/// Every part of the book but the program pages.
pub fn parts(ctx: &Ctx) -> Vec<Part> {
    let mut out = checks::parts(ctx);
    out.extend(ladders::parts(ctx));
    out.extend(figures::parts(ctx));
    out.extend(depth::parts(ctx));
    out.extend(scaling::parts(ctx));
    out.extend(tables::parts(ctx));
    out.push(sources::part(ctx));
    out.push(sources::status(ctx));
    out.extend(api_map::parts(ctx));
    out.push(fuzz::part(ctx));
    out
}
