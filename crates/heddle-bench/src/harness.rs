//! The in-house harness: run heddle and its anchors side by side in one process,
//! alternating them round by round, and report the median of the rounds.
//!
//! Why not criterion: we want every implementation of a case measured in the same
//! process, interleaved, so that frequency scaling, a noisy neighbour or a warm cache
//! hits all of them alike, and one figure per implementation with a ratio to the best
//! anchor.
//!
//! What one run leaves behind (heap pages it grew and gave back, threads still being
//! torn down) can slow the next by 10% or more in the multi-threaded cases, so no
//! implementation should always follow the same one: the rounds' orders are the rows
//! of a balanced Latin square (A B D C, B C A D, C D B A, D A C B for four; for an odd
//! count each row is followed by its mirror image: A B C, C B A, B C A, A C B, ...), so
//! that over `n` rounds (`2n` for an odd `n`) each implementation follows each other
//! one equally often. Each timed run is preceded by an untimed warm-up of a tenth of
//! its iterations (unless the case opts out).
//!
//! An implementation is a closure `FnMut(iters) -> Duration`: it performs `iters`
//! operations and returns how long they took. Closures time themselves so that
//! multi-threaded cases can keep thread start-up out of the measurement.
//!
//! Set `HEDDLE_BENCH_SAMPLES=1` to print every round's figure to stderr.

use std::fmt::Write as _;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// How long and how often to measure, and which cases.
#[derive(Clone, Debug)]
pub struct Config {
    /// Rounds per case; the reported figure is the median over rounds.
    pub rounds: usize,
    /// Target wall time of one implementation in one round.
    pub round_time: Duration,
    /// `--quick`: fewer, shorter rounds (for smoke runs, noisier figures).
    pub quick: bool,
    /// `--filter SUBSTRING`: run only the cases whose name contains it.
    pub filter: Option<String>,
}

impl Config {
    /// The full configuration: 7 rounds of ~40 ms per implementation.
    pub fn full() -> Self {
        Config {
            rounds: 7,
            round_time: Duration::from_millis(40),
            quick: false,
            filter: None,
        }
    }

    /// `--quick`: 3 rounds of ~10 ms per implementation.
    pub fn quick() -> Self {
        Config {
            rounds: 3,
            round_time: Duration::from_millis(10),
            quick: true,
            filter: None,
        }
    }

    /// Whether the case named `name` passes `--filter`.
    pub fn selects(&self, name: &str) -> bool {
        match &self.filter {
            Some(f) => name.contains(f.as_str()),
            None => true,
        }
    }
}

/// Units a case can report in, and which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per operation: lower is better.
    NsPerOp,
    /// The slowest thread's share of the work over the fastest thread's (1 is
    /// perfectly fair): higher is better.
    SlowestOverFastest,
}

impl Unit {
    /// The unit as printed and as written to JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::NsPerOp => "ns/op",
            Unit::SlowestOverFastest => "slowest/fastest",
        }
    }

    /// Whether a lower figure is better (time units) or a higher one (rates).
    pub fn lower_is_better(self) -> bool {
        match self {
            Unit::NsPerOp => true,
            Unit::SlowestOverFastest => false,
        }
    }
}

/// One implementation's figure for a case.
#[derive(Clone, Debug)]
pub struct Figure {
    /// `heddle`, `heddle/phase-fair`, `std`, `parking_lot`, `python`, ...
    pub implementation: String,
    /// The median over rounds, in the case's unit.
    pub value: f64,
    /// (max - min) / median over the rounds, as a fraction; `None` when the figure
    /// came from elsewhere (Python reports its own medians).
    pub spread: Option<f64>,
    /// Why there is no figure: the implementation panicked or got stuck (the message).
    pub failure: Option<String>,
}

/// One case of a group: a name, a unit, and each implementation's figure.
#[derive(Clone, Debug)]
pub struct Case {
    /// e.g. `lock uncontended`.
    pub name: String,
    /// The unit of every figure in `results`.
    pub unit: Unit,
    /// In the order the implementations were registered.
    pub results: Vec<Figure>,
    /// Remarks printed under the table (not part of the JSON).
    pub notes: Vec<String>,
}

