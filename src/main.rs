//! `tether`: the command line, a headless front end on the library ([`cli`]).

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // The embedded demo broker logs every client disconnect as an error; it is not ours to report.
        .with_env_filter(tether::SILENCED_LOG_TARGETS.iter().fold(
            tracing_subscriber::EnvFilter::try_from_env("TETHER_LOG").unwrap_or_else(|_| "warn,rumqttd=off".into()),
            |f, t| f.add_directive(format!("{t}=off").parse().unwrap_or_default()),
        ))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tether: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match rt.block_on(cli::run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tether: {e}");
            e.exit_code()
        }
    };
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    std::process::exit(code);
}
