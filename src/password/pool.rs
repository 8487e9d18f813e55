//! A fixed set of OS threads for argon2, each keeping one memory buffer between hashes and giving
//! it back to the operating system after a short idle spell.
//!
//! Why not `spawn_blocking`: its threads come and go (up to 512), and glibc kept each one's
//! 19 MiB argon2 block in that thread's arena, so a login storm left the server at ~650 MB.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use argon2::Block;

/// How long a thread keeps its buffer with no work; a storm reuses it, a quiet server frees it.
const IDLE_RELEASE: Duration = Duration::from_secs(2);

/// The buffer's reserved size. glibc serves allocations above 32 MiB (the ceiling of its dynamic
/// mmap threshold) with their own mapping and unmaps them on free, whatever else the process did
/// before; a 19 MiB one can instead land in an arena that never shrinks. Only the pages argon2
/// writes (its `m` blocks) become resident: the rest is address space, not memory.
const RESERVED_BLOCKS: usize = 33 * 1024 * 1024 / std::mem::size_of::<Block>();

/// One thread's argon2 working memory, allocated on first use.
#[derive(Default)]
pub(super) struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// At least `count` blocks (any content: argon2 overwrites them in its first pass), or `None`
    /// when `count` exceeds what is reserved.
    pub(super) fn blocks(&mut self, count: usize) -> Option<&mut [Block]> {
        if count > RESERVED_BLOCKS {
            return None;
        }
        if self.blocks.capacity() < RESERVED_BLOCKS {
            self.blocks = Vec::with_capacity(RESERVED_BLOCKS);
        }
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        self.blocks.get_mut(..count)
    }

    fn release(&mut self) {
        self.blocks = Vec::new();
    }
}

pub(super) type Job = Box<dyn FnOnce(&mut Memory) + Send>;

struct Queue {
    jobs: VecDeque<Job>,
    threads: usize,
    closed: bool,
}

pub(super) struct Pool {
    queue: Mutex<Queue>,
    ready: Condvar,
    max_threads: usize,
}

/// The pool as the hasher holds it: when the last clone goes, the threads finish what is queued
/// and exit.
pub(super) struct PoolHandle(Arc<Pool>);

impl Drop for PoolHandle {
    fn drop(&mut self) {
        if let Ok(mut q) = self.0.queue.lock() {
            q.closed = true;
        }
        self.0.ready.notify_all();
    }
}

impl PoolHandle {
    pub(super) fn new(max_threads: usize) -> PoolHandle {
        PoolHandle(Arc::new(Pool {
            queue: Mutex::new(Queue { jobs: VecDeque::new(), threads: 0, closed: false }),
            ready: Condvar::new(),
            max_threads: max_threads.max(1),
        }))
    }

    /// Queues `job`; threads are started on demand (a CLI command that never hashes starts none).
    /// The caller bounds how many jobs are queued (the hasher's permits).
    pub(super) fn submit(&self, job: Job) -> Result<(), String> {
        let pool = &self.0;
        let mut q = pool.queue.lock().map_err(|_| "the hashing queue is unusable".to_string())?;
        q.jobs.push_back(job);
        if q.threads < pool.max_threads {
            let worker = Arc::clone(pool);
            match std::thread::Builder::new().name("gerbang-argon2".into()).spawn(move || worker.work()) {
                Ok(_) => q.threads += 1,
                Err(e) if q.threads == 0 => {
                    q.jobs.pop_back();
                    return Err(format!("no hashing thread could be started: {e}"));
                }
                // The running threads take the job; one more is tried at the next submission.
                Err(e) => tracing::warn!(error = %e, "an extra hashing thread could not be started"),
            }
        }
        drop(q);
        pool.ready.notify_one();
        Ok(())
    }
}

impl Pool {
    fn work(&self) {
        let mut memory = Memory::default();
        let Ok(mut q) = self.queue.lock() else { return };
        loop {
            if let Some(job) = q.jobs.pop_front() {
                drop(q);
                job(&mut memory);
                let Ok(next) = self.queue.lock() else { return };
                q = next;
                continue;
            }
            if q.closed {
                q.threads = q.threads.saturating_sub(1);
                return;
            }
            let Ok((next, waited)) = self.ready.wait_timeout(q, IDLE_RELEASE) else { return };
            q = next;
            if waited.timed_out() && q.jobs.is_empty() {
                memory.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_reserved_above_the_mmap_threshold_ceiling_and_reused() {
        let mut m = Memory::default();
        let first = m.blocks(19 * 1024).unwrap().as_ptr();
        assert!(m.blocks.capacity() * std::mem::size_of::<Block>() > 32 * 1024 * 1024);
        assert_eq!(m.blocks(19 * 1024).unwrap().as_ptr(), first, "the same buffer, not a new one");
        assert!(m.blocks(RESERVED_BLOCKS + 1).is_none());
        m.release();
        assert_eq!(m.blocks.capacity(), 0);
    }

    #[test]
    fn threads_start_on_demand_up_to_the_limit_and_exit_when_closed() {
        let handle = PoolHandle::new(2);
        let pool = Arc::clone(&handle.0);
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..5 {
            let tx = tx.clone();
            handle.submit(Box::new(move |_| tx.send(i).unwrap())).unwrap();
        }
        let mut got: Vec<i32> = (0..5).map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap()).collect();
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert_eq!(pool.queue.lock().unwrap().threads, 2);
        drop(handle);
        for _ in 0..3000 {
            if pool.queue.lock().unwrap().threads == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the threads did not exit after the pool closed");
    }
}
