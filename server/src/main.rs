//! `sightline-server`: the command line. Each subcommand parses its flags
//! (every flag also reads a `SIGHTLINE_*` variable; `config.toml` in the data
//! directory supplies the rest) and calls the library; `cli/` has one file
//! per subcommand group.

mod cli;

use clap::Parser;
use sightline_server::config::LogFormat;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.log_format());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
        // PostgreSQL's notices ("relation … already exists, skipping" at
        // every start) are its own chatter, not the server's news.
        .with_target("sqlx::postgres::notice", tracing::Level::WARN);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init(),
        // One object per line with the event's fields at the top level,
        // as log collectors expect.
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}
