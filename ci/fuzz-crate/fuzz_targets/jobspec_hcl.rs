//! The HCL2 jobspec reader: parse, evaluate (variables, locals, functions, `file()`)
//! and read the job model from it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::job::hcl::{self, VarInputs};
use nomad_chroot_check::job::model::JobSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/job.nomad.hcl");
    if let Ok(node) = hcl::parse_job(path, text, &VarInputs::default()) {
        let _ = JobSpec::from_node(path, text, &node);
    }
});
