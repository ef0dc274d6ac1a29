//! Thin: parse the command line, set up logging, run, print one error, exit with the
//! documented code.
#![deny(unsafe_code)]

use std::io::{self, Write};

use clap::Parser;
use nomad_chroot_check::cli::{Cli, Command};
use nomad_chroot_check::config::CheckOptions;
use nomad_chroot_check::error::{Error, ExitCode};
use nomad_chroot_check::{alloc, check, cleanup, harness, job, report, sandbox};

fn main() {
    // The sandbox child is on the critical path of every run: it skips clap and the
    // log subscriber (neither is used there), and stays single-threaded (no signal
    // thread). `Command::SandboxChild` documents the same arguments for clap.
    if let Some((plan_fd, result_fd)) = sandbox_child_args() {
        std::process::exit(sandbox::child_main(plan_fd, result_fd));
    }
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // The same subcommand with its options in another order.
    if let Some(Command::SandboxChild(a)) = &cli.command {
        std::process::exit(sandbox::child_main(a.plan_fd, a.result_fd));
    }
    cleanup::install();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nomad-chroot-check: {}", error_chain(&e));
            e.exit_code()
        }
    };
    cleanup::finish();
    std::process::exit(code.code());
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        None => {
            let args = cli.check;
            let opts = CheckOptions::from_args(&args)?;
            let report = if args.only_extract {
                check::run_extract_only(&opts)?
            } else {
                check::run(&opts)?
            };
            emit(|out| report::render(&report, args.common.format, out))?;
            Ok(report.exit_code())
        }
        Some(Command::SandboxChild(_)) => unreachable!("handled before"),
        Some(Command::Job(args)) => job::main(args),
        Some(Command::Test(args)) => harness::test_main(args),
        Some(Command::Record(args)) => harness::record_main(args),
        Some(Command::Shell(args)) => sandbox::shell_main(args),
        Some(Command::Alloc(args)) => alloc::main(args),
    }
}

/// `__sandbox-child --plan-fd N --result-fd M`, exactly as `sandbox::run` spawns it.
fn sandbox_child_args() -> Option<(i32, i32)> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != "__sandbox-child" {
        return None;
    }
    let mut num = |flag: &str| -> Option<i32> {
        (args.next()? == flag).then_some(())?;
        args.next()?.to_str()?.parse().ok()
    };
    let plan = num("--plan-fd");
    let result = num("--result-fd");
    match (plan, result, args.next()) {
        (Some(p), Some(r), None) => Some((p, r)),
        // Anything else: let clap explain the usage.
        _ => None,
    }
}

/// Write to stdout; a closed pipe (`| head`) is not an error.
fn emit(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Error> {
    // Buffered: stdout is line-buffered, and a report has hundreds of lines.
    let mut out = io::BufWriter::with_capacity(64 << 10, io::stdout().lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| Error::io("cannot write the report", e)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let t = src.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = src.source();
    }
    s
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "nomad_chroot_check=debug",
        _ => "nomad_chroot_check=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false)
        .try_init();
}
