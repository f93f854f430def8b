//! Starting a child: one long-lived spawner thread starts them all.
//!
//! A child asks the kernel to kill it when its parent dies (`PR_SET_PDEATHSIG`), but
//! "parent" there means the *thread* that started it: a child started by a short-lived
//! thread would be killed when that thread ends. So every child is started by one
//! daemon thread that lives as long as the process.

use std::io;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::child::MARKER;
use super::codec::{self, Channel};
use super::sys;
use super::ProcessError;
use crate::queue::Queue;

struct Request {
    command: Command,
    reply: Queue<io::Result<std::process::Child>>,
}

fn spawner() -> &'static Queue<Request> {
    static SPAWNER: OnceLock<Queue<Request>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let requests: Queue<Request> = Queue::unbounded();
        let q = requests.clone();
        std::thread::Builder::new()
            .name("heddle-spawner".into())
            .spawn(move || {
                while let Ok(mut r) = q.get() {
                    let _ = r.reply.put(r.command.spawn());
                }
            })
            .expect("heddle: could not start the process spawner thread");
        requests
    })
}

/// A started child: the OS handle and our end of its control socket.
pub(crate) struct Spawned {
    pub(crate) child: std::process::Child,
    pub(crate) channel: Channel,
}

/// Start this executable again as a child named `name` running `mode`, with the
/// environment additions `env`; send it `args` (a second frame) if given.
pub(crate) fn spawn(
    boot: &super::child::Bootstrap,
    args: Option<&codec::Encoded>,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> Result<Spawned, ProcessError> {
    if super::child::marker_left_over() {
        return Err(ProcessError::NotBootstrapped);
    }
    let exe = std::env::current_exe().map_err(ProcessError::spawn)?;
    let (ours, theirs): (OwnedFd, OwnedFd) =
        sys::socketpair(libc::SOCK_STREAM).map_err(ProcessError::spawn)?;
    let mut command = Command::new(exe);
    command
        .env(MARKER, sys::getpid().to_string())
        .stdin(Stdio::from(theirs));
    for (k, v) in env {
        command.env(k, v);
    }
    let reply = Queue::bounded(1);
    spawner()
        .put(Request {
            command,
            reply: reply.clone(),
        })
        .map_err(|_| ProcessError::Spawn {
            message: "the spawner thread is gone".into(),
        })?;
    let child = reply
        .get()
        .map_err(|_| ProcessError::Spawn {
            message: "the spawner thread is gone".into(),
        })?
        .map_err(ProcessError::spawn)?;
    let channel = Channel::new(ours);
    let codec_err = |e: String| ProcessError::Codec { message: e };
    let boot = codec::encode(boot).map_err(codec_err)?;
    // A child that dies at once is seen by `join`; a failed send here is not an error.
    let _ = channel.send(&boot.bytes, &boot.raw_fds());
    if let Some(args) = args {
        let _ = channel.send(&args.bytes, &args.raw_fds());
    }
    Ok(Spawned { child, channel })
}
