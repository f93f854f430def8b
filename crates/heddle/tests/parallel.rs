//! `heddle::parallel`: split, run on a pool, reassemble in order. Order for every size
//! and chunking, left-to-right combining, in-place mutation, panics resumed with their
//! payload, the worker limit, nesting inside pool tasks, a shut-down pool.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use heddle::parallel::{self, Plan};
use heddle::pool::ThreadPool;

use common::Occupancy;

#[test]
fn map_chunks_keeps_order_for_every_size_and_chunking() {
    let pool = ThreadPool::builder().workers(3).build().unwrap();
    for len in [0usize, 1, 2, 7, 64, 1000, 4099] {
        let input: Vec<usize> = (0..len).collect();
        let expected: Vec<usize> = input.iter().map(|x| x * 2 + 1).collect();
        for chunk in [None, Some(1), Some(3), Some(100), Some(10_000)] {
            let mut plan = Plan::new().pool(&pool);
            if let Some(c) = chunk {
                plan = plan.chunk_size(c);
            }
            let got = plan.map_chunks(&input, |c| c.iter().map(|x| x * 2 + 1).collect());
            assert_eq!(got, expected, "len {len}, chunk {chunk:?}");
            assert_eq!(plan.map(&input, |x| x * 2 + 1), expected);
        }
    }
}

#[test]
fn map_chunks_may_return_any_number_per_chunk() {
    let input: Vec<u32> = (0..100).collect();
    let got = Plan::new().chunk_size(10).map_chunks(&input, |c| {
        c.iter().filter(|x| *x % 3 == 0).copied().collect()
    });
    assert_eq!(got, (0..100).filter(|x| x % 3 == 0).collect::<Vec<_>>());
}

#[test]
fn reduce_combines_left_to_right() {
    // String concatenation is associative but not commutative.
    let input: Vec<char> = "the quick brown fox jumps over the lazy dog"
        .chars()
        .collect();
    for chunk in [1, 2, 5, 8, 100] {
        let got = Plan::new().chunk_size(chunk).reduce(
            &input,
            |c| c.iter().collect::<String>(),
            |a, b| a + &b,
        );
        assert_eq!(
            got.as_deref(),
            Some("the quick brown fox jumps over the lazy dog")
        );
    }
    assert_eq!(parallel::reduce(&[] as &[u8], |_| 0, |a, b| a + b), None);
}

#[test]
fn reduce_sums_exactly() {
    let input: Vec<u64> = (1..=1_000_000).collect();
    let sum = parallel::reduce(&input, |c| c.iter().sum::<u64>(), |a, b| a + b);
    assert_eq!(sum, Some(500_000_500_000));
}

#[test]
fn for_each_chunk_sees_every_item_once() {
    let input: Vec<usize> = (0..10_000).collect();
    let seen = AtomicUsize::new(0);
    let sum = AtomicUsize::new(0);
    parallel::for_each_chunk(&input, |c| {
        seen.fetch_add(c.len(), Ordering::Relaxed);
        sum.fetch_add(c.iter().sum::<usize>(), Ordering::Relaxed);
    });
    assert_eq!(seen.into_inner(), 10_000);
    assert_eq!(sum.into_inner(), (0..10_000).sum());
}

#[test]
fn for_each_chunk_mut_transforms_in_place() {
    let mut data: Vec<i64> = (0..5000).collect();
    Plan::new()
        .chunk_size(333)
        .for_each_chunk_mut(&mut data, |c| c.iter_mut().for_each(|x| *x = -*x));
    assert_eq!(data, (0..5000).map(|x| -x).collect::<Vec<_>>());
    let mut empty: [u8; 0] = [];
    parallel::for_each_chunk_mut(&mut empty, |_| unreachable!("no chunk"));
}

#[test]
fn a_panic_is_resumed_with_its_payload_and_stops_new_chunks() {
    let input: Vec<u32> = (0..1000).collect();
    let pool = ThreadPool::builder().workers(2).build().unwrap();
    for workers in [1, 2] {
        let started = AtomicUsize::new(0);
        let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
            Plan::new()
                .pool(&pool)
                .workers(workers)
                .chunk_size(1)
                .for_each_chunk(&input, |c| {
                    started.fetch_add(1, Ordering::SeqCst);
                    if c[0] == 3 {
                        panic::panic_any(7u32);
                    }
                })
        }));
        assert_eq!(unwound.unwrap_err().downcast_ref::<u32>(), Some(&7));
        if workers == 1 {
            // One worker claims chunks in order and stops at the panic.
            assert_eq!(started.load(Ordering::SeqCst), 4);
        }
    }
    // The pool is fine afterwards.
    assert_eq!(Plan::new().pool(&pool).map(&[1, 2], |x| x * 2), [2, 4]);
}

