//! `nomad-chroot-check job`: read a Nomad jobspec and check every exec task.
//! OWNER: jobspec helper (issue 5).

use crate::cli::JobArgs;
use crate::error::{Error, ExitCode};

pub fn main(args: JobArgs) -> Result<ExitCode, Error> {
    let _ = args;
    Err(Error::Usage("`job` is not available yet".into()))
}
