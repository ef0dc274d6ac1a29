//! The test-spec reader (`nomad-chroot-check test SPEC.toml`): TOML, defaults, checks,
//! regex matchers, paths relative to the spec's directory.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::harness::spec::Spec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = Spec::parse(text, Path::new("/nonexistent/spec.toml"), Path::new("/nonexistent")) {
        for c in &spec.checks {
            let _ = c.runs();
        }
    }
});
