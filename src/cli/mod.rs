//! The `vrm-avatar` command line. On bad input every subcommand prints one line
//! `error: <what and where>` to stderr and exits with status 2 (CONTRACTS.md).

mod demo;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "vrm-avatar", version = crate::VERSION, about = "VRM avatar for OBS Studio: tools and demo")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start OBS with a demo scene holding the VRM Avatar source. With no display (or
    /// --headless) it runs under Xvfb, writes a screenshot and a recording, and quits.
    Demo {
        /// The built plugin module (cargo's libobs_vrm_avatar.so).
        #[arg(long)]
        module: PathBuf,
        /// The project's locale/ folder.
        #[arg(long)]
        locale: PathBuf,
        /// Output folder: screenshots, recording and the throwaway OBS profile.
        #[arg(long)]
        out: PathBuf,
        /// Run under a private Xvfb even when a display is available.
        #[arg(long)]
        headless: bool,
        /// Recording length in seconds (headless).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version
            let _ = err.print();
            return 0;
        }
        Err(err) => {
            let text = err.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ");
            eprintln!("error: {first}");
            return 2;
        }
    };
    init_logging();
    let result = match cli.command {
        Command::Demo {
            module,
            locale,
            out,
            headless,
            seconds,
        } => {
            let headless = headless || std::env::var_os("DISPLAY").is_none();
            demo::run(&demo::DemoOptions {
                module,
                locale,
                out,
                headless,
                seconds,
            })
        }
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {}", format!("{err:#}").replace('\n', " "));
            2
        }
    }
}

/// Logs of this crate at info level and above to stderr (wgpu's only from warnings up).
fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Warn
                || (m.level() <= log::Level::Info && m.target().starts_with("obs_vrm_avatar"))
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("{}: {}", r.level().as_str().to_lowercase(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}