#[test]
fn workers_limits_how_many_run_at_once() {
    let pool = ThreadPool::builder().workers(3).build().unwrap();
    let input = vec![0u8; 64];
    for limit in [1, 2] {
        let inside = Occupancy::default();
        Plan::new()
            .pool(&pool)
            .workers(limit)
            .chunk_size(1)
            .for_each_chunk(&input, |_| {
                inside.enter();
                std::hint::black_box(0..1000).for_each(drop);
                inside.leave();
            });
        assert!(
            inside.max() <= limit,
            "{} ran at once, limit {limit}",
            inside.max()
        );
    }
}

#[test]
fn the_work_happens_on_the_pool() {
    let pool = ThreadPool::builder()
        .workers(2)
        .name_prefix("crunchers")
        .build()
        .unwrap();
    let input = vec![0u8; 100];
    let names = Plan::new()
        .pool(&pool)
        .chunk_size(10)
        .map_chunks(&input, |_| {
            vec![heddle::thread::current().name().to_owned()]
        });
    assert_eq!(names.len(), 10);
    assert!(
        names.iter().all(|n| n.starts_with("crunchers_")),
        "{names:?}"
    );
}

#[test]
fn a_single_chunk_runs_in_the_caller() {
    let me = heddle::thread::current().ident();
    let who = Plan::new()
        .chunk_size(100)
        .map_chunks(&[1, 2, 3], |_| vec![heddle::thread::current().ident()]);
    assert_eq!(who, [me]);
}

#[test]
fn nested_calls_inside_pool_tasks_do_not_starve() {
    // Every worker runs an outer chunk that itself calls parallel on the same pool.
    let pool = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    let outer: Vec<u64> = (0..8).collect();
    let sums = Plan::new().pool(&pool).chunk_size(1).map(&outer, |&i| {
        let inner: Vec<u64> = (0..1000).map(|x| x + i).collect();
        Plan::new()
            .pool(&pool)
            .chunk_size(50)
            .reduce(&inner, |c| c.iter().sum::<u64>(), |a, b| a + b)
            .unwrap()
    });
    let expected: Vec<u64> = (0..8).map(|i| (0..1000).map(|x| x + i).sum()).collect();
    assert_eq!(sums, expected);
}

#[test]
fn a_shut_down_pool_leaves_the_work_to_the_caller() {
    let pool = ThreadPool::builder().workers(2).build().unwrap();
    pool.shutdown(true, false);
    let out = Plan::new()
        .pool(&pool)
        .chunk_size(2)
        .map(&[1, 2, 3, 4, 5], |x| x * 10);
    assert_eq!(out, [10, 20, 30, 40, 50]);
}

#[test]
fn the_global_pool_is_shared_and_sized_to_the_cores() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let a = parallel::global_pool();
    let b = parallel::global_pool();
    assert!(std::ptr::eq(a, b));
    assert_eq!(a.workers(), cores);
    assert_eq!(a.name_prefix(), "heddle-parallel");
    let squares = parallel::map(&[1u32, 2, 3], |x| x * x);
    assert_eq!(squares, [1, 4, 9]);
}

#[test]
fn borrows_from_the_stack() {
    let table = [10u32, 20, 30];
    let idx: Vec<usize> = (0..3000).map(|i| i % 3).collect();
    let out = parallel::map_chunks(&idx, |c| c.iter().map(|&i| table[i]).collect());
    assert_eq!(out.iter().map(|&x| x as u64).sum::<u64>(), 1000 * 60);
}

#[test]
#[should_panic(expected = "chunk_size must be at least 1")]
fn chunk_size_zero_panics() {
    let _ = Plan::new().chunk_size(0);
}

#[test]
#[should_panic(expected = "at least one worker")]
fn zero_workers_panics() {
    let _ = Plan::new().workers(0);
}

#[test]
fn plan_debug() {
    let pool = ThreadPool::builder()
        .workers(1)
        .name_prefix("dbg")
        .build()
        .unwrap();
    let shown = format!("{:?}", Plan::new().pool(&pool).chunk_size(4));
    assert!(
        shown.contains("dbg") && shown.contains("Some(4)"),
        "{shown}"
    );
}
