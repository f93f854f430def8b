//! The handshake: synchronous message passing on a rendezvous queue.
//!
//! A `Queue::bounded(0)` holds nothing: `put` returns only once a `get` has taken the
//! item (a rendezvous, as in CSP or Go's unbuffered channels), so each message is also
//! a synchronisation point. A client sends a request on one queue and waits for the
//! reply on another; the server does the opposite.
//!
//! **The bug** (`both-send-first`): both sides *send* first. On a rendezvous queue a
//! send waits for the other side's receive, and both are waiting in their sends:
//! neither ever receives. (The same deadlock as two MPI processes that both
//! `send` before they `recv` with no buffering.)
//!
//! **The fix** (`send-receive`): the protocol orders the two sides: the client sends
//! then receives, the server receives then sends.

use std::time::Duration;

use heddle::queue::Queue;
use heddle::thread::Thread;

use crate::{Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check handshake`.
///
/// ```
/// let s = &heddle_lab::handshake::SCENARIO;
/// assert_eq!(s.name, "handshake");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "handshake",
    title: "handshake: synchronous message passing on a rendezvous queue",
    python: &["queue.Queue(maxsize)", "Queue.put", "Queue.get"],
    variants: &[
        Variant {
            name: "both-send-first",
            broken: true,
            summary: "client and server both put first: each put waits for a get that never comes",
            run: |cfg| run(cfg, false),
            check: || check(false),
            exploration: Exploration::new(Strategy::Random, 20),
        },
        Variant {
            name: "send-receive",
            broken: false,
            summary: "the client sends then receives, the server receives then sends",
            run: |cfg| run(cfg, true),
            check: || check(true),
            exploration: Exploration::new(Strategy::Dfs(3), 3000),
        },
    ],
};

/// A limit for the real run's waits, so that the broken variant ends and says why.
const LIMIT: Duration = Duration::from_secs(1);
const MESSAGES: usize = 2_000;

fn run(cfg: &Config, ordered: bool) -> Result<String, String> {
    let requests: Queue<u64> = Queue::bounded(0);
    let replies: Queue<u64> = Queue::bounded(0);
    let (rq, rp) = (requests.clone(), replies.clone());
    let server = Thread::new(move || -> Result<u64, String> {
        let mut served = 0;
        loop {
            if !ordered {
                // BUG: greet first.
                rp.put_timeout(0, LIMIT)
                    .map_err(|_| "server: put waited for a get that never came".to_string())?;
            }
            match rq.get() {
                Ok(u64::MAX) | Err(_) => return Ok(served),
                Ok(x) => {
                    rp.put(x * 2).map_err(|e| e.to_string())?;
                    served += 1;
                }
            }
        }
    })
    .name("server")
    .start();
    let mut n = 0usize;
    let mut problem = None;
    while cfg.more(n, MESSAGES) {
        let x = n as u64 + 1;
        if requests.put_timeout(x, LIMIT).is_err() {
            problem = Some("client: put waited for a get that never came".to_string());
            break;
        }
        match replies.get_timeout(LIMIT) {
            Ok(y) if y == 2 * x => {}
            Ok(y) => {
                problem = Some(format!("asked {x}, got {y}"));
                break;
            }
            Err(_) => {
                problem = Some("client: no reply".to_string());
                break;
            }
        }
        cfg.tick();
        n += 1;
    }
    requests.shutdown(false);
    replies.shutdown(false);
    let served = server.join().map_err(|e| e.message().to_string())?;
    match (problem, served) {
        (Some(p), Err(s)) => Err(format!("both sides sent first and waited: {p}; {s}")),
        (Some(p), Ok(_)) => Err(p),
        (None, Err(s)) => Err(s),
        (None, Ok(served)) => Ok(format!(
            "{served} requests, each put returned only once the other side took it"
        )),
    }
}

fn check(ordered: bool) {
    let requests: Queue<u64> = Queue::bounded(0);
    let replies: Queue<u64> = Queue::bounded(0);
    let (rq, rp) = (requests.clone(), replies.clone());
    let server = Thread::new(move || {
        for _ in 0..2 {
            if !ordered {
                rp.put(0).unwrap();
            }
            let x = rq.get().unwrap();
            rp.put(x * 2).unwrap();
        }
    })
    .name("server")
    .start();
    for x in 1..=2 {
        requests.put(x).unwrap();
        assert_eq!(replies.get().unwrap(), 2 * x);
    }
    server.join().unwrap();
}
