//! `membarrier` refused after start-up: heddle registers for expedited private
//! membarriers while the program loads; a seccomp filter installed later makes every
//! further barrier fail with `EPERM`. Contending threads (which park, and so run the
//! waiter's side of the fence pair) must then carry on in a correct mode instead of
//! panicking ("membarrier failed after registration", as 7 of 8 threads did).
//!
//! The filter cannot be removed once installed, so the scenario runs in a child
//! process: this test re-runs its own binary with [`CHILD`] set, and the child installs
//! the filter, contends, and checks the exact count.

use std::process::Command;
use std::sync::Arc;

use heddle::sync::Lock;

/// Set in the child's environment: run the scenario rather than spawn it.
const CHILD: &str = "HEDDLE_FENCE_REFUSED_CHILD";
const THREADS: u64 = 8;
const PER_THREAD: u64 = 5_000;

#[test]
fn membarrier_refused_after_registration_degrades_instead_of_panicking() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "membarrier_refused_after_registration_degrades_instead_of_panicking",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("re-run the test binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("SKIPPED:") {
        eprintln!("{stdout}");
        return;
    }
    assert!(
        out.status.success(),
        "the child failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("counted 40000 of 40000"),
        "no exact count in the child's output\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

/// In the child: refuse `membarrier` from now on, then contend.
fn child() {
    match refuse_membarrier() {
        Ok(()) => {}
        Err(why) => {
            println!("SKIPPED: cannot install a seccomp filter here: {why}");
            return;
        }
    }
    // SAFETY: membarrier takes two integers; the query touches no memory.
    let probe = unsafe { libc::syscall(libc::SYS_membarrier, 0, 0) };
    assert_eq!(probe, -1, "the filter does not refuse membarrier");
    let lock = Arc::new(Lock::new(0u64));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let lock = lock.clone();
            heddle::thread::Thread::new(move || {
                for i in 0..PER_THREAD {
                    let mut g = lock.lock();
                    *g += 1;
                    if i % 64 == 0 {
                        // Hold it across a yield now and then, so that others park.
                        std::thread::yield_now();
                    }
                }
            })
            .start()
        })
        .collect();
    for t in threads {
        t.join().expect("a contending thread panicked");
    }
    let n = *lock.lock();
    println!("counted {n} of {}", THREADS * PER_THREAD);
    assert_eq!(n, THREADS * PER_THREAD);
}

/// Install a seccomp filter on the calling thread (inherited by the threads it starts)
/// that fails `membarrier` with `EPERM` and allows everything else.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn refuse_membarrier() -> Result<(), String> {
    use libc::{sock_filter, sock_fprog, BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    // Offsets into `struct seccomp_data`: `nr` (int) then `arch` (u32).
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let mut filter = [
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH),
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR),
        jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_membarrier as u32, 0, 1),
        stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA),
        ),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: plain prctl flags; needed to install a filter without CAP_SYS_ADMIN.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "PR_SET_NO_NEW_PRIVS: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `prog` points at `filter`, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const sock_fprog,
        )
    };
    if r != 0 {
        return Err(format!("seccomp: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn refuse_membarrier() -> Result<(), String> {
    Err("the filter is written for x86-64 Linux only".into())
}
