//! How the testkit's servers end: never outliving the process that started them.
//!
//! A child process is not killed when its parent dies, and `Drop` does not run when a
//! process is ended by a signal. So every long-lived child (`docker-registry`,
//! `podman system service`) asks the kernel to send it SIGKILL when its parent thread
//! goes (`PR_SET_PDEATHSIG`), and the `testkit` servers turn SIGTERM, SIGINT and SIGHUP
//! into an orderly return, so their `Drop`s stop the children and remove their storage.

use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// Makes the child get SIGKILL when the thread that spawns it ends, and so when the
/// process ends in any way (SIGKILL included).
///
/// The kernel ties the signal to the spawning *thread*: spawn from a thread that lives
/// as long as the value that owns the child (a test's thread, or `main`).
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the forked child before exec; it calls only
    // async-signal-safe functions (prctl, getppid) and allocates nothing.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then no signal comes.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    }
}

static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNALLED.store(sig, Ordering::SeqCst);
}

/// Turns SIGTERM, SIGINT and SIGHUP into a flag [`until_signalled`] waits for. Call it
/// before the servers start and before their addresses are printed: a signal sent the
/// moment a caller reads them must not find the default action (an exit without `Drop`).
pub fn catch_stop_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Blocks until one of the signals [`catch_stop_signals`] caught arrives, and returns it,
/// so the caller can return normally and let its servers' `Drop` end them.
pub fn until_signalled() -> i32 {
    loop {
        let sig = SIGNALLED.load(Ordering::SeqCst);
        if sig != 0 {
            return sig;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
