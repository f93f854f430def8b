//! `heddle demo SCENARIO`: a live run a person can follow.
//!
//! The scenario's real run goes on heddle threads while the view redraws, from
//! `heddle::debug::dump()`, every thread: running, waiting on what (and held by whom),
//! holding what. On a terminal the view is redrawn in place; otherwise a plain status
//! line is printed every second. At the end: the throughput and the verdict. When a
//! broken variant deadlocks, the detector's report arrives through a callback: the
//! view freezes on the cycle, the report explains it, and the process exits.
//! SIGQUIT (Ctrl-\) or SIGUSR1 prints the full thread dump to stderr meanwhile.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heddle::deadlock::{self, Action};
use heddle::debug::{self, Dump, DumpSignal, ThreadDump, ThreadState};
use heddle::thread::Thread;
use heddle_lab::{resolve, Config};

use crate::term::{bold, is_terminal, json_str, paint, QuietPanics, UsageError};

/// What `heddle demo` was asked.
pub struct Options {
    pub spec: String,
    pub threads: usize,
    pub seconds: f64,
    pub variant: Option<String>,
    pub json: bool,
}

/// The thread the scenario's own body runs on (it takes part: a client, a producer).
const RUNNER: &str = "scenario-main";

pub fn run(o: &Options) -> Result<u8, UsageError> {
    let (scenario, named) = resolve(&o.spec).map_err(UsageError)?;
    let v = match (named, o.variant.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(UsageError(
                "give the variant either as SCENARIO/VARIANT or with --variant, not both".into(),
            ))
        }
        (Some(v), None) => v,
        (None, None | Some("fixed")) => scenario.first(false).expect("a fixed variant"),
        (None, Some("broken")) => scenario.first(true).expect("a broken variant"),
        (None, Some(other)) => {
            return Err(UsageError(format!(
                "--variant takes broken or fixed, not '{other}' (or name one: {}/VARIANT)",
                scenario.name
            )))
        }
    };
    if !(o.seconds.is_finite() && o.seconds > 0.0) {
        return Err(UsageError("--seconds must be a positive number".into()));
    }
    if o.threads < 2 {
        return Err(UsageError("--threads must be at least 2".into()));
    }
    let name = format!("{}/{}", scenario.name, v.name);

    // Every hold shown, and a deadlock report captured rather than a panic. The full
    // dump on SIGQUIT (Ctrl-\) or SIGUSR1, as the JVM does (best effort: a platform
    // without signals just has no such dump).
    debug::track_holds(true);
    let _ = debug::dump_on_signal(DumpSignal::Quit);
    let _ = debug::dump_on_signal(DumpSignal::User1);
    let report: Arc<Mutex<Option<String>>> = Arc::default();
    let sink = Arc::clone(&report);
    deadlock::set_action(Action::Callback(Arc::new(move |r| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| r.to_string());
    })));
    let _quiet = QuietPanics::new();

    let cfg = Config::new(o.threads).for_seconds(o.seconds);
    let run_cfg = cfg.clone();
    let body = v.run;
    let runner = Thread::new(move || body(&run_cfg))
        .name(RUNNER)
        .daemon(true)
        .start();
    let live = is_terminal() && !o.json;
    if !o.json {
        println!(
            "heddle demo {} ({}), {} threads, {} s: {}",
            bold(&name),
            if v.broken { "broken" } else { "fixed" },
            o.threads,
            o.seconds,
            v.summary
        );
    }
    let started = Instant::now();
    let grace = Duration::from_secs_f64(o.seconds) + Duration::from_secs(30);
    let mut last_line = Instant::now();
    let verdict: Result<String, String> = loop {
        std::thread::sleep(Duration::from_millis(if live { 250 } else { 50 }));
        let elapsed = started.elapsed();
        if let Some(text) = report.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            // Let the other threads of the cycle settle into their waits, then freeze.
            std::thread::sleep(Duration::from_millis(100));
            let dump = debug::dump();
            let ops = cfg.ticks();
            if o.json {
                print_json(&name, false, ops, elapsed, "deadlock", Some(&text));
            } else {
                if live {
                    draw(&name, &dump, ops, elapsed, true);
                }
                println!(
                    "\n{}\n",
                    paint("DEADLOCK: the view is frozen on the cycle", false)
                );
                println!("{text}");
                println!("verdict: {}", paint("DEADLOCK", false));
            }
            // The deadlocked threads never finish: leave without waiting for them.
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            std::process::exit(1);
        }
        if !runner.is_alive() {
            break runner
                .join()
                .unwrap_or_else(|e| Err(e.message().to_string()));
        }
        if elapsed > grace {
            break Err(format!(
                "the run did not finish {} s after its end: stuck (see the dump above)",
                grace.as_secs()
            ));
        }
        if live {
            draw(&name, &debug::dump(), cfg.ticks(), elapsed, false);
        } else if !o.json && last_line.elapsed() >= Duration::from_secs(1) {
            last_line = Instant::now();
            println!("{}", status_line(&debug::dump(), cfg.ticks(), elapsed));
        }
    };
    let elapsed = started.elapsed();
    let ops = cfg.ticks();
    let ok = verdict.is_ok();
    let text = match &verdict {
        Ok(s) | Err(s) => s.clone(),
    };
    if o.json {
        print_json(
            &name,
            ok,
            ops,
            elapsed,
            if ok { "ok" } else { "failed" },
            Some(&text),
        );
    } else {
        if !ok && elapsed > grace {
            println!("{}", debug::dump());
        }
        println!(
            "\n{} operations in {:.1} s ({:.0}/s)",
            ops,
            elapsed.as_secs_f64(),
            ops as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        println!(
            "verdict: {} {text}",
            if ok {
                paint("ok:", true)
            } else {
                paint("FAILED:", false)
            }
        );
    }
    deadlock::set_action(Action::Panic);
    debug::track_holds(false);
    Ok(u8::from(!ok))
}

