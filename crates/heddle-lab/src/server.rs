//! The async web server of the courses.
//!
//! An asyncio-style HTTP server on tokio (`asyncio.start_server` in the courses):
//! each connection is a task; the handlers share heddle's primitives, awaited like
//! any future: a `Semaphore` limits how many requests are served at once, a `Queue`
//! collects the access log, and an `Event` tells the accept loop to shut down. The
//! client side is a `gather` of many client tasks against it.
//!
//! **The bug** (`leaked-permit`): the handler takes a permit with
//! `acquire().forget()` and releases it by hand at the end of the happy path
//! (Python's `await sem.acquire()` ... `sem.release()` without `try/finally`). A bad
//! request returns early, and its permit is never given back: after `LIMIT` bad
//! requests no request is ever served again.
//!
//! **The fix** (`scoped-permit`): hold the permit as a guard (`let _permit =
//! sem.acquire_async().await`, Python's `async with sem:`), released on every path.
//!
//! The checker runs threads, not async tasks, so the check bodies run the same
//! handler logic ([`serve_sync`]) on heddle threads, with the same semaphore.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use heddle::queue::Queue;
use heddle::sync::{Event, Semaphore};
use heddle::thread::Thread;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::{join_all, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check server`.
///
/// ```
/// let s = &heddle_lab::server::SCENARIO;
/// assert_eq!(s.name, "server");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "server",
    title: "async HTTP server on tokio: Semaphore limit, Queue log, Event shutdown; gather of clients",
    python: &[
        "asyncio.start_server",
        "asyncio.gather",
        "asyncio.Semaphore",
        "async with sem:",
        "asyncio.Queue",
        "asyncio.Event",
    ],
    variants: &[
        Variant {
            name: "leaked-permit",
            broken: true,
            summary: "a bad request returns before its manual release: the permits leak and the server stalls",
            run: |cfg| run(cfg, false),
            check: || check(false),
            exploration: Exploration::new(Strategy::Random, 100),
        },
        Variant {
            name: "scoped-permit",
            broken: false,
            summary: "the permit is a guard, released on every path",
            run: |cfg| run(cfg, true),
            check: || check(true),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
    ],
};

/// Requests served at once.
const LIMIT: usize = 4;
const CLIENTS: usize = 40;

/// The response to a request line: `GET /echo/TEXT` echoes TEXT, anything else is a
/// bad request.
///
/// ```
/// use heddle_lab::server::respond;
/// assert_eq!(respond("GET /echo/hi HTTP/1.0"), Ok("hi".to_string()));
/// assert!(respond("POST /x HTTP/1.0").is_err());
/// ```
pub fn respond(request_line: &str) -> Result<String, String> {
    let mut parts = request_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(path)) if path.starts_with("/echo/") => {
            Ok(path["/echo/".len()..].to_string())
        }
        _ => Err(format!("bad request: {request_line:?}")),
    }
}

/// The shared state of the handlers.
struct State {
    limit: Semaphore,
    log: Queue<String>,
    shutdown: Event,
    active: AtomicUsize,
    most: AtomicUsize,
}

impl State {
    fn new(limit: usize) -> Self {
        State {
            limit: Semaphore::new(limit),
            log: Queue::unbounded(),
            shutdown: Event::new(),
            active: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        }
    }

