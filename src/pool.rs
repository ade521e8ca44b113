//! The one way algorithm code computes on several threads.
//!
//! The caller cuts the work into fixed tasks (row ranges, trees, columns) and results are
//! kept in task order, so they depend on the data alone, never on how many threads ran or
//! which thread took which task. Threads live for one call, borrow the caller's data, and
//! take tasks as they finish the previous one (uneven tasks balance out); the caller's
//! thread is one of them.
//!
//! Cancellation: `should_stop` may read Postgres's state or raise a Postgres error, so it
//! is called on the caller's thread alone: before each task it takes, at each
//! [`Checkpoint::stop`] inside one, and every few milliseconds while it waits for the
//! others. Once it answers true, an `AtomicBool` tells the workers, which stop before
//! their next task or checkpoint, and the call returns `Err(Cancelled)`: never a result
//! with tasks left undone. If it unwinds instead, the workers are stopped the same way
//! and joined before the unwinding goes on.
//!
//! A panic in a task stops the other threads at their next checkpoint and is raised again
//! on the caller's thread, where the SQL layer turns it into an ERROR.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::Duration;

/// The most threads one call may use; 0 = one per core.
static MAX_THREADS: AtomicUsize = AtomicUsize::new(0);

/// How long the caller's thread sleeps between polls of `should_stop` while it waits for
/// the workers: the delay a cancel may add, beyond the task each worker is finishing.
const WAIT_POLL: Duration = Duration::from_millis(5);

/// Caps the threads of every later call in this process (a backend, under Postgres):
/// `n` threads at most, the caller's included; 0 = one per core. The SQL layer sets it
/// from `crm.max_threads`.
pub fn set_max_threads(n: usize) {
    MAX_THREADS.store(n, Ordering::Relaxed);
}

/// The cap in force: the last `set_max_threads`, or the number of cores when that is 0.
pub fn max_threads() -> usize {
    match MAX_THREADS.load(Ordering::Relaxed) {
        0 => cores(),
        n => n,
    }
}

/// Cores available to the process, read once: `available_parallelism` reads cgroup files
/// on Linux, and k-means asks for threads on every pass.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// Threads for a call that asks for `requested` (0 = as many as the cap allows).
fn resolve_threads(requested: usize) -> usize {
    let cap = max_threads();
    if requested == 0 {
        cap
    } else {
        requested.min(cap)
    }
}

/// A call stopped because `should_stop` answered true; its work is discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the computation was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// What a long task polls between its steps to learn whether the call is stopping.
pub struct Checkpoint<'a> {
    stopping: &'a AtomicBool,
    /// `should_stop` on the caller's thread; None on the workers, which must not call it.
    check: Option<&'a dyn Fn() -> bool>,
}

impl Checkpoint<'_> {
    /// Whether to stop now (a cancel, or a panic in another task). A task that stops
    /// leaves its work unfinished: the call then returns `Err(Cancelled)` or re-raises
    /// the panic, so nothing reads it.
    pub fn stop(&self) -> bool {
        if self.stopping.load(Ordering::Relaxed) {
            return true;
        }
        match self.check {
            Some(check) if check() => {
                self.stopping.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }
}

/// Runs `work` on every task, on up to `threads` threads (0 = as many as the cap allows;
/// never more than `max_threads()` nor than tasks). One thread, or one task, runs on the
/// caller's thread alone. `Ok` means every task ran to its end.
pub fn run<T: Send>(tasks: &mut [T], threads: usize, should_stop: &dyn Fn() -> bool, work: &(dyn Fn(&mut T, &Checkpoint) + Sync)) -> Result<(), Cancelled> {
    let threads = resolve_threads(threads).min(tasks.len()).max(1);
    let stopping = AtomicBool::new(false);
    // Each task is handed out once; the lock is held only to take the next one.
    let queue = Mutex::new(tasks.iter_mut());
    let take_tasks = |checkpoint: &Checkpoint| {
        while !checkpoint.stop() {
            let Some(task) = queue.lock().unwrap_or_else(PoisonError::into_inner).next() else {
                return;
            };
            work(task, checkpoint);
        }
    };
    let on_caller = Checkpoint { stopping: &stopping, check: Some(should_stop) };
    if threads == 1 {
        take_tasks(&on_caller);
    } else {
        let finished = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let caller = std::thread::current();
            let workers: Vec<_> = (1..threads)
                .filter_map(|_| {
                    let (caller, finished, stopping, take_tasks) = (caller.clone(), &finished, &stopping, &take_tasks);
                    let spawned = std::thread::Builder::new().spawn_scoped(scope, move || {
                        let _done = WorkerDone { finished, stopping, caller };
                        take_tasks(&Checkpoint { stopping, check: None });
                    });
                    // A thread that cannot be started leaves its share to the others.
                    spawned.ok()
                })
                .collect();
            let _stop_on_unwind = StopOnUnwind(&stopping);
            take_tasks(&on_caller);
            while finished.load(Ordering::Acquire) < workers.len() {
                if !stopping.load(Ordering::Relaxed) && should_stop() {
                    stopping.store(true, Ordering::Relaxed);
                }
                std::thread::park_timeout(WAIT_POLL);
            }
            for worker in workers {
                if let Err(payload) = worker.join() {
                    std::panic::resume_unwind(payload);
                }
            }
        });
    }
    if stopping.load(Ordering::Relaxed) {
        Err(Cancelled)
    } else {
        Ok(())
    }
}

