//! Where the background work of every instance runs: one process-wide tokio runtime whose
//! threads leave CoreDNS's signals alone.

use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// The process-wide runtime: one worker thread shared by every instance, and a small
/// blocking pool for table builds and snapshot writes. Started by the first instance,
/// never by a library constructor.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("etcdhosts")
            .on_thread_start(block_signals)
            .enable_all()
            .build()
            .expect("cannot start the etcdhosts runtime")
    })
}

/// Runtime threads must not take signals meant for CoreDNS: SIGPIPE from a closed socket
/// would kill the process, and SIGUSR1 (reload) or SIGTERM must reach Go's handler.
fn block_signals() {
    // SAFETY: plain libc calls on a sigset_t we own; only this thread's mask changes.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [
            libc::SIGPIPE,
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGCHLD,
            libc::SIGWINCH,
        ] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked_signals() -> u64 {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
            .unwrap()
    }

    #[test]
    fn runtime_threads_block_process_signals() {
        let on_worker = runtime().block_on(runtime().spawn(async { blocked_signals() }));
        let on_blocking = runtime().block_on(runtime().spawn_blocking(blocked_signals));
        for mask in [on_worker.unwrap(), on_blocking.unwrap()] {
            for signal in [libc::SIGPIPE, libc::SIGUSR1, libc::SIGTERM, libc::SIGHUP] {
                assert_ne!(mask & (1 << (signal - 1)), 0, "signal {signal} not blocked");
            }
        }
    }
}
