//! What a program needs from the machine (`[package.metadata.study] needs = [...]`),
//! probed once per process. Every tool asks here: the suite reports such a row as
//! skipped with the reason, the bench and the soak skip it with the reason — never
//! passed, and never failed either: the program is not wrong, this machine cannot run it.

use std::sync::OnceLock;

use crate::declared::Need;

/// Why a need is not met here, or `Ok` when it is.
pub type Probe = fn(Need) -> Result<(), String>;

/// This machine, each need probed once and remembered.
pub fn machine(need: Need) -> Result<(), String> {
    static IO_URING: OnceLock<Result<(), String>> = OnceLock::new();
    match need {
        Need::IoUring => IO_URING.get_or_init(probe_io_uring).clone(),
    }
}

/// Sets up a one-entry io_uring instance and closes it: the call a program on
/// io_uring makes first. It fails with `EPERM` when the sysctl
/// `kernel.io_uring_disabled` forbids it, with `ENOSYS` on a kernel without io_uring
/// and, usually, under a seccomp filter that refuses it.
fn probe_io_uring() -> Result<(), String> {
    // struct io_uring_params is 120 bytes; zeroed, it asks for no feature at all.
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup(entries, params) reads and writes `params`, a buffer of
    // the size the kernel expects; the fd it returns is ours to close.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: a descriptor we own, closed once.
        unsafe { libc::close(fd as i32) };
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    Err(match (err.raw_os_error(), sysctl.as_str()) {
        (Some(libc::EPERM), "1" | "2") => {
            format!("io_uring is disabled here (sysctl kernel.io_uring_disabled = {sysctl}): {err}")
        }
        (Some(libc::ENOSYS), _) => {
            format!(
                "io_uring_setup is not available (no kernel support, or a seccomp filter): {err}"
            )
        }
        _ => format!("io_uring_setup failed (a seccomp filter or a limit?): {err}"),
    })
}

/// The reason a program with these needs cannot run here, if one is not met.
pub fn unmet(needs: &[Need], probe: Probe) -> Option<String> {
    needs.iter().find_map(|need| {
        probe(*need)
            .err()
            .map(|why| format!("needs {}: {why}", need.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(_: Need) -> Result<(), String> {
        Err("io_uring is disabled here (sysctl kernel.io_uring_disabled = 2)".into())
    }

    fn granted(_: Need) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn a_refused_need_says_which_and_why() {
        let why = unmet(&[Need::IoUring], refused).expect("refused");
        assert!(
            why.starts_with("needs io-uring: io_uring is disabled"),
            "{why}"
        );
    }

    #[test]
    fn met_or_absent_needs_let_the_program_run() {
        assert_eq!(unmet(&[Need::IoUring], granted), None);
        assert_eq!(unmet(&[], refused), None, "no need, nothing to refuse");
    }

    #[test]
    fn the_probe_of_this_machine_answers_once_and_the_same() {
        // Whatever this machine says, it says it the same way twice, and a refusal
        // carries a reason.
        let first = machine(Need::IoUring);
        assert_eq!(first, machine(Need::IoUring));
        if let Err(why) = first {
            assert!(why.contains("io_uring"), "{why}");
        }
    }
}
