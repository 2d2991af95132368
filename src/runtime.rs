//! Where the background work of every instance runs: one process-wide tokio runtime whose
//! threads leave CoreDNS's signals alone, and supervision that restarts a task that
//! panicked instead of letting the instance run on without it.

use std::any::Any;
use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::retry::Backoff;

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

/// A background task that is restarted when it panics. Dropping this leaves it running.
pub(crate) struct Supervised {
    cancel: watch::Sender<bool>,
    supervisor: JoinHandle<()>,
}

impl Supervised {
    /// Runs `make()` on the runtime until it returns. When it panics, the panic is logged
    /// with `name`, `on_panic` runs, and after a pause (doubling up to 2 s while it keeps
    /// panicking) `make()` starts it afresh.
    pub(crate) fn spawn<F, Fut>(
        name: String,
        on_panic: impl Fn() + Send + 'static,
        mut make: F,
    ) -> Supervised
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (cancel, mut cancelled) = watch::channel(false);
        let supervisor = runtime().spawn(async move {
            let mut backoff = Backoff::new();
            loop {
                let mut task = runtime().spawn(make());
                let ended = tokio::select! {
                    ended = &mut task => ended,
                    _ = until_cancelled(&mut cancelled) => {
                        task.abort();
                        let _ = task.await;
                        return;
                    }
                };
                // Returned, or cancelled by the runtime shutting down: nothing to restart.
                let Err(Ok(panic)) = ended.map_err(|e| e.try_into_panic()) else {
                    return;
                };
                tracing::error!("{name} panicked ({}); restarting it", message(&*panic));
                on_panic();
                tokio::select! {
                    _ = tokio::time::sleep(backoff.pause()) => {}
                    _ = until_cancelled(&mut cancelled) => return,
                }
            }
        });
        Supervised { cancel, supervisor }
    }

    /// Aborts the task at its next await; [`Supervised::finished`] then returns once it is
    /// gone.
    pub(crate) fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// Waits until the task returned, or was cancelled and is gone. Call it once.
    pub(crate) async fn finished(&mut self) {
        let _ = (&mut self.supervisor).await;
    }
}

/// Returns once `cancel` was called; never if the `Supervised` went without calling it.
async fn until_cancelled(cancelled: &mut watch::Receiver<bool>) {
    if cancelled.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What a panic said, if it said it with a string.
fn message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "no message"
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

    #[test]
    fn a_panicking_task_is_restarted_until_it_returns() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let (runs, panics) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, p) = (runs.clone(), panics.clone());
        let mut task = Supervised::spawn(
            "test task".into(),
            move || {
                p.fetch_add(1, Ordering::SeqCst);
            },
            move || {
                let run = r.fetch_add(1, Ordering::SeqCst);
                async move { assert!(run >= 2, "injected panic in run {run}") }
            },
        );
        runtime().block_on(task.finished());
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(panics.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn cancel_ends_a_task_that_would_run_forever() {
        let mut task = Supervised::spawn("test task".into(), || {}, std::future::pending);
        task.cancel();
        runtime().block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), task.finished())
                .await
                .expect("cancelled task still running")
        });
    }
}
