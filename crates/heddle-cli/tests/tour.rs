//! The README's first command, `heddle tour`, runs every demonstration and verifies it:
//! it must exit with success and say so for each row, the lab's rows included (fixed
//! variants verified by a real run, broken ones found by the checker with a token).

use std::process::Command;

#[test]
fn tour_verifies_every_demonstration_and_every_lab_verdict() {
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
    let (first, second) = stdout
        .split_once("\nthe lab:")
        .expect("the lab's table follows the primitives'");
    let table = |of: &str| -> Vec<String> {
        of.lines()
            .filter(|l| {
                l.starts_with("| ") && !l.starts_with("| primitive") && !l.starts_with("| scenario")
            })
            .map(str::to_string)
            .collect()
    };
    let lab = table(second);
    let primitives = table(first).len();
    let rows = table(&stdout);
    assert!(primitives >= 16, "expected every demonstration:\n{stdout}");
    for row in &rows {
        assert!(row.contains("| ok "), "not verified: {row}");
    }
    let variants: usize = heddle_lab::scenarios()
        .iter()
        .map(|s| s.variants.len())
        .sum();
    assert_eq!(lab.len(), variants, "one row per lab variant:\n{stdout}");
    for s in heddle_lab::scenarios() {
        for v in s.variants {
            let row = lab
                .iter()
                .find(|r| r.starts_with(&format!("| {}/{} ", s.name, v.name)))
                .unwrap_or_else(|| panic!("no row for {}/{}", s.name, v.name));
            if v.broken {
                assert!(row.contains("| checker ") && row.contains("bug found at execution"));
                assert!(row.contains("hc1."), "no replay token: {row}");
            } else {
                assert!(row.contains("| real run "), "{row}");
            }
        }
    }
    assert!(
        stdout.contains(&format!("all {primitives} demonstrations verified")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("all {variants} lab verdicts as expected")),
        "{stdout}"
    );
}