fn print_json(
    name: &str,
    ok: bool,
    ops: u64,
    elapsed: Duration,
    verdict: &str,
    text: Option<&str>,
) {
    println!(
        "{{\"variant\":{},\"verdict\":{},\"ok\":{ok},\"operations\":{ops},\"seconds\":{:.3},\"message\":{}}}",
        json_str(name),
        json_str(verdict),
        elapsed.as_secs_f64(),
        text.map_or("null".into(), json_str)
    );
}

/// The scenario's threads: everything but the demo's own.
fn scenario_threads(dump: &Dump) -> impl Iterator<Item = &ThreadDump> {
    dump.threads().iter().filter(|t| t.name != "MainThread")
}

fn status_line(dump: &Dump, ops: u64, elapsed: Duration) -> String {
    let (mut running, mut waiting, mut sleeping) = (0, 0, 0);
    for t in scenario_threads(dump) {
        match t.state {
            ThreadState::Running => running += 1,
            ThreadState::Waiting => waiting += 1,
            _ => sleeping += 1,
        }
    }
    format!(
        "t={:.1}s ops={ops} ({:.0}/s) threads: {running} running, {waiting} waiting, {sleeping} sleeping",
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64().max(1e-9)
    )
}

fn short(at: &std::panic::Location<'_>) -> String {
    let file = at.file();
    let file = file.rsplit('/').next().unwrap_or(file);
    format!("{file}:{}", at.line())
}

/// One thread as a line of the live view.
fn thread_line(t: &ThreadDump, dump: &Dump) -> String {
    let state = match t.state {
        ThreadState::Running => paint("running ", true),
        ThreadState::Waiting => paint("waiting ", false),
        _ => "sleeping".to_string(),
    };
    let mut line = format!("  {:<16} {state}", t.name);
    if let Some(w) = &t.waiting {
        let created = w
            .created
            .map(|c| format!(" {}", short(c)))
            .unwrap_or_default();
        line.push_str(&format!(
            " {} {}{created} at {}{}",
            w.operation,
            w.kind,
            short(w.at),
            if w.timed { " (timed)" } else { "" }
        ));
        if !w.held_by.is_empty() {
            let names: Vec<String> = w
                .held_by
                .iter()
                .map(|id| {
                    dump.by_ident(*id)
                        .map_or(format!("#{id}"), |t| t.name.clone())
                })
                .collect();
            line.push_str(&format!(", held by {}", names.join(", ")));
        }
    }
    if !t.holds.is_empty() {
        let holds: Vec<String> = t
            .holds
            .iter()
            .map(|h| {
                format!(
                    "{}{}",
                    h.kind,
                    h.taken_at
                        .map(|a| format!("@{}", short(a)))
                        .unwrap_or_default()
                )
            })
            .collect();
        line.push_str(&format!("  holds {}", holds.join(", ")));
    }
    line
}

fn draw(name: &str, dump: &Dump, ops: u64, elapsed: Duration, frozen: bool) {
    let mut frame = String::from("\x1b[H\x1b[2J");
    frame.push_str(&format!(
        "heddle demo {}   {}\n\n",
        bold(name),
        status_line(dump, ops, elapsed)
    ));
    for t in scenario_threads(dump) {
        frame.push_str(&thread_line(t, dump));
        frame.push('\n');
    }
    if frozen {
        frame.push_str("\n(frozen)\n");
    }
    print!("{frame}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
}