/// `work` over `0..n` cut into ranges of `chunk` (the last one shorter), on up to
/// `threads` threads as [`run`]; the results in range order. A range whose work may
/// take long polls its `Checkpoint` and returns early when told to stop.
pub fn map_ranges<R: Send>(
    n: usize,
    chunk: usize,
    threads: usize,
    should_stop: &dyn Fn() -> bool,
    work: impl Fn(Range<usize>, &Checkpoint) -> R + Sync,
) -> Result<Vec<R>, Cancelled> {
    let chunk = chunk.max(1);
    let mut tasks: Vec<(Range<usize>, Option<R>)> = (0..n.div_ceil(chunk)).map(|c| (c * chunk..((c + 1) * chunk).min(n), None)).collect();
    run(&mut tasks, threads, should_stop, &|(range, result), checkpoint| *result = Some(work(range.clone(), checkpoint)))?;
    // `run` answered Ok, so every task ran and holds its result.
    Ok(tasks.into_iter().filter_map(|(_, result)| result).collect())
}

/// Counts a worker out when it ends, panicking or not (the caller waits for the count),
/// and stops the others when it panics.
struct WorkerDone<'a> {
    finished: &'a AtomicUsize,
    stopping: &'a AtomicBool,
    caller: Thread,
}

impl Drop for WorkerDone<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.stopping.store(true, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::Release);
        self.caller.unpark();
    }
}

/// Stops the workers when the caller's thread unwinds (a panicking task, or a
/// `should_stop` that raised a Postgres error): the scope joins them before the
/// unwinding goes on.
struct StopOnUnwind<'a>(&'a AtomicBool);

