//! The JSON jobspec reader (`nomad job run -output` form): the steps `job::load` takes
//! for a `.json` file (nesting check, serde_json, the job model), in memory.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::job::hcl;
use nomad_chroot_check::job::model::JobSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/job.json");
    if hcl::check_nesting(path, text).is_err() {
        return;
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = JobSpec::from_json(&v);
    }
});
