//! The README's first command, `heddle tour`, runs every demonstration and verifies it:
//! it must exit with success and say so for each row.

use std::process::Command;

#[test]
fn tour_verifies_every_demonstration() {
    let out = Command::new(env!("CARGO_BIN_EXE_heddle"))
        .arg("tour")
        .output()
        .expect("run `heddle tour`");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "heddle tour failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| primitive"))
        .collect();
    assert!(rows.len() >= 16, "expected every demonstration:\n{stdout}");
    for row in &rows {
        assert!(row.contains("| ok "), "not verified: {row}");
    }
    assert!(
        stdout.contains(&format!("all {} demonstrations verified", rows.len())),
        "{stdout}"
    );
}
