//! The read → process → write pipeline across processes.
//!
//! Python's `multiprocessing` pipeline of the courses: the parent process **reads**
//! records and puts them on a `JoinableQueue`; several worker **processes** (a
//! `multiprocessing.Process` each) take records, process them and put the results on
//! a second queue; one **writer** process takes the results and writes them to a file.
//! The end of the input is told with a sentinel (`None`) on the queue, as in Python.
//! The parent checks the file: every record exactly once, processed.
//!
//! **The bug** (`one-sentinel`): the reader puts **one** `None` for several workers.
//! The first worker to take it stops; every other worker waits on `get()` for ever,
//! the writer waits for the sentinels of the workers that never stop, and the
//! parent's `join()` never returns. (A real run waits 2 s for each worker, then says
//! which are stuck and terminates them.)
//!
//! **The fix** (`sentinel-per-worker`): one sentinel per worker on the input queue,
//! and each worker forwards its own sentinel to the writer, which stops after it has
//! seen one from every worker: the items before each sentinel are all delivered, so
//! every item is written and every process ends.
//!
//! The checker runs threads of one process, not processes, so the check bodies run
//! the same protocol (the same worker and writer loops, [`worker_loop`] and
//! [`writer_loop`]) on heddle threads connected by heddle [`Queue`]s.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use heddle::process::{Process, ProcessHandle, ProcessQueue};
use heddle::queue::Queue;
use heddle::thread::Thread;

use crate::{join_all, spawn_n, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check pipeline`.
///
/// ```
/// let s = &heddle_lab::pipeline::SCENARIO;
/// assert_eq!(s.name, "pipeline");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "pipeline",
    title: "read -> process -> write across processes: JoinableQueue, one sentinel per worker",
    python: &[
        "multiprocessing.Process",
        "multiprocessing.Queue",
        "multiprocessing.JoinableQueue",
        "Process.join",
        "Process.terminate",
    ],
    variants: &[
        Variant {
            name: "one-sentinel",
            broken: true,
            summary: "one None for several workers: the other workers, the writer and join wait for ever",
            run: |cfg| run(cfg, false),
            check: || check(false),
            exploration: Exploration::new(Strategy::Random, 50),
        },
        Variant {
            name: "sentinel-per-worker",
            broken: false,
            summary: "a sentinel per worker, forwarded to the writer: every item written, every process ends",
            run: |cfg| run(cfg, true),
            check: || check(true),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
    ],
};

/// A record: its line number and text; `None` is the end-of-input sentinel.
type Record = Option<(u32, String)>;

/// How many sentinels the reader puts for `workers` workers.
///
/// ```
/// assert_eq!(heddle_lab::pipeline::sentinels(3, true), 3);
/// assert_eq!(heddle_lab::pipeline::sentinels(3, false), 1);
/// ```
pub fn sentinels(workers: usize, per_worker: bool) -> usize {
    if per_worker {
        workers
    } else {
        // BUG: one sentinel stops one worker.
        1
    }
}

/// The processing step: the record's text in upper case, after its line number.
///
/// ```
/// assert_eq!(heddle_lab::pipeline::process_record(7, "abc"), "7\tABC");
/// ```
pub fn process_record(line: u32, text: &str) -> String {
    format!("{line}\t{}", text.to_uppercase())
}

/// A worker: take records until a sentinel, put each processed one, then forward
/// the sentinel (so the writer knows this worker is done). Returns how many records
/// it processed. `get` returns `None` if the queue broke (closed).
///
/// ```
/// use std::cell::RefCell;
/// let input = RefCell::new(vec![None, Some((1, "a".to_string()))]);
/// let out = RefCell::new(Vec::new());
/// let n = heddle_lab::pipeline::worker_loop(|| input.borrow_mut().pop(), |r| out.borrow_mut().push(r));
/// assert_eq!(n, 1);
/// assert_eq!(out.into_inner(), [Some((1, "1\tA".to_string())), None]);
/// ```
pub fn worker_loop(mut get: impl FnMut() -> Option<Record>, mut put: impl FnMut(Record)) -> u64 {
    let mut done = 0;
    while let Some(Some((line, text))) = get() {
        put(Some((line, process_record(line, &text))));
        done += 1;
    }
    put(None);
    done
}

/// The writer: take results until it has seen `workers` sentinels, writing each
/// result with `write`. Returns how many it wrote.
///
/// ```
/// let mut input = vec![None, Some((2, "2\tB".to_string())), None];
/// let mut lines = Vec::new();
/// let n = heddle_lab::pipeline::writer_loop(2, || input.pop(), |l| lines.push(l.to_string()));
/// assert_eq!((n, lines), (1, vec!["2\tB".to_string()]));
/// ```
pub fn writer_loop(
    workers: usize,
    mut get: impl FnMut() -> Option<Record>,
    mut write: impl FnMut(&str),
) -> u64 {
    let (mut ended, mut written) = (0, 0);
    while ended < workers {
        match get() {
            Some(Some((_, text))) => {
                write(&text);
                written += 1;
            }
            Some(None) => ended += 1,
            None => break,
        }
    }
    written
}

/// A worker process: [`worker_loop`] on the two process queues.
fn worker_process((inbox, outbox): (ProcessQueue<Record>, ProcessQueue<Record>)) -> u64 {
    worker_loop(
        || inbox.get().ok(),
        |r| outbox.put(&r).expect("the results queue is open"),
    )
}

/// The writer process: [`writer_loop`] on the results queue, into the file at `path`.
fn writer_process((outbox, workers, path): (ProcessQueue<Record>, u32, String)) -> u64 {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create output"));
    let written = writer_loop(
        workers as usize,
        || outbox.get().ok(),
        |line| writeln!(file, "{line}").expect("write output"),
    );
    file.flush().expect("flush output");
    written
}

heddle::process::register!(worker_process, writer_process);

/// Records read per quick run.
const RECORDS: usize = 2_000;

/// The text of record `i` (what the reader "reads").
fn record_text(i: u32) -> String {
    format!("record {i} of the input")
}

/// Terminate every child still alive and reap it.
fn stop_all(children: &mut [ProcessHandle<u64>]) {
    for c in children.iter_mut() {
        if c.is_alive() {
            c.terminate();
        }
        let _ = c.join_timeout(Duration::from_secs(2));
    }
}

fn run(cfg: &Config, per_worker: bool) -> Result<String, String> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "heddle-lab-pipeline-{}-{}.txt",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let result = run_into(cfg, per_worker, &path.to_string_lossy());
    let _ = std::fs::remove_file(&path);
    result
}

