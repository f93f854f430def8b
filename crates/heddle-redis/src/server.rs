//! A throw-away `redis-server` on a loopback port of its own: what the tests, the
//! doc examples and the benchmarks run against, so nothing is mocked and nothing is
//! shared with another run.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Servers started by this process, to name their directories apart.
static SERVERS: AtomicU64 = AtomicU64::new(0);

/// A `redis-server` child process on `127.0.0.1` and a free port, with its own
/// directory; stopped (killed) and cleaned up on drop.
///
/// Needs the `redis-server` executable on `PATH` (Debian: `apt-get install
/// redis-server`). Without persistence by default; [`start_with_aof`] turns on the
/// append-only file with a sync on every write, so a [`restart`](Self::restart)
/// loses nothing the server acknowledged.
///
/// [`start_with_aof`]: RedisServer::start_with_aof
///
/// ```
/// use heddle_redis::server::RedisServer;
///
/// let server = RedisServer::start().unwrap();
/// assert!(server.url().starts_with("redis://127.0.0.1:"));
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    aof: bool,
}

/// How long a start waits for the first `PONG`.
const START_WAIT: Duration = Duration::from_secs(10);

impl RedisServer {
    /// Start a server without persistence.
    ///
    /// ```
    /// let server = heddle_redis::server::RedisServer::start().unwrap();
    /// assert!(server.port() > 0);
    /// ```
    pub fn start() -> io::Result<RedisServer> {
        Self::start_inner(false)
    }

    /// Start a server with an append-only file synced on every write, for restart
    /// tests.
    ///
    /// ```
    /// let mut server = heddle_redis::server::RedisServer::start_with_aof().unwrap();
    /// server.restart().unwrap();
    /// ```
    pub fn start_with_aof() -> io::Result<RedisServer> {
        Self::start_inner(true)
    }

    fn start_inner(aof: bool) -> io::Result<RedisServer> {
        let mut last = None;
        // Another process may take the port between our probe and the server's bind:
        // a few fresh ports, then give up with the last error.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let dir = std::env::temp_dir().join(format!(
                "heddle-redis-{}-{port}-{}",
                std::process::id(),
                SERVERS.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir)?;
            let mut server = RedisServer {
                child: None,
                port,
                dir,
                aof,
            };
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    fn launch(&mut self) -> io::Result<()> {
        let mut command = Command::new("redis-server");
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.aof {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let mut child = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "could not run redis-server ({e}); install it (apt-get install redis-server)"
                ),
            )
        })?;
        let deadline = Instant::now() + START_WAIT;
        loop {
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "redis-server on port {} exited at start ({status})",
                    self.port
                )));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("redis-server on port {} did not answer PING", self.port),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The URL to connect to: `redis://127.0.0.1:PORT/`.
    ///
    /// ```
    /// let server = heddle_redis::server::RedisServer::start().unwrap();
    /// assert_eq!(server.url(), format!("redis://127.0.0.1:{}/", server.port()));
    /// ```
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    ///
    /// ```
    /// let server = heddle_redis::server::RedisServer::start().unwrap();
    /// assert_ne!(server.port(), 0);
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kill the server (`SIGKILL`, no goodbye) and leave it down until
    /// [`restart`](Self::restart) or drop.
    ///
    /// ```
    /// let mut server = heddle_redis::server::RedisServer::start().unwrap();
    /// server.kill();
    /// assert!(std::net::TcpStream::connect(("127.0.0.1", server.port())).is_err());
    /// ```
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kill the server if it runs and start it again on the same port and directory
    /// (with [`start_with_aof`](Self::start_with_aof), with everything it had
    /// acknowledged).
    ///
    /// ```
    /// let mut server = heddle_redis::server::RedisServer::start().unwrap();
    /// server.restart().unwrap();
    /// ```
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.launch()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a server answers `PING` on `port` (one bounded attempt).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
