//! `heddle list`: one line per lab scenario.

use heddle_lab::{scenarios, Strategy};

use crate::term::{bold, json_str};

/// The stated exploration, as words.
pub fn exploration(e: heddle_lab::Exploration) -> String {
    let s = match e.strategy {
        Strategy::Random => "random".to_string(),
        Strategy::Pct(d) => format!("pct depth {d}"),
        Strategy::Dfs(b) => format!("dfs bound {b}"),
    };
    format!("{s}, {} executions", e.iterations)
}

pub fn run(json: bool) -> u8 {
    if json {
        let items: Vec<String> = scenarios()
            .iter()
            .map(|s| {
                let variants: Vec<String> = s
                    .variants
                    .iter()
                    .map(|v| {
                        format!(
                            "{{\"name\":{},\"broken\":{},\"summary\":{},\"exploration\":{}}}",
                            json_str(v.name),
                            v.broken,
                            json_str(v.summary),
                            json_str(&exploration(v.exploration))
                        )
                    })
                    .collect();
                let python: Vec<String> = s.python.iter().map(|p| json_str(p)).collect();
                format!(
                    "{{\"name\":{},\"title\":{},\"python\":[{}],\"variants\":[{}]}}",
                    json_str(s.name),
                    json_str(s.title),
                    python.join(","),
                    variants.join(",")
                )
            })
            .collect();
        println!("{{\"scenarios\":[{}]}}", items.join(","));
        return 0;
    }
    let width = scenarios().iter().map(|s| s.name.len()).max().unwrap_or(8);
    for s in scenarios() {
        let variants: Vec<String> = s
            .variants
            .iter()
            .map(|v| format!("{}{}", v.name, if v.broken { " (broken)" } else { "" }))
            .collect();
        println!(
            "{}  {}  [{}]",
            bold(&format!("{:<width$}", s.name)),
            s.title,
            variants.join(", ")
        );
    }
    0
}
