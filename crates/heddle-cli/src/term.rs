//! What the subcommands share: colours (only on a terminal), JSON strings, tables,
//! and the usage error.

use std::fmt::Write as _;
use std::io::IsTerminal;

/// Whether stdout is a terminal (and `NO_COLOR` is not set): colours and redraws.
pub fn is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether to colour stdout.
pub fn colours() -> bool {
    is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `text` in green (`ok`), red (`bad`), or plain when not colouring.
pub fn paint(text: &str, ok: bool) -> String {
    if colours() {
        format!("\x1b[{}m{text}\x1b[0m", if ok { "32" } else { "31" })
    } else {
        text.to_string()
    }
}

/// `text` in bold when colouring.
pub fn bold(text: &str) -> String {
    if colours() {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
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
    out
}

/// A markdown-style table: `| a | b |` rows under a header and a rule.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.to_vec());
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A usage error (exit code 2): printed without a backtrace, with what to do.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Silence the default panic output (a broken variant's panics are results, reported
/// by the command itself), keeping the previous hook to restore.
type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>;

pub struct QuietPanics(Option<PanicHook>);

impl QuietPanics {
    pub fn new() -> Self {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        QuietPanics(Some(previous))
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            std::panic::set_hook(previous);
        }
    }
}
