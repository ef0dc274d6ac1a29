//! The Nomad client-config reader (HCL, or JSON when the first byte is odd).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::clientconfig::ClientConfig;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = if sel & 1 == 1 {
        Path::new("/nonexistent/client.json")
    } else {
        Path::new("/nonexistent/client.hcl")
    };
    if let Ok(mut c) = ClientConfig::parse(path, text) {
        let again = c.clone();
        c.merge(again);
    }
});