impl Case {
    /// Add a figure measured elsewhere (e.g. by the Python script).
    pub fn push_external(&mut self, implementation: &str, value: f64) {
        self.results.push(Figure {
            implementation: implementation.to_owned(),
            value,
            spread: None,
            failure: None,
        });
    }

    /// Whether an implementation is heddle's (`heddle` or `heddle/<variant>`).
    pub fn is_heddle(implementation: &str) -> bool {
        implementation == "heddle" || implementation.starts_with("heddle/")
    }

    /// The best figure among the anchors (everything that is not heddle).
    pub fn best_anchor(&self) -> Option<&Figure> {
        let anchors = self
            .results
            .iter()
            .filter(|f| !Self::is_heddle(&f.implementation) && f.value.is_finite());
        if self.unit.lower_is_better() {
            anchors.min_by(|a, b| a.value.total_cmp(&b.value))
        } else {
            anchors.max_by(|a, b| a.value.total_cmp(&b.value))
        }
    }
}

/// A boxed implementation: perform `iters` operations, return the time they took.
pub type Run<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// The implementations of one case, registered before measuring.
pub struct CaseBuilder<'a> {
    name: String,
    unit: Unit,
    runs: Vec<(String, Run<'a>)>,
    notes: Vec<String>,
    warm_up: bool,
}

impl<'a> CaseBuilder<'a> {
    /// A case named `name` reporting in `unit`.
    pub fn new(name: &str, unit: Unit) -> Self {
        CaseBuilder {
            name: name.to_owned(),
            unit,
            runs: Vec::new(),
            notes: Vec::new(),
            warm_up: true,
        }
    }

    /// No warm-up before each timed run: for cases whose runs leave something behind
    /// that a warm-up would double (threads that stay parked, say).
    pub fn without_warm_up(mut self) -> Self {
        self.warm_up = false;
        self
    }

    /// Add a remark to print under the case's table.
    pub fn note(mut self, note: &str) -> Self {
        self.notes.push(note.to_owned());
        self
    }

    /// Register an implementation.
    pub fn add(mut self, implementation: &str, run: impl FnMut(u64) -> Duration + 'a) -> Self {
        self.runs.push((implementation.to_owned(), Box::new(run)));
        self
    }

    /// Register an implementation whose loop body is timed by the harness: `op` is
    /// called `iters` times between two `Instant::now()` calls.
    pub fn add_op(self, implementation: &str, mut op: impl FnMut() + 'a) -> Self {
        self.add(implementation, move |iters| {
            let start = Instant::now();
            for _ in 0..iters {
                op();
            }
            start.elapsed()
        })
    }