fn run_into(cfg: &Config, per_worker: bool, path: &str) -> Result<String, String> {
    let workers = cfg.threads;
    let inbox: ProcessQueue<Record> = ProcessQueue::bounded(256).map_err(|e| e.to_string())?;
    let outbox: ProcessQueue<Record> = ProcessQueue::unbounded().map_err(|e| e.to_string())?;
    let mut writer = Process::new(
        writer_process,
        (outbox.clone(), workers as u32, path.into()),
    )
    .name("writer")
    .start()
    .map_err(|e| e.to_string())?;
    let mut children = Vec::with_capacity(workers);
    for i in 0..workers {
        match Process::new(worker_process, (inbox.clone(), outbox.clone()))
            .name(format!("worker-{i}"))
            .start()
        {
            Ok(c) => children.push(c),
            Err(e) => {
                stop_all(&mut children);
                stop_all(std::slice::from_mut(&mut writer));
                return Err(e.to_string());
            }
        }
    }
    // The reader: this process.
    let mut n = 0usize;
    while cfg.more(n, RECORDS) {
        inbox
            .put(&Some((n as u32, record_text(n as u32))))
            .map_err(|e| e.to_string())?;
        cfg.tick();
        n += 1;
    }
    for _ in 0..sentinels(workers, per_worker) {
        inbox.put(&None).map_err(|e| e.to_string())?;
    }
    // join() would wait for ever on a stuck worker: a real run waits 2 s each.
    let mut processed = 0;
    let mut stuck = Vec::new();
    for c in &mut children {
        match c.join_timeout(Duration::from_secs(2)) {
            Ok(k) => processed += k as usize,
            Err(_) => stuck.push(c.name().to_string()),
        }
    }
    let written = writer.join_timeout(Duration::from_secs(2));
    if !stuck.is_empty() || written.is_err() {
        stop_all(&mut children);
        stop_all(std::slice::from_mut(&mut writer));
        return Err(format!(
            "{} of {workers} workers never stopped ({}), and the writer {}: \
             {} sentinel(s) for {workers} workers",
            stuck.len(),
            stuck.join(", "),
            match written {
                Ok(_) => "ended".to_string(),
                Err(e) => format!("did not end ({e})"),
            },
            sentinels(workers, per_worker)
        ));
    }
    let written = written.unwrap_or_default() as usize;
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let (i, body) = line
            .split_once('\t')
            .ok_or_else(|| format!("garbled output line {line:?}"))?;
        let i: u32 = i
            .parse()
            .map_err(|_| format!("garbled line number in {line:?}"))?;
        if body != record_text(i).to_uppercase() {
            return Err(format!("record {i} written as {body:?}"));
        }
        if !seen.insert(i) {
            return Err(format!("record {i} written twice"));
        }
    }
    if seen.len() != n || written != n || processed != n || seen.iter().any(|&i| i as usize >= n) {
        return Err(format!(
            "{n} records read, {processed} processed, {written} written, {} distinct in the file",
            seen.len()
        ));
    }
    Ok(format!(
        "{n} records read here, processed by {workers} worker processes, written by a writer \
         process: every record exactly once; every process ended"
    ))
}

fn check(per_worker: bool) {
    const WORKERS: usize = 2;
    let inbox: Queue<Record> = Queue::unbounded();
    let outbox: Queue<Record> = Queue::unbounded();
    let (i, o) = (inbox.clone(), outbox.clone());
    let workers = spawn_n("worker", WORKERS, move |_| {
        worker_loop(|| i.get().ok(), |r| o.put(r).unwrap())
    });
    let o = outbox.clone();
    let writer = Thread::new(move || {
        let mut lines = Vec::new();
        writer_loop(WORKERS, || o.get().ok(), |l| lines.push(l.to_string()));
        lines
    })
    .name("writer")
    .start();
    for line in 0..2 {
        inbox.put(Some((line, format!("r{line}")))).unwrap();
    }
    for _ in 0..sentinels(WORKERS, per_worker) {
        inbox.put(None).unwrap();
    }
    let processed: u64 = join_all(workers).unwrap().into_iter().sum();
    let mut lines = join_all(vec![writer]).unwrap().pop().unwrap();
    lines.sort();
    assert_eq!(processed, 2);
    assert_eq!(lines, ["0\tR0", "1\tR1"], "a record was lost");
}
