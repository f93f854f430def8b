//! The checker still sees a failing test when the process's panic hook was replaced
//! after the checker installed its own (which routes checked threads' panics into its
//! reports). Its own test binary: the hook is process-wide.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use heddle::check::{AtomicUsize, Checker};
use heddle::thread::Thread;

fn lost_update() {
    let counter = Arc::new(AtomicUsize::new(0));
    let adders: Vec<_> = (0..2)
        .map(|_| {
            let c = Arc::clone(&counter);
            Thread::new(move || {
                let v = c.load(SeqCst);
                c.store(v + 1, SeqCst);
            })
            .start()
        })
        .collect();
    for t in adders {
        t.join().unwrap();
    }
    assert_eq!(counter.load(SeqCst), 2, "an update was lost");
}

#[test]
fn failure_found_after_the_panic_hook_was_replaced() {
    // The first run installs the checker's hook (wrapping the default one).
    Checker::random().iterations(1).run(|| {});
    // A test harness, a logger or color-eyre replaces it.
    std::panic::set_hook(Box::new(|_| {}));
    let report = Checker::dfs()
        .explore(lost_update)
        .expect_err("the lost update went unnoticed");
    assert!(report.message().contains("an update was lost"), "{report}");
    assert!(
        report.message().contains("'MainThread' panicked"),
        "{report}"
    );
}
