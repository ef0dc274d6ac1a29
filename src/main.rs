//! Thin: parse the command line, set up logging, run, print one error, exit with the
//! documented code.
#![deny(unsafe_code)]

use std::io;

use clap::Parser;
use nomad_chroot_check::cli::{Cli, Command, Format, TestFormat, WorkdirArg};
use nomad_chroot_check::error::{Error, ExitCode};
use nomad_chroot_check::report::emit;
use nomad_chroot_check::{alloc, check, cleanup, harness, job, report, sandbox, workdir};

/// Whether this invocation may put a task dir on a tmpfs of its own: `--workdir tmpfs`,
/// or `auto` for a run (a bundle check with a command, or `job` task by task).
fn may_run_on_own_tmpfs(cli: &Cli) -> bool {
    let (common, command_given) = match &cli.command {
        None => (&cli.check.common, !cli.check.command.is_empty()),
        Some(Command::Job(j)) => (&j.common, !j.run_job),
        Some(_) => return false,
    };
    let runs = command_given && !common.no_run;
    !common.keep
        && match common.workdir {
            WorkdirArg::Auto => runs,
            WorkdirArg::Tmpfs => true,
            WorkdirArg::Disk => false,
        }
}

fn main() {
    // The sandbox child is on the critical path of every run: it skips clap and the
    // log subscriber (neither is used there), and stays single-threaded (no signal
    // thread). `Command::SandboxChild` documents the same arguments for clap.
    if let Some((plan_fd, result_fd)) = sandbox_child_args() {
        std::process::exit(sandbox::child_main(plan_fd, result_fd));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Bad arguments are an input error like any other: with a machine format
            // asked for, stdout still gets a document saying so.
            if e.use_stderr() {
                if let Some(doc) = error_document_for_raw_args(&e.render().to_string()) {
                    let _ = emit(|out| out.write_all(doc.as_bytes()));
                }
            }
            e.exit();
        }
    };
    init_logging(cli.verbose);
    // The same subcommand with its options in another order.
    if let Some(Command::SandboxChild(a)) = &cli.command {
        std::process::exit(sandbox::child_main(a.plan_fd, a.result_fd));
    }
    // A check that may run its task may want a tmpfs of its own, in a mount namespace
    // of its own: made here, before the first thread (the signal thread, next).
    if may_run_on_own_tmpfs(&cli) {
        workdir::enter_private_mounts();
    }
    cleanup::install();
    let doc_format = error_format(&cli);
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let message = error_chain(&e);
            eprintln!("nomad-chroot-check: {message}");
            if let Some(f) = doc_format {
                let not_applicable = matches!(e, Error::NotApplicable(_));
                let doc = report::error_document(f, e.exit_code(), &message, not_applicable);
                let _ = emit(|out| out.write_all(doc.as_bytes()));
            }
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
            if args.quiet && args.common.format != Format::Text {
                return Err(Error::Usage(
                    "--quiet prints the text verdict line only: leave it out with --format json, junit or sarif".into(),
                ));
            }
            let opts = args.options()?;
            let report = if args.only_extract {
                check::run_extract_only(&opts)?
            } else if args.tree {
                check::run_with_tree(&opts)?
            } else {
                check::run(&opts)?
            };
            emit(|out| {
                if args.quiet {
                    report::render_verdict_line(&report, out)
                } else {
                    report::render(&report, args.common.format, out)
                }
            })?;
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

/// The format a mode's error document is printed in: the machine formats only (text
/// users read the message on stderr).
fn error_format(cli: &Cli) -> Option<report::ErrorFormat> {
    use report::ErrorFormat as E;
    let mode = |f: Format, shape: fn(Format) -> Option<E>| shape(f);
    match &cli.command {
        None => mode(cli.check.common.format, |f| match f {
            Format::Json => Some(E::Report),
            Format::Sarif => Some(E::Sarif),
            Format::Text | Format::Junit => None,
        }),
        Some(Command::Job(a)) => mode(a.common.format, |f| match f {
            Format::Json => Some(E::Job),
            Format::Sarif => Some(E::Sarif),
            Format::Text | Format::Junit => None,
        }),
        Some(Command::Test(a)) => {
            (harness::requested_format(a) == TestFormat::Json).then_some(E::Test)
        }
        Some(Command::Alloc(a)) => mode(a.common.format, |f| match f {
            Format::Json => Some(E::Report),
            Format::Sarif => Some(E::Sarif),
            Format::Text | Format::Junit => None,
        }),
        Some(Command::Record(_) | Command::Shell(_) | Command::SandboxChild(_)) => None,
    }
}

/// Clap refused the arguments: find `--format json|sarif` (and the mode) in them by hand.
fn error_document_for_raw_args(message: &str) -> Option<String> {
    use report::ErrorFormat as E;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut format = None;
    for (i, a) in args.iter().enumerate() {
        if a == "--" {
            break;
        }
        let v = match a.strip_prefix("--format=") {
            Some(v) => Some(v),
            None if a == "--format" => args.get(i + 1).map(String::as_str),
            None => None,
        };
        if v.is_some() {
            format = v;
        }
    }
    let mode = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str);
    let shape = match (format?, mode) {
        ("sarif", _) => E::Sarif,
        ("json", Some("job")) => E::Job,
        ("json", Some("test")) => E::Test,
        ("json", Some("record" | "shell")) => return None,
        ("json", _) => E::Report,
        _ => return None,
    };
    let first = message.lines().next().unwrap_or(message);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    Some(report::error_document(
        shape,
        ExitCode::Reject,
        first,
        false,
    ))
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
    // Each stage is a span (check, taskdir, extract, analyze, run): its close line
    // carries the time spent in it, which is where `-v` shows the time going.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .try_init();
}
