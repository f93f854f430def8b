//! A process that carries the child marker but whose start-up hook did not run (here:
//! the marker set by hand) refuses to start children, so a broken set-up can never
//! multiply processes. Its own test binary: the marker is process-wide.

use heddle::process::{Process, ProcessError};

fn square(x: u64) -> u64 {
    x * x
}

heddle::process::register!(square);

#[test]
fn a_marker_without_start_up_refuses_to_start_children() {
    std::env::set_var("HEDDLE_PROCESS", "1");
    let err = Process::new(square, 2).start().unwrap_err();
    assert_eq!(err, ProcessError::NotBootstrapped);
    assert!(err.to_string().contains("refusing to start more children"));
    std::env::remove_var("HEDDLE_PROCESS");
    let mut c = Process::new(square, 3).start().unwrap();
    assert_eq!(c.join(), Ok(9));
}
