//! The `#!` parser (`fs/binfmt_script.c` rules) and the `env` argument reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nomad_chroot_check::analyze::shebang;

fuzz_target!(|data: &[u8]| {
    let mut head = b"#!".to_vec();
    head.extend_from_slice(data);
    if let Ok(s) = shebang::parse(&head) {
        // The kernel ends the interpreter at a space, tab, NUL or newline, and the
        // argument at the newline (or the 256-byte buffer).
        // The interpreter may be empty (`#!\0`): the kernel then fails open_exec("")
        // with ENOENT, as the resolver does for "".
        assert!(!s.interp.contains([' ', '\t', '\0', '\n']), "{s:?}");
        if let Some(a) = &s.arg {
            // The argument may be empty: after a space or tab, a NUL starts an empty
            // argument that `load_script` still passes (`#!/bin/sh\t\0`).
            assert!(!a.contains(['\0', '\n']), "{s:?}");
            assert!(!a.starts_with([' ', '\t']), "{s:?}");
            // Trailing blanks are trimmed before the newline; without one the argument
            // runs to the first NUL, blanks included, as in the kernel.
            let head = &head[..head.len().min(shebang::BINPRM_BUF_SIZE)];
            if head.contains(&b'\n')
                && !a.is_empty()
                && !head[..head.iter().position(|&c| c == b'\n').unwrap()].contains(&0)
            {
                assert!(!a.ends_with([' ', '\t']), "{s:?}");
            }
            let _ = shebang::env_program(a);
        }
        let _ = shebang::is_env(&s.interp);
        assert!(
            s.interp.len() + s.arg.as_ref().map_or(0, |a| a.len()) <= 3 * shebang::BINPRM_BUF_SIZE
        );
    }
    // Only the first 256 bytes count.
    if head.len() > shebang::BINPRM_BUF_SIZE {
        assert_eq!(
            shebang::parse(&head),
            shebang::parse(&head[..shebang::BINPRM_BUF_SIZE])
        );
    }
});