    fn enter(&self) {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serve one request line while holding a permit: count it as active, answer, log.
async fn answer(state: &State, line: &str) -> Result<String, String> {
    state.enter();
    let out = respond(line);
    state.leave();
    let _ = state
        .log
        .put_async(format!("{line} -> {}", out.is_ok()))
        .await;
    out
}

/// One request, as an async handler: the status line and body.
async fn serve(state: &State, line: &str, scoped: bool) -> (u16, String) {
    if scoped {
        let _permit = state.limit.acquire_async().await;
        match answer(state, line).await {
            Ok(body) => (200, body),
            Err(e) => (400, e),
        }
    } else {
        state.limit.acquire_async().await.forget();
        let body = match answer(state, line).await {
            Ok(body) => body,
            // BUG: returns before the release below.
            Err(e) => return (400, e),
        };
        state.limit.release();
        (200, body)
    }
}

/// The same handler for a thread (what the checker explores).
///
/// ```
/// use heddle::sync::Semaphore;
/// let sem = Semaphore::new(1);
/// assert_eq!(heddle_lab::server::serve_sync(&sem, "GET /echo/a x", true).0, 200);
/// ```
pub fn serve_sync(limit: &Semaphore, line: &str, scoped: bool) -> (u16, String) {
    if scoped {
        let _permit = limit.acquire();
        match respond(line) {
            Ok(body) => (200, body),
            Err(e) => (400, e),
        }
    } else {
        limit.acquire().forget();
        let body = match respond(line) {
            Ok(body) => body,
            Err(e) => return (400, e),
        };
        limit.release();
        (200, body)
    }
}

async fn connection(stream: TcpStream, state: Arc<State>, scoped: bool) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    read.read_line(&mut line).await?;
    let (status, body) = serve(&state, line.trim_end(), scoped).await;
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    write
        .write_all(
            format!(
                "HTTP/1.0 {status} {reason}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await?;
    write.shutdown().await
}

/// The accept loop: a task per connection, until the shutdown event is set.
async fn accept_loop(listener: TcpListener, state: Arc<State>, scoped: bool) {
    loop {
        tokio::select! {
            _ = state.shutdown.wait_async() => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(connection(stream, Arc::clone(&state), scoped));
                }
            }
        }
    }
}

/// One client: ask, read the whole reply; `(status, body)`.
async fn client(addr: std::net::SocketAddr, i: usize) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = if i % 5 == 4 {
        format!("DELETE /echo/{i} HTTP/1.0\r\n\r\n")
    } else {
        format!("GET /echo/client-{i} HTTP/1.0\r\n\r\n")
    };
    stream.write_all(request.as_bytes()).await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    let status = reply.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn run(cfg: &Config, scoped: bool) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.threads)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = Arc::new(State::new(LIMIT));
        let server = tokio::spawn(accept_loop(listener, Arc::clone(&state), scoped));
        let (mut served, mut rounds) = (0usize, 0usize);
        let mut problem = None;
        while problem.is_none() && cfg.more(rounds, 1) {
            // gather: every client task at once, then every result.
            let clients: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    tokio::spawn(tokio::time::timeout(Duration::from_secs(2), client(addr, i)))
                })
                .collect();
            let mut stuck = 0;
            for (i, c) in clients.into_iter().enumerate() {
                match c.await {
                    Ok(Ok(Ok((status, body)))) => {
                        let ok = if i % 5 == 4 {
                            status == 400
                        } else {
                            status == 200 && body == format!("client-{i}")
                        };
                        if !ok {
                            problem = Some(format!("client {i}: status {status}, body {body:?}"));
                        }
                        served += 1;
                        cfg.tick();
                    }
                    Ok(Ok(Err(e))) => problem = Some(format!("client {i}: {e}")),
                    Ok(Err(_)) => stuck += 1,
                    Err(e) => problem = Some(format!("client {i}: {e}")),
                }
            }
            if stuck > 0 {
                problem = Some(format!(
                    "{stuck} of {CLIENTS} clients got no reply: {} permits left of {LIMIT} (leaked on the error path)",
                    state.limit.available_permits()
                ));
            }
            rounds += 1;
        }
        state.shutdown.set();
        server.await.map_err(|e| e.to_string())?;
        if let Some(p) = problem {
            return Err(p);
        }
        let logged = state.log.try_iter().count();
        let most = state.most.load(Ordering::SeqCst);
        if logged != served || most > LIMIT || state.limit.available_permits() != LIMIT {
            return Err(format!(
                "{served} served, {logged} logged, at most {most} at once (limit {LIMIT}), {} permits back",
                state.limit.available_permits()
            ));
        }
        Ok(format!(
            "{served} requests from gathered client tasks, at most {most} at once (limit {LIMIT}), \
             every one logged; the Event stopped the server"
        ))
    })
}

fn check(scoped: bool) {
    let limit = Arc::new(Semaphore::new(1));
    let log: Queue<u16> = Queue::unbounded();
    let (l, q) = (Arc::clone(&limit), log.clone());
    let handlers: Vec<_> = ["DELETE /echo/0 x", "GET /echo/1 x"]
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let (l, q) = (Arc::clone(&l), q.clone());
            Thread::new(move || q.put(serve_sync(&l, line, scoped).0).unwrap())
                .name(format!("handler-{i}"))
                .start()
        })
        .collect();
    join_all(handlers).unwrap();
    let mut statuses: Vec<u16> = log.try_iter().collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    assert_eq!(limit.available_permits(), 1, "a permit leaked");
}
