//! Stress with exact counts: every task runs at most once, every result arrives exactly
//! once, and every race (cancel vs start, callback registration vs completion, submit
//! vs shutdown, waiters vs completion) ends in one of the allowed outcomes with nothing
//! lost. Sized to finish in a few seconds in debug builds on two cores.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use heddle::pool::{as_completed, FutureError, SubmitError, ThreadPool};
use heddle::queue::Queue;

fn pool(workers: usize) -> Arc<ThreadPool> {
    Arc::new(ThreadPool::builder().workers(workers).build().unwrap())
}

#[test]
fn ten_thousand_tiny_tasks_each_result_exactly_once() {
    let pool = pool(3);
    let futures: Vec<_> = (0..10_000u32)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    let mut seen = vec![false; 10_000];
    for (i, f) in futures.into_iter().enumerate() {
        let v = f.result().unwrap() as usize;
        assert_eq!(v, i);
        assert!(!seen[v]);
        seen[v] = true;
    }
    assert!(seen.iter().all(|s| *s));
}

#[test]
fn ten_thousand_tasks_from_four_submitters() {
    let pool = pool(2);
    let runs = Arc::new(AtomicUsize::new(0));
    let results: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u32)
            .map(|t| {
                let (pool, runs) = (Arc::clone(&pool), Arc::clone(&runs));
                s.spawn(move || {
                    let fs: Vec<_> = (0..2500u32)
                        .map(|i| {
                            let runs = Arc::clone(&runs);
                            pool.submit(move || {
                                runs.fetch_add(1, Ordering::Relaxed);
                                t * 2500 + i
                            })
                            .unwrap()
                        })
                        .collect();
                    fs.into_iter().map(|f| f.result().unwrap()).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: HashSet<u32> = results.into_iter().flatten().collect();
    assert_eq!(all.len(), 10_000);
    assert_eq!(runs.load(Ordering::SeqCst), 10_000);
}

#[test]
fn ten_thousand_tasks_in_batches() {
    let pool = pool(2);
    let mut total = 0u64;
    for batch in 0..10u64 {
        let fs = pool
            .submit_batch((0..1000u64).map(|i| move || batch * 1000 + i))
            .unwrap();
        for (i, f) in fs.into_iter().enumerate() {
            let v = f.result().unwrap();
            assert_eq!(v, batch * 1000 + i as u64);
            total += v;
        }
    }
    assert_eq!(total, (0..10_000u64).sum());
}

#[test]
fn panics_fail_exactly_the_panicking_tasks() {
    let pool = pool(2);
    let fs: Vec<_> = (0..3000u32)
        .map(|i| {
            pool.submit(move || {
                if i % 7 == 3 {
                    panic!("bad {i}");
                }
                i
            })
            .unwrap()
        })
        .collect();
    let mut failed = 0;
    for (i, f) in fs.into_iter().enumerate() {
        match f.result() {
            Ok(v) => assert_eq!(v as usize, i),
            Err(FutureError::Panicked { message }) => {
                assert_eq!(message, format!("bad {i}"));
                failed += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(failed, (0..3000).filter(|i| i % 7 == 3).count());
    assert_eq!(pool.workers(), 2);
}

#[test]
fn cancellations_racing_completion() {
    let pool = pool(2);
    for _ in 0..10 {
        let runs = Arc::new(AtomicUsize::new(0));
        let fs: Vec<_> = (0..500)
            .map(|i| {
                let runs = Arc::clone(&runs);
                pool.submit(move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    i
                })
                .unwrap()
            })
            .collect();
        // Cancel from another thread while the workers start them.
        let cancelled: Vec<bool> = std::thread::scope(|s| {
            s.spawn(|| fs.iter().rev().map(|f| f.cancel()).collect::<Vec<_>>())
                .join()
                .unwrap()
        });
        let mut ok = 0;
        let mut was_cancelled = 0;
        for (f, said) in fs.into_iter().zip(cancelled.into_iter().rev()) {
            match f.result() {
                Ok(_) => {
                    assert!(!said, "cancel() said true but the task ran");
                    ok += 1;
                }
                Err(FutureError::Cancelled) => {
                    assert!(said, "cancelled without cancel() saying so");
                    was_cancelled += 1;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(ok + was_cancelled, 500);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            ok,
            "a task ran iff it was not cancelled"
        );
    }
}

#[test]
fn batch_cancellations_racing_completion() {
    let pool = pool(2);
    for _ in 0..10 {
        let runs = Arc::new(AtomicUsize::new(0));
        let fs = pool
            .submit_batch((0..500).map(|_| {
                let runs = Arc::clone(&runs);
                move || runs.fetch_add(1, Ordering::SeqCst)
            }))
            .unwrap();
        let said: Vec<bool> = fs.iter().map(|f| f.cancel()).collect();
        let ok = fs
            .into_iter()
            .zip(said)
            .filter(|(f, said)| match f.result_ref_outcome() {
                Ok(()) => {
                    assert!(!said);
                    true
                }
                Err(_) => {
                    assert!(said);
                    false
                }
            })
            .count();
        assert_eq!(runs.load(Ordering::SeqCst), ok);
    }
}

/// `result` by reference for the filter above: wait, then report ok / cancelled.
trait Outcome {
    fn result_ref_outcome(&self) -> Result<(), FutureError>;
}

impl<T: Send + Sync + 'static> Outcome for heddle::pool::Future<T> {
    fn result_ref_outcome(&self) -> Result<(), FutureError> {
        let q = Queue::bounded(1);
        let q2 = q.clone();
        self.add_done_callback(move |o| q2.put(o.map(|_| ()).map_err(Clone::clone)).unwrap());
        q.get().unwrap()
    }
}

#[test]
fn callbacks_registered_while_completing_run_exactly_once() {
    let pool = pool(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let fs: Vec<_> = (0..2000u32)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    for f in &fs {
        let c = Arc::clone(&calls);
        f.add_done_callback(move |o| {
            assert!(o.is_ok());
            c.fetch_add(1, Ordering::SeqCst);
        });
    }
    for (i, f) in fs.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i as u32));
    }
    // Every callback ran before its result() returned.
    assert_eq!(calls.load(Ordering::SeqCst), 2000);
}

#[test]
fn waiters_and_callbacks_racing_on_shared_futures() {
    // Several threads wait on, and add callbacks to, the same futures at once (they
    // race to set up each future's waiting side) while the tasks complete.
    let pool = pool(2);
    for _ in 0..5 {
        let gate = heddle::sync::Event::new();
        let fs: Vec<_> = (0..200u32)
            .map(|i| {
                let g = gate.clone();
                pool.submit(move || {
                    if i % 2 == 0 {
                        g.wait();
                    }
                    i
                })
                .unwrap()
            })
            .collect();
        let calls = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..4 {
                let (fs, calls) = (&fs, Arc::clone(&calls));
                s.spawn(move || {
                    for f in fs {
                        if t % 2 == 0 {
                            let c = Arc::clone(&calls);
                            f.add_done_callback(move |_| {
                                c.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                        f.wait();
                    }
                });
            }
            gate.set();
        });
        // Two of the four threads added one callback to each future.
        assert_eq!(calls.load(Ordering::SeqCst), 400);
        for (i, f) in fs.into_iter().enumerate() {
            assert_eq!(f.result(), Ok(i as u32));
        }
    }
}

#[test]
fn submits_racing_shutdown_lose_nothing() {
    for _ in 0..10 {
        let pool = pool(2);
        let runs = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(5));
        let outcomes = Arc::new(Mutex::new((0usize, 0usize, 0usize))); // ok, cancelled, refused
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (pool, runs, start, outcomes) = (
                    Arc::clone(&pool),
                    Arc::clone(&runs),
                    Arc::clone(&start),
                    Arc::clone(&outcomes),
                );
                s.spawn(move || {
                    start.wait();
                    let mut local = (0, 0, 0);
                    let mut futures = Vec::new();
                    for _ in 0..300 {
                        let runs = Arc::clone(&runs);
                        match pool.submit(move || runs.fetch_add(1, Ordering::SeqCst)) {
                            Ok(f) => futures.push(f),
                            Err(SubmitError::ShutDown(task)) => {
                                local.2 += 1;
                                drop(task); // handed back, never run
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    for f in futures {
                        match f.result() {
                            Ok(_) => local.0 += 1,
                            Err(FutureError::Cancelled) => local.1 += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    let mut o = outcomes.lock().unwrap();
                    o.0 += local.0;
                    o.1 += local.1;
                    o.2 += local.2;
                });
            }
            start.wait();
            pool.shutdown(false, true);
        });
        let (ok, cancelled, refused) = *outcomes.lock().unwrap();
        assert_eq!(ok + cancelled + refused, 1200);
        assert_eq!(runs.load(Ordering::SeqCst), ok);
    }
}

#[test]
fn as_completed_over_two_thousand_futures() {
    let pool = pool(2);
    let fs: Vec<_> = (0..2000u32)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    let mut seen = HashSet::new();
    for f in as_completed(fs, None) {
        assert!(seen.insert(f.unwrap().result().unwrap()));
    }
    assert_eq!(seen.len(), 2000);
}

#[test]
fn many_waiters_on_many_futures() {
    let pool = pool(2);
    for _ in 0..20 {
        let fs: Vec<_> = (0..50u32)
            .map(|i| pool.submit(move || i).unwrap())
            .collect();
        // Each future is awaited by its own thread, racing its completion.
        let got: Vec<u32> = std::thread::scope(|s| {
            let handles: Vec<_> = fs
                .into_iter()
                .map(|f| s.spawn(move || f.result().unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(got, (0..50).collect::<Vec<_>>());
    }
}

#[test]
fn map_ten_thousand_items_ordered_and_unordered() {
    let pool = pool(2);
    let ordered: Vec<u64> = pool
        .map(0..10_000u64, |x| x * 3)
        .chunksize(7)
        .map(Result::unwrap)
        .collect();
    assert_eq!(ordered, (0..10_000).map(|x| x * 3).collect::<Vec<_>>());
    let unordered: HashSet<u64> = pool
        .map_unordered(0..10_000u64, |x| x * 3)
        .chunksize(13)
        .map(Result::unwrap)
        .collect();
    assert_eq!(unordered.len(), 10_000);
}

#[test]
fn scopes_in_a_loop() {
    let pool = pool(2);
    let mut data = vec![0u32; 256];
    for round in 1..=200u32 {
        pool.scope(|s| {
            for chunk in data.chunks_mut(32) {
                s.spawn(move || chunk.iter_mut().for_each(|x| *x += 1))
                    .unwrap();
            }
        });
        assert!(data.iter().all(|&x| x == round));
    }
}

#[test]
fn bursts_to_an_idle_pool_lose_no_wakeup() {
    // Bursts separated by pauses long enough for the workers to go to sleep: each
    // burst must wake enough of them (the submitter wakes one, woken workers wake the
    // rest), and no task may be left in the queue with every worker asleep.
    let pool = pool(3);
    let timeout = std::time::Duration::from_secs(60);
    for round in 0..200u64 {
        let size = 1 + round % 37;
        let futures: Vec<_> = (0..size)
            .map(|i| pool.submit(move || round * 100 + i).unwrap())
            .collect();
        for (i, mut f) in futures.into_iter().enumerate() {
            assert_eq!(f.result_timeout(timeout), Ok(round * 100 + i as u64));
        }
        if round % 10 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

#[test]
fn many_submitters_to_few_workers() {
    // Submitters contend on the queue's tail; workers meet half-linked jobs.
    let pool = pool(2);
    let start = Arc::new(Barrier::new(6));
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let (pool, start) = (Arc::clone(&pool), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let futures: Vec<_> = (0..2000u64)
                    .map(|i| pool.submit(move || t * 10_000 + i).unwrap())
                    .collect();
                futures
                    .into_iter()
                    .enumerate()
                    .all(|(i, f)| f.result() == Ok(t * 10_000 + i as u64))
            })
        })
        .collect();
    for thread in threads {
        assert!(thread.join().unwrap());
    }
}
