//! Pipelines of thread and process stages: exact delivery in order and out of order,
//! back-pressure, and a failing stage (panic, killed worker, sink) that stops
//! everything and is returned.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use heddle::pipeline::{Pipeline, PipelineError};

fn square(x: u64) -> u64 {
    x * x
}

fn to_text(x: u64) -> String {
    format!("<{x}>")
}

fn fails_on_500(x: u64) -> u64 {
    assert!(x != 500, "bad item {x}");
    x
}

fn dies_on_300(x: u64) -> u64 {
    if x == 300 {
        // SAFETY: killing this worker process.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    x
}

heddle::process::register!(square, to_text, fails_on_500, dies_on_300);

#[test]
fn thread_stages_deliver_every_item_in_order() {
    let out = Pipeline::from_iter(0..5000u64)
        .threads(3, |x| x + 1)
        .threads(2, |x: u64| x * 2)
        .batch(7)
        .collect()
        .unwrap();
    assert_eq!(out, (0..5000).map(|x| (x + 1) * 2).collect::<Vec<_>>());
}

#[test]
fn process_and_thread_stages_mixed_ordered_and_unordered() {
    let out = Pipeline::from_iter(0..3000u64)
        .processes(2, square)
        .threads(2, |x: u64| x + 1)
        .processes(2, to_text)
        .collect()
        .unwrap();
    assert_eq!(
        out,
        (0..3000u64)
            .map(|x| format!("<{}>", x * x + 1))
            .collect::<Vec<_>>()
    );
    let mut out = Pipeline::from_iter(0..3000u64)
        .processes(3, square)
        .ordered(false)
        .batch(5)
        .collect()
        .unwrap();
    out.sort_unstable();
    assert_eq!(out, (0..3000u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn a_panicking_process_stage_stops_the_pipeline_and_is_returned() {
    let err = Pipeline::from_iter(0..2000u64)
        .threads(2, |x: u64| x)
        .processes(2, fails_on_500)
        .threads(1, |x: u64| x)
        .batch(10)
        .capacity(2)
        .collect()
        .unwrap_err();
    match err {
        PipelineError::Failed { stage, message } => {
            assert_eq!(stage, "stage 2 (processes)");
            assert!(message.contains("bad item 500"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_panicking_thread_stage_stops_the_pipeline_and_is_returned() {
    let err = Pipeline::from_iter(0..10_000u64)
        .threads(2, |x: u64| {
            if x == 4321 {
                panic!("thread stage broke")
            } else {
                x
            }
        })
        .processes(1, square)
        .capacity(1)
        .collect()
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::Failed { stage, message }
        if stage == "stage 1 (threads)" && message == "thread stage broke"),
        "{err:?}"
    );
}

#[test]
fn a_killed_stage_process_stops_the_pipeline_instead_of_hanging() {
    let err = Pipeline::from_iter(0..1000u64)
        .processes(2, dies_on_300)
        .batch(4)
        .collect()
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::Failed { message, .. } if message.contains("signal 9")),
        "{err:?}"
    );
}

#[test]
fn a_panicking_sink_stops_the_pipeline() {
    let err = Pipeline::from_iter(0..100_000u64)
        .processes(2, square)
        .run(|x| assert!(x != 49, "sink refused"))
        .unwrap_err();
    assert_eq!(
        err,
        PipelineError::Failed {
            stage: "sink".into(),
            message: "sink refused".into()
        }
    );
}

#[test]
fn a_slow_sink_holds_back_the_source() {
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&produced);
    let source = (0..1000u64).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let mut ahead = 0;
    let n = Pipeline::from_iter(source)
        .threads(1, |x: u64| x)
        .batch(1)
        .capacity(2)
        .run(|x| {
            if x == 0 {
                std::thread::sleep(Duration::from_millis(50));
                ahead = produced.load(Ordering::SeqCst);
            }
        })
        .unwrap();
    assert_eq!(n, 1000);
    // Two queues of 2 batches of 1, one item in the stage, one in the source's hand,
    // one in the sink's: never the whole input.
    assert!(
        ahead <= 8,
        "the source ran {ahead} items ahead of a blocked sink"
    );
}