    /// Measure every implementation: calibrate each, then alternate them for
    /// `cfg.rounds` rounds (in the orders of [`round_order`]) and keep the medians.
    ///
    /// An implementation that panics (a broken barrier, a run stuck past its time
    /// limit, see `locks::on_threads`) is dropped from the remaining rounds and
    /// reported as failed; the others carry on.
    pub fn measure(mut self, cfg: &Config) -> Case {
        let n = self.runs.len();
        let mut failures: Vec<Option<String>> = vec![None; n];
        let mut iters: Vec<u64> = vec![0; n];
        for (i, (name, run)) in self.runs.iter_mut().enumerate() {
            let _watch = Watchdog::arm(&self.name, name);
            match guarded(|| calibrate(run, cfg.round_time)) {
                Ok(it) => iters[i] = it,
                Err(msg) => failures[i] = Some(msg),
            }
        }
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(cfg.rounds); n];
        let mut log: Vec<Vec<u64>> = vec![Vec::new(); n];
        for round in 0..cfg.rounds {
            for k in 0..n {
                let i = round_order(round, k, n);
                if failures[i].is_some() {
                    continue;
                }
                let (name, run) = &mut self.runs[i];
                let elapsed = {
                    let _watch = Watchdog::arm(&self.name, name);
                    let it = iters[i];
                    let warm_up = self.warm_up;
                    guarded(|| {
                        if warm_up {
                            run((it / 10).max(1));
                        }
                        run(it)
                    })
                };
                let elapsed = match elapsed {
                    Ok(e) => e,
                    Err(msg) => {
                        failures[i] = Some(msg);
                        continue;
                    }
                };
                let ns = elapsed.as_nanos() as f64 / iters[i] as f64;
                samples[i].push(ns);
                log[i].push(iters[i]);
                // Re-aim the next round at the target: a case whose speed changes
                // (wake-up latency that depends on where the scheduler put the
                // threads) would otherwise make rounds far longer than planned.
                iters[i] = iters_for(cfg.round_time, ns);
            }
        }
        if std::env::var_os("HEDDLE_BENCH_SAMPLES").is_some() {
            for ((implementation, _), (s, n)) in self.runs.iter().zip(samples.iter().zip(&log)) {
                let s: Vec<String> = s
                    .iter()
                    .zip(n)
                    .map(|(v, n)| format!("{}x{n}", format_value(*v)))
                    .collect();
                eprintln!("{} / {implementation}: {}", self.name, s.join(" "));
            }
        }
        let results = self
            .runs
            .iter()
            .zip(samples.into_iter().zip(failures))
            .map(|((implementation, _), (s, failure))| {
                let (value, spread) = match failure {
                    Some(_) => (f64::NAN, None),
                    None => {
                        let (median, spread) = median_and_spread(s);
                        (median, Some(spread))
                    }
                };
                Figure {
                    implementation: implementation.clone(),
                    value,
                    spread,
                    failure,
                }
            })
            .collect();
        Case {
            name: self.name,
            unit: self.unit,
            results,
            notes: self.notes,
        }
    }
}

/// The implementation that runs `k`-th in `round` of `n`: the rows of a balanced
/// Latin square (Williams' design), so that over `n` rounds each implementation runs
/// right after each other one equally often. For odd `n` that takes each row and its
/// mirror image, interleaved (row 0, its mirror, row 1, its mirror, ...), so that
/// even a short run mixes the orders: `2n` rounds.
fn round_order(round: usize, k: usize, n: usize) -> usize {
    let (row, mirrored) = if n % 2 == 1 {
        (round / 2, round % 2 == 1)
    } else {
        (round, false)
    };
    let k = if mirrored { n - 1 - k } else { k };
    // First row: 0, 1, n-1, 2, n-2, ...; row r adds r.
    let first = if k == 0 {
        0
    } else if k % 2 == 1 {
        k.div_ceil(2)
    } else {
        n - k / 2
    };
    (first + row) % n
}

/// Run `f`, turning a panic into its message.
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panicked".to_owned()
        }
    })
}

/// Find an iteration count that takes about `target`: double from 1 until a run takes
/// at least a tenth of the target, then scale. Doubles as the warm-up.
fn calibrate(run: &mut Run<'_>, target: Duration) -> u64 {
    let floor = target / 10;
    let mut iters: u64 = 1;
    loop {
        let elapsed = run(iters);
        if elapsed >= floor || iters >= 1 << 40 {
            return iters_for(target, elapsed.as_nanos() as f64 / iters as f64);
        }
        iters *= 2;
    }
}

/// How many iterations of `ns_per_iter` fill `target`.
fn iters_for(target: Duration, ns_per_iter: f64) -> u64 {
    let want = (target.as_nanos() as f64 / ns_per_iter.max(1e-3)).ceil();
    (want as u64).clamp(1, 1 << 40)
}

/// A run taking longer than this is taken to be stuck (a deadlock or a lost wake-up in
/// the implementation under test) and the bench exits, saying which. Multi-threaded
/// cases detect their own stuck threads sooner (`locks::STUCK_AFTER`), report the
/// implementation as failed and carry on; this is the last resort for the rest.
const STUCK_AFTER: Duration = Duration::from_secs(60);

/// While alive, marks a run as in progress; one watchdog thread (started on first use)
/// checks every second that no run lasts longer than [`STUCK_AFTER`], and otherwise
/// prints the case and implementation and exits with status 3.
struct Watchdog;

