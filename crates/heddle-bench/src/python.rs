//! Python's figures: run a script from `python/` with `python3` and parse the flat JSON
//! object it prints (`{"case name": ns_per_op | null, ...}`).
//!
//! The scripts are embedded with `include_str!` and passed to `python3 -c`, so the
//! binary works wherever it is run from. Set `HEDDLE_BENCH_PYTHON` to use another
//! interpreter. A missing interpreter or a failing script is reported as a note and the
//! Python column is left out: it never fails the bench.

use std::process::Command;

use crate::harness::{self, Case, Config};

/// The figures a Python script reported, by case name. Keys starting with `_` are
/// facts about the interpreter (`_gil`: 1 if the GIL is enabled), not cases.
pub struct PythonFigures {
    /// e.g. `Python 3.12.1`.
    version: String,
    figures: Vec<(String, Option<f64>)>,
}

impl PythonFigures {
    /// `Python 3.11.7 (GIL)` or `Python 3.13.0 (free-threaded)`.
    pub fn describe(&self) -> String {
        let gil = self.figures.iter().find(|(k, _)| k == "_gil");
        match gil {
            Some((_, Some(g))) if *g == 0.0 => format!("{} (free-threaded)", self.version),
            Some(_) => format!("{} (GIL)", self.version),
            None => self.version.clone(),
        }
    }

    /// Append the `python` figure for `case`, if the script reported one.
    pub fn add_to(&self, case: &mut Case) {
        if let Some((_, Some(v))) = self.figures.iter().find(|(name, _)| *name == case.name) {
            case.push_external("python", *v);
        }
    }
}

fn interpreter() -> String {
    std::env::var("HEDDLE_BENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Run `script` (the text of a `python/*.py` file) with the group's round settings, for
/// the cases named in `only`. `Err` carries a one-line reason fit for a note.
pub fn run(script: &str, cfg: &Config, only: &[&str]) -> Result<PythonFigures, String> {
    let python = interpreter();
    let version = Command::new(&python)
        .arg("--version")
        .output()
        .map_err(|e| format!("{python} not found ({e}); Python figures skipped"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let mut cmd = Command::new(&python);
    cmd.arg("-c")
        .arg(script)
        .arg("--rounds")
        .arg(cfg.rounds.to_string())
        .arg("--round-ms")
        .arg(cfg.round_time.as_millis().to_string());
    for name in only {
        cmd.arg("--only").arg(name);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("could not run {python} ({e}); Python figures skipped"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(format!(
            "the Python script failed ({}: {last}); Python figures skipped",
            out.status
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let figures = harness::parse_flat_json(stdout.trim())
        .map_err(|e| format!("could not parse the Python script's output ({e}); skipped"))?;
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        eprintln!("python: {line}");
    }
    Ok(PythonFigures { version, figures })
}
