//! Where the workspace is, and the `cargo` that runs us.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the directory above this crate).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `cargo` to run: the one that runs us (`$CARGO`), else `cargo` on PATH; in the
/// workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// `path` relative to the workspace root when it lies inside it.
pub fn relative(path: &Path) -> String {
    let root = project_root();
    path.strip_prefix(&root)
        .map(PathBuf::from)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