/// The run in progress: what, and since when.
static CURRENT_RUN: Mutex<Option<(String, Instant)>> = Mutex::new(None);

impl Watchdog {
    fn arm(case: &str, implementation: &str) -> Watchdog {
        static STARTED: Once = Once::new();
        STARTED.call_once(|| {
            std::thread::Builder::new()
                .name("heddle-bench-watchdog".into())
                .spawn(watch)
                .expect("spawn the watchdog thread");
        });
        *lock_current() = Some((format!("{case} / {implementation}"), Instant::now()));
        Watchdog
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *lock_current() = None;
    }
}

fn lock_current() -> std::sync::MutexGuard<'static, Option<(String, Instant)>> {
    CURRENT_RUN.lock().unwrap_or_else(|e| e.into_inner())
}

fn watch() {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if let Some((what, since)) = &*lock_current() {
            if since.elapsed() > STUCK_AFTER {
                eprintln!(
                    "heddle-bench: {what} has not finished after {}s: stuck (deadlock or \
                     lost wake-up?); giving up",
                    STUCK_AFTER.as_secs()
                );
                std::process::exit(3);
            }
        }
    }
}

/// The median of `s` and its spread ((max - min) / median).
pub fn median_and_spread(mut s: Vec<f64>) -> (f64, f64) {
    if s.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    let median = if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    };
    let spread = (s[s.len() - 1] - s[0]) / median;
    (median, spread)
}

/// Print one case as a small table: each implementation's figure, the round-to-round
/// spread, and for heddle's rows the ratio to the best anchor.
pub fn print_table(case: &Case) {
    let better = if case.unit.lower_is_better() {
        "lower is better"
    } else {
        "higher is better"
    };
    println!("{}  ({}, {})", case.name, case.unit.as_str(), better);
    let best = case.best_anchor();
    let width = case
        .results
        .iter()
        .map(|f| f.implementation.len())
        .max()
        .unwrap_or(0)
        .max(8);
    for f in &case.results {
        if let Some(why) = &f.failure {
            println!("  {:<width$}      FAILED  {why}", f.implementation);
            continue;
        }
        let spread = match f.spread {
            Some(s) if s.is_finite() => format!("±{:>3.0}%", s * 50.0),
            _ => "     ".to_owned(),
        };
        let mut line = format!(
            "  {:<width$}  {:>10}  {}",
            f.implementation,
            format_value(f.value),
            spread,
        );
        if Case::is_heddle(&f.implementation) {
            if let Some(b) = best {
                let _ = write!(
                    line,
                    "   {:.2}x best anchor ({})",
                    f.value / b.value,
                    b.implementation
                );
            }
        }
        println!("{line}");
    }
    for note in &case.notes {
        println!("  ({note})");
    }
    println!();
}

fn format_value(v: f64) -> String {
    if !v.is_finite() {
        "-".to_owned()
    } else if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The `--json` object: `{"group": G, "cases": [{"case": C, "unit": U, "results":
/// {"heddle": x, ...}}]}`.
///
/// Hand-written rather than pulling in serde_json: the shape is fixed and flat, the
/// only strings are names we choose, and keeping the bench free of a serde build keeps
/// `cargo run -p heddle-bench` quick to compile. Non-finite figures are omitted (JSON
/// has no NaN).
pub fn to_json(group: &str, cases: &[Case]) -> String {
    let mut out = String::new();
    out.push_str("{\"group\": ");
    push_json_str(&mut out, group);
    out.push_str(", \"cases\": [");
    for (i, case) in cases.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"case\": ");
        push_json_str(&mut out, &case.name);
        out.push_str(", \"unit\": ");
        push_json_str(&mut out, case.unit.as_str());
        out.push_str(", \"results\": {");
        let mut first = true;
        for f in case.results.iter().filter(|f| f.value.is_finite()) {
            if !first {
                out.push_str(", ");
            }
            first = false;
            push_json_str(&mut out, &f.implementation);
            let _ = write!(out, ": {}", round_sig(f.value));
        }
        out.push_str("}}");
    }
    out.push_str("]}");
    out
}

