//! The courses' `DataPipeline`: a reader process feeds an input queue, a processor
//! moves items to an output queue, a writer drains it; first by hand (three
//! `Process`es, two `ProcessQueue`s), then as one `Pipeline`.
//!
//! ```text
//! cargo run --release -p heddle --example data_pipeline
//! ```

use heddle::pipeline::Pipeline;
use heddle::process::{Process, ProcessQueue};

type Items = ProcessQueue<Option<String>>;

fn reader((input, n): (Items, u32)) {
    for i in 0..n {
        input.put(&Some(format!("record {i}"))).unwrap();
    }
    input.put(&None).unwrap(); // end of data
}

fn processor((input, output): (Items, Items)) {
    while let Some(item) = input.get().unwrap() {
        output.put(&Some(item.to_uppercase())).unwrap();
    }
    output.put(&None).unwrap();
}

fn writer(output: Items) -> usize {
    let mut written = 0;
    while let Some(_item) = output.get().unwrap() {
        written += 1;
    }
    written
}

fn shout(item: String) -> String {
    item.to_uppercase()
}

heddle::process::register!(reader, processor, writer, shout);

fn main() {
    // By hand, as in the course.
    let input = ProcessQueue::bounded(100).unwrap();
    let output = ProcessQueue::bounded(100).unwrap();
    let mut r = Process::new(reader, (input.clone(), 1000))
        .name("reader")
        .start()
        .unwrap();
    let mut p = Process::new(processor, (input, output.clone()))
        .name("processor")
        .start()
        .unwrap();
    let mut w = Process::new(writer, output).name("writer").start().unwrap();
    r.join().unwrap();
    p.join().unwrap();
    println!("by hand: the writer wrote {} items", w.join().unwrap());

    // The same, as a pipeline: source → processes → sink, bounded queues between.
    let written = Pipeline::from_iter((0..1000).map(|i| format!("record {i}")))
        .processes(1, shout)
        .run(|_item| {})
        .unwrap();
    println!("pipeline: the sink got {written} items");
}
