//! `heddle check SCENARIO[/VARIANT]`: run the checker on a lab scenario's variants and
//! print each verdict, with the failing schedule and its replay token.

use heddle::check::{try_replay, ReplayError};
use heddle_lab::{resolve, Exploration, Strategy, Variant};

use crate::list::exploration;
use crate::term::{bold, json_str, paint, UsageError};

/// What `heddle check` was asked.
pub struct Options {
    pub spec: String,
    pub strategy: Option<String>,
    pub depth: Option<usize>,
    pub iterations: Option<usize>,
    pub seed: Option<u64>,
    pub replay: Option<String>,
    pub json: bool,
}

/// The exploration for `v` once the options override its stated one.
fn exploration_for(v: &Variant, o: &Options) -> Result<Exploration, UsageError> {
    let mut e = v.exploration;
    if let Some(s) = &o.strategy {
        e.strategy = match (s.as_str(), e.strategy) {
            ("random", _) => Strategy::Random,
            ("pct", Strategy::Pct(d)) => Strategy::Pct(o.depth.unwrap_or(d)),
            ("pct", _) => Strategy::Pct(o.depth.unwrap_or(3)),
            ("dfs", Strategy::Dfs(b)) => Strategy::Dfs(o.depth.unwrap_or(b)),
            ("dfs", _) => Strategy::Dfs(o.depth.unwrap_or(2)),
            (other, _) => {
                return Err(UsageError(format!(
                    "unknown strategy '{other}': use random, pct or dfs"
                )))
            }
        };
    } else if let Some(d) = o.depth {
        e.strategy = match e.strategy {
            Strategy::Pct(_) => Strategy::Pct(d),
            Strategy::Dfs(_) => Strategy::Dfs(d),
            Strategy::Random => {
                return Err(UsageError(
                    "--depth applies to pct (bug depth) and dfs (preemption bound); \
                     add --strategy pct or --strategy dfs"
                        .into(),
                ))
            }
        };
    }
    if let Some(n) = o.iterations {
        if n == 0 {
            return Err(UsageError("--iterations must be at least 1".into()));
        }
        e.iterations = n;
    }
    Ok(e)
}

/// One variant's outcome.
struct Verdict {
    name: String,
    broken: bool,
    exploration: String,
    bug: Option<heddle::check::Report>,
    executions: usize,
    exhaustive: bool,
}

pub fn run(o: &Options) -> Result<u8, UsageError> {
    let (scenario, variant) = resolve(&o.spec).map_err(UsageError)?;
    if let Some(token) = &o.replay {
        let Some(v) = variant else {
            let names: Vec<String> = scenario
                .variants
                .iter()
                .map(|v| format!("{}/{}", scenario.name, v.name))
                .collect();
            return Err(UsageError(format!(
                "--replay needs one variant (a token belongs to one variant's check body): \
                 one of {}",
                names.join(", ")
            )));
        };
        return replay(scenario.name, v, token, o.json);
    }
    let chosen: Vec<&Variant> = match variant {
        Some(v) => vec![v],
        None => scenario.variants.iter().collect(),
    };
    let mut verdicts = Vec::new();
    for v in chosen {
        let e = exploration_for(v, o)?;
        let mut checker = e.checker();
        if let Some(seed) = o.seed {
            checker = checker.seed(seed);
        }
        let outcome = v.explore_with(&checker);
        let (bug, executions, exhaustive) = match outcome {
            Ok(c) => (None, c.executions(), c.is_exhaustive()),
            Err(r) => {
                let n = r.execution();
                (Some(r), n, false)
            }
        };
        verdicts.push(Verdict {
            name: format!("{}/{}", scenario.name, v.name),
            broken: v.broken,
            exploration: exploration(e),
            bug,
            executions,
            exhaustive,
        });
    }
    let found = verdicts.iter().any(|v| v.bug.is_some());
    if o.json {
        let items: Vec<String> = verdicts
            .iter()
            .map(|v| {
                format!(
                    "{{\"variant\":{},\"broken\":{},\"exploration\":{},\"verdict\":{},\
                     \"executions\":{},\"exhaustive\":{},\"message\":{},\"token\":{},\"report\":{}}}",
                    json_str(&v.name),
                    v.broken,
                    json_str(&v.exploration),
                    json_str(if v.bug.is_some() { "bug found" } else { "no bug found" }),
                    v.executions,
                    v.exhaustive,
                    v.bug.as_ref().map_or("null".into(), |r| json_str(r.message())),
                    v.bug.as_ref().map_or("null".into(), |r| json_str(r.token())),
                    v.bug.as_ref().map_or("null".into(), |r| json_str(&r.to_string())),
                )
            })
            .collect();
        println!(
            "{{\"scenario\":{},\"bug_found\":{found},\"results\":[{}]}}",
            json_str(scenario.name),
            items.join(",")
        );
    } else {
        for v in &verdicts {
            let kind = if v.broken { " (broken variant)" } else { "" };
            match &v.bug {
                Some(report) => {
                    println!(
                        "{}{kind}: {} at execution {} ({})\n",
                        bold(&v.name),
                        paint("BUG FOUND", false),
                        v.executions,
                        v.exploration
                    );
                    for line in report.to_string().lines() {
                        println!("    {line}");
                    }
                    println!("\n    token: {}", report.token());
                    println!(
                        "    replay: heddle check {} --replay {}\n",
                        v.name,
                        report.token()
                    );
                }
                None => println!(
                    "{}{kind}: {} in {} executions{} ({})",
                    bold(&v.name),
                    paint("no bug found", true),
                    v.executions,
                    if v.exhaustive {
                        ", every schedule within the bound"
                    } else {
                        ""
                    },
                    v.exploration
                ),
            }
        }
    }
    Ok(u8::from(found))
}

fn replay(scenario: &str, v: &Variant, token: &str, json: bool) -> Result<u8, UsageError> {
    let name = format!("{scenario}/{}", v.name);
    match try_replay(token, v.check) {
        Err(ReplayError::Token(e)) => Err(UsageError(format!("bad replay token: {e}"))),
        Err(ReplayError::Failed(report)) => {
            if json {
                println!(
                    "{{\"variant\":{},\"verdict\":\"bug found\",\"message\":{},\"token\":{},\"report\":{}}}",
                    json_str(&name),
                    json_str(report.message()),
                    json_str(report.token()),
                    json_str(&report.to_string())
                );
            } else {
                println!(
                    "{}: {} (replayed)\n",
                    bold(&name),
                    paint("BUG FOUND", false)
                );
                for line in report.to_string().lines() {
                    println!("    {line}");
                }
            }
            Ok(1)
        }
        Ok(()) => {
            if json {
                println!(
                    "{{\"variant\":{},\"verdict\":\"no bug found\"}}",
                    json_str(&name)
                );
            } else {
                println!(
                    "{}: {} (the replayed schedule passes)",
                    bold(&name),
                    paint("no bug found", true)
                );
            }
            Ok(0)
        }
        Err(other) => Err(UsageError(other.to_string())),
    }
}