/// Round to 4 significant digits: more would be noise.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 4 - 1 - v.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parse the flat JSON object the Python scripts print: `{"case name": number | null,
/// ...}`. Just enough JSON for that shape (string keys with the common escapes, numbers,
/// `null`); anything else is an error with a message.
pub fn parse_flat_json(text: &str) -> Result<Vec<(String, Option<f64>)>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    p.ws();
    p.expect(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let value = if p.s[p.i..].starts_with(b"null") {
                p.i += 4;
                None
            } else {
                Some(p.number()?)
            };
            out.push((key, value));
            p.ws();
            match p.peek() {
                Some(b',') => p.i += 1,
                Some(b'}') => {
                    p.i += 1;
                    break;
                }
                _ => return Err(p.error("',' or '}'")),
            }
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(p.error("end of input"));
    }
    Ok(out)
}

struct Parser<'s> {
    s: &'s [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    fn error(&self, wanted: &str) -> String {
        format!("expected {wanted} at byte {}", self.i)
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(&format!("'{}'", b as char)))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("closing '\"'")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    let c = self.s.get(self.i + 1).copied();
                    bytes.push(match c {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'n') => b'\n',
                        Some(b't') => b'\t',
                        _ => return Err(self.error("a simple escape")),
                    });
                    self.i += 2;
                }
                Some(b) => {
                    bytes.push(b);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(bytes).map_err(|e| e.to_string())
    }

    fn number(&mut self) -> Result<f64, String> {
        let start = self.i;
        while matches!(
            self.peek(),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("expected a number at byte {start}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_json_round_trip() {
        let got =
            parse_flat_json(r#" {"lock uncontended": 55.5, "x \"y\"": null, "z": 1e3} "#).unwrap();
        assert_eq!(
            got,
            vec![
                ("lock uncontended".to_owned(), Some(55.5)),
                ("x \"y\"".to_owned(), None),
                ("z".to_owned(), Some(1000.0)),
            ]
        );
        assert_eq!(parse_flat_json("{}").unwrap(), vec![]);
        assert!(parse_flat_json("{\"a\": }").is_err());
        assert!(parse_flat_json("[1]").is_err());
    }

    #[test]
    fn json_shape() {
        let case = Case {
            name: "a \"b\"".into(),
            unit: Unit::NsPerOp,
            results: vec![
                Figure {
                    implementation: "heddle".into(),
                    value: 12.345678,
                    spread: None,
                    failure: None,
                },
                Figure {
                    implementation: "std".into(),
                    value: f64::NAN,
                    spread: None,
                    failure: Some("stuck".into()),
                },
            ],
            notes: vec!["not in JSON".into()],
        };
        assert_eq!(
            to_json("locks", &[case]),
            r#"{"group": "locks", "cases": [{"case": "a \"b\"", "unit": "ns/op", "results": {"heddle": 12.35}}]}"#
        );
    }

    #[test]
    fn every_round_runs_each_implementation_once_and_predecessors_balance() {
        for n in 1..=5 {
            // follows[a][b]: how often `a` ran right after `b` within a round.
            let mut follows = vec![vec![0; n]; n];
            for round in 0..2 * n {
                let order: Vec<usize> = (0..n).map(|k| round_order(round, k, n)).collect();
                let mut sorted = order.clone();
                sorted.sort();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "round {round} of {n}");
                for w in order.windows(2) {
                    follows[w[1]][w[0]] += 1;
                }
            }
            for (a, row) in follows.iter().enumerate() {
                for (b, &count) in row.iter().enumerate() {
                    if a != b {
                        assert_eq!(count, 2, "{a} after {b}, n = {n}: {follows:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn median_of_rounds() {
        let (m, s) = median_and_spread(vec![3.0, 1.0, 2.0]);
        assert_eq!(m, 2.0);
        assert_eq!(s, 1.0);
        let (m, _) = median_and_spread(vec![4.0, 1.0, 2.0, 3.0]);
        assert_eq!(m, 2.5);
    }
}
