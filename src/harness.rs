//! `nomad-chroot-check test` and `record`: checks from a TOML spec as libtest trials.
//! OWNER: harness helper (issue 6).

use crate::cli::{RecordArgs, TestArgs};
use crate::error::{Error, ExitCode};

pub fn test_main(args: TestArgs) -> Result<ExitCode, Error> {
    let _ = args;
    Err(Error::Usage("`test` is not available yet".into()))
}

pub fn record_main(args: RecordArgs) -> Result<ExitCode, Error> {
    let _ = args;
    Err(Error::Usage("`record` is not available yet".into()))
}
