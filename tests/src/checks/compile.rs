//! What the compiler says to a pitfall's refused code: the row of a program that
//! declares `[package.metadata.study.compile-error]` builds it once more with
//! `--cfg CFG` (`cargo rustc`, the program's own source, only that code switched
//! on) and holds the compiler to its declared words: the first error's message, and
//! a `help` line naming the cause. A program that compiles that way, or fails
//! otherwise, fails the check: what the pitfall documents is no longer what happens.

use std::process::Stdio;

use anyhow::{bail, ensure, Context};
use harness::declared::CompileError;
use serde_json::Value;

use crate::check::{Check, Ctx, Outcome};

pub const CHECKS: &[Check] = &[crate::check!("compile-error", compile_error)];

fn compile_error(ctx: &Ctx) -> Outcome {
    let program = ctx.program;
    let declared: &CompileError = (program.declared.compile_error.as_ref())
        .context("a check of the programs that declare compile-error")?;
    let out = harness::cargo()
        .args(["rustc", "--quiet", "-p", &program.package])
        .args(["--bin", &program.package, "--message-format=json", "--"])
        .args(["--cfg", &declared.cfg])
        .stderr(Stdio::null())
        .output()
        .context("cannot run cargo rustc")?;
    ensure!(
        !out.status.success(),
        "{} builds with --cfg {}: the code it documents as refused compiles",
        program.package,
        declared.cfg
    );
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-message")
        .map(|m| m["message"].clone())
        .find(|m| m["level"] == "error");
    let Some(error) = first else {
        bail!("cargo rustc failed without a compiler error (the build broke otherwise)");
    };
    let message = error["message"].as_str().unwrap_or_default();
    let helps: Vec<&str> = (error["children"].as_array().into_iter().flatten())
        .filter(|c| c["level"] == "help")
        .filter_map(|c| c["message"].as_str())
        .collect();
    ensure!(
        message == declared.message,
        "the first error is {message:?}, documented as {:?}",
        declared.message
    );
    ensure!(
        helps.iter().any(|h| h.contains(&declared.help)),
        "its help lines {helps:?} do not name {:?}",
        declared.help
    );
    Ok(format!(
        "cargo rustc -p {} -- --cfg {}: error: {message}; help: …{}",
        program.package, declared.cfg, declared.help
    ))
}
