//! `heddle serve DIR`: the static file server of `heddle-links`, with Ctrl-C shutdown.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use heddle_links::serve::{ServeConfig, Server};

/// Arguments of `heddle serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The directory to serve.
    dir: PathBuf,
    /// Port to listen on (0 picks a free one).
    #[arg(long, short, default_value_t = 8000)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Worker threads (each serves one connection at a time).
    #[arg(long, default_value_t = 64)]
    workers: usize,
    /// Log one line per request to stderr.
    #[arg(long)]
    log: bool,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let mut cfg = ServeConfig::new(args.dir);
    cfg.addr = SocketAddr::new(args.bind, args.port);
    cfg.workers = args.workers.max(1);
    cfg.log = args.log;
    let server = match Server::bind(cfg.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("heddle serve: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = server.shutdown_handle();
    if let Err(e) = ctrlc::set_handler(move || stop.shutdown()) {
        eprintln!("heddle serve: cannot install the Ctrl-C handler: {e}");
        return ExitCode::from(2);
    }
    // Scripts wait for this line to know the port (with --port 0).
    println!(
        "serving {} on http://{} (Ctrl-C stops)",
        cfg.root.display(),
        server.local_addr()
    );
    match server.run() {
        Ok(stats) => {
            eprintln!(
                "heddle serve: stopped after {} requests on {} connections",
                stats.requests, stats.connections
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("heddle serve: {e}");
            ExitCode::from(2)
        }
    }
}