impl Drop for StopOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Serialises the tests that change the process-wide cap, and puts it back.
    static CAP: Mutex<()> = Mutex::new(());

    struct CapGuard {
        _lock: std::sync::MutexGuard<'static, ()>,
    }

    fn cap(n: usize) -> CapGuard {
        let lock = CAP.lock().unwrap_or_else(PoisonError::into_inner);
        set_max_threads(n);
        CapGuard { _lock: lock }
    }

    impl Drop for CapGuard {
        fn drop(&mut self) {
            set_max_threads(0);
        }
    }

    fn never() -> bool {
        false
    }

    /// Tasks of uneven length, so threads finish them out of order.
    fn uneven(range: Range<usize>, _: &Checkpoint) -> Vec<usize> {
        std::thread::sleep(Duration::from_micros(((range.start * 7919) % 13) as u64 * 100));
        range.map(|i| i * i).collect()
    }

    #[test]
    fn results_keep_range_order_whatever_the_threads() {
        let _cap = cap(8);
        let expected: Vec<Vec<usize>> = (0..1000).collect::<Vec<_>>().chunks(7).map(|c| c.iter().map(|i| i * i).collect()).collect();
        for threads in [1, 2, 8] {
            assert_eq!(map_ranges(1000, 7, threads, &never, uneven), Ok(expected.clone()), "{threads} threads");
        }
        assert_eq!(map_ranges(0, 7, 4, &never, |r, _| r.len()), Ok(vec![]));
        assert_eq!(map_ranges(5, 0, 4, &never, |r, _| r.len()), Ok(vec![1; 5]), "a chunk of 0 is taken as 1");
    }

    #[test]
    fn the_cap_bounds_the_threads_that_run_at_once() {
        for (limit, asked, allowed) in [(2, 8, 2), (3, 0, 3), (8, 1, 1)] {
            let _cap = cap(limit);
            assert_eq!(max_threads(), limit);
            let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let mut tasks = vec![(); 40];
            run(&mut tasks, asked, &never, &|_, _| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(3));
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .unwrap();
            let most = most.into_inner();
            assert!(most <= allowed, "{most} threads at once; cap {limit}, asked {asked}");
            // 40 tasks of 3 ms leave the threads time to start and overlap.
            assert!(most > 1 || allowed == 1, "cap {limit}, asked {asked}: the tasks never overlapped");
        }
        let _cap = cap(0);
        assert_eq!(max_threads(), cores());
    }

    #[test]
    fn a_cancel_mid_run_stops_every_thread_with_no_result() {
        let _cap = cap(4);
        for threads in [1, 4] {
            let caller = std::thread::current().id();
            let polls = Cell::new(0usize);
            let cancel_later = || {
                assert_eq!(std::thread::current().id(), caller, "should_stop runs on the caller's thread only");
                polls.set(polls.get() + 1);
                polls.get() > 5
            };
            let done = AtomicUsize::new(0);
            let result = map_ranges(2_000, 1, threads, &cancel_later, |range, _| {
                std::thread::sleep(Duration::from_millis(1));
                done.fetch_add(1, Ordering::Relaxed);
                range.start
            });
            assert_eq!(result, Err(Cancelled), "{threads} threads");
            assert_eq!(polls.get(), 6, "no poll after the one that cancelled");
            // About 6 tasks per thread ran; the bound leaves room for a loaded machine.
            assert!(done.into_inner() < 1_000, "{threads} threads");
        }
        assert_eq!(map_ranges(10, 1, 2, &|| true, |r, _| r.start), Err(Cancelled));
    }

    #[test]
    fn checkpoints_stop_a_long_task_and_call_should_stop_on_the_caller_only() {
        let _cap = cap(2);
        let caller = std::thread::current().id();
        let polls = AtomicUsize::new(0);
        let cancel_later = || {
            assert_eq!(std::thread::current().id(), caller);
            polls.fetch_add(1, Ordering::Relaxed) >= 20
        };
        let steps = AtomicUsize::new(0);
        let mut tasks = vec![(); 2];
        let result = run(&mut tasks, 2, &cancel_later, &|_, checkpoint| {
            for _ in 0..100_000 {
                if checkpoint.stop() {
                    return;
                }
                steps.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        assert_eq!(result, Err(Cancelled));
        // The caller stopped after about 20 steps, the worker at its next checkpoint.
        assert!(steps.into_inner() < 100_000);
    }

    #[test]
    fn a_worker_panic_is_raised_on_the_caller() {
        let _cap = cap(2);
        let caller = std::thread::current().id();
        let outcome = std::panic::catch_unwind(|| {
            map_ranges(200, 1, 2, &never, |range, _| {
                std::thread::sleep(Duration::from_millis(1));
                if std::thread::current().id() != caller {
                    panic!("worker failed at {}", range.start);
                }
            })
        });
        let payload = outcome.expect_err("the worker's panic reaches the caller");
        let message = payload.downcast_ref::<String>().expect("the worker's own payload");
        assert!(message.starts_with("worker failed at"), "{message}");
    }

    #[test]
    fn a_should_stop_that_unwinds_stops_the_workers_and_goes_on() {
        let _cap = cap(2);
        let polls = Cell::new(0usize);
        let raise = || {
            polls.set(polls.get() + 1);
            if polls.get() > 3 {
                panic!("canceling statement due to user request");
            }
            false
        };
        let done = AtomicUsize::new(0);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map_ranges(10_000, 1, 2, &raise, |_, _| {
                std::thread::sleep(Duration::from_micros(200));
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(outcome.is_err());
        assert!(done.into_inner() < 5_000);
    }
}
