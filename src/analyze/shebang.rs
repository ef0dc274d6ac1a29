//! `#!` lines exactly as Linux ≥ 5.1 parses them (`fs/binfmt_script.c` `load_script`).
//!
//! The kernel reads the first `BINPRM_BUF_SIZE` (256) bytes, zero-padded. Without a
//! newline in them, the interpreter path must end (space, tab or NUL) before the
//! buffer does, or exec fails with `ENOEXEC`: a truncated interpreter is never run.
//! Everything after the interpreter name, trimmed, is *one* argument (no splitting),
//! which is why `#!/usr/bin/env python3 -u` asks env for a program named `python3 -u`.

/// `BINPRM_BUF_SIZE` (`include/uapi/linux/binfmts.h`).
pub const BINPRM_BUF_SIZE: usize = 256;

/// Script interpreters the kernel follows before `ELOOP`: `exec_binprm` allows
/// `depth` 0..=5 (`fs/exec.c`), so at most five `#!` files precede the final binary.
pub const MAX_SCRIPT_DEPTH: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shebang {
    pub interp: String,
    pub arg: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShebangError {
    /// `#!` followed by nothing usable.
    NoInterpreter,
    /// No newline in 256 bytes and the interpreter path runs to the end of the buffer.
    Truncated,
}

fn spacetab(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// `head` must start with `#!`; it may be shorter or longer than 256 bytes.
pub fn parse(head: &[u8]) -> Result<Shebang, ShebangError> {
    let mut b = [0u8; BINPRM_BUF_SIZE];
    let n = head.len().min(BINPRM_BUF_SIZE);
    b[..n].copy_from_slice(&head[..n]);
    let buf_end = BINPRM_BUF_SIZE - 1;
    let next_non_spacetab = |first: usize, last: usize| (first..=last).find(|&i| !spacetab(b[i]));
    let next_terminator =
        |first: usize, last: usize| (first..=last).find(|&i| spacetab(b[i]) || b[i] == 0);

    let mut i_end = match b.iter().position(|&c| c == b'\n') {
        Some(i) => i,
        None => {
            let start = next_non_spacetab(2, buf_end).ok_or(ShebangError::NoInterpreter)?;
            if next_terminator(start, buf_end).is_none() {
                return Err(ShebangError::Truncated);
            }
            buf_end
        }
    };
    while i_end > 2 && spacetab(b[i_end - 1]) {
        i_end -= 1;
    }
    let i_name = match next_non_spacetab(2, i_end) {
        Some(i) if i != i_end => i,
        _ => return Err(ShebangError::NoInterpreter),
    };
    let i_sep = next_terminator(i_name, i_end);
    let i_arg = match i_sep {
        Some(s) if b[s] != 0 => next_non_spacetab(s, i_end).filter(|&a| a < i_end),
        _ => None,
    };
    let cstr = |from: usize, to: usize| {
        let s = &b[from..to];
        let s = s.split(|&c| c == 0).next().unwrap_or(&[]);
        String::from_utf8_lossy(s).into_owned()
    };
    let name_end = match (i_arg, i_sep) {
        (Some(_), Some(s)) => s,
        _ => i_end,
    };
    Ok(Shebang {
        interp: cstr(i_name, name_end),
        arg: i_arg.map(|a| cstr(a, i_end)),
    })
}

/// What `env` (coreutils) will look up for a `#!/usr/bin/env ARG` line: the program
/// name, and whether `-S` split the argument. `None` when env is given options we do
/// not model, or no program.
pub fn env_program(arg: &str) -> Option<String> {
    if let Some(rest) = arg.strip_prefix("-S") {
        let mut words = rest.split_whitespace();
        let mut w = words.next()?;
        // `env -S` also takes VAR=value assignments before the program.
        while w.contains('=') {
            w = words.next()?;
        }
        return Some(w.to_owned());
    }
    if arg.starts_with('-') || arg.contains('=') {
        return None;
    }
    Some(arg.to_owned())
}

pub fn is_env(interp: &str) -> bool {
    interp.rsplit('/').next() == Some("env")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Shebang, ShebangError> {
        parse(s.as_bytes())
    }

    #[test]
    fn parses_like_the_kernel() {
        assert_eq!(
            p("#!/bin/sh\necho").unwrap(),
            Shebang {
                interp: "/bin/sh".into(),
                arg: None
            }
        );
        assert_eq!(
            p("#! /usr/bin/env   python3 -u  \n").unwrap(),
            Shebang {
                interp: "/usr/bin/env".into(),
                arg: Some("python3 -u".into())
            }
        );
        assert_eq!(p("#!/bin/sh \t\n").unwrap().arg, None);
        assert_eq!(p("#!/bin/sh").unwrap().interp, "/bin/sh");
        assert_eq!(p("#!\n").unwrap_err(), ShebangError::NoInterpreter);
        assert_eq!(p("#!   \n").unwrap_err(), ShebangError::NoInterpreter);
    }

    #[test]
    fn long_lines() {
        // An interpreter path filling the whole buffer is refused (ENOEXEC since 5.1).
        let long = format!("#!/{}", "a".repeat(300));
        assert_eq!(p(&long).unwrap_err(), ShebangError::Truncated);
        // A long argument is only truncated.
        let s = format!("#!/bin/sh {}\n", "x".repeat(400));
        let sb = p(&s).unwrap();
        assert_eq!(sb.interp, "/bin/sh");
        assert_eq!(
            sb.arg.unwrap().len(),
            BINPRM_BUF_SIZE - 1 - "#!/bin/sh ".len()
        );
        // A path of 250 bytes with a newline inside the buffer is fine.
        let ok = format!("#!/{}\n", "b".repeat(250));
        assert_eq!(p(&ok).unwrap().interp.len(), 251);
    }

    proptest::proptest! {
        // Seeds of past failures live beside this file, not at the top level.
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
            )),
            ..proptest::test_runner::Config::default()
        })]
        #[test]
        fn never_panics_and_names_are_clean(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut head = b"#!".to_vec();
            head.extend(tail);
            if let Ok(sb) = parse(&head) {
                // `#!\0…` names the empty path, which the kernel then fails to open (ENOENT).
                proptest::prop_assert!(!sb.interp.contains([' ', '\t', '\0', '\n']));
                proptest::prop_assert!(sb.interp.chars().count() < BINPRM_BUF_SIZE);
            }
        }
    }

    #[test]
    fn env_programs() {
        assert_eq!(env_program("python3").as_deref(), Some("python3"));
        assert_eq!(env_program("python3 -u").as_deref(), Some("python3 -u"));
        assert_eq!(env_program("-S python3 -u").as_deref(), Some("python3"));
        assert_eq!(env_program("-S A=1 bash").as_deref(), Some("bash"));
        assert_eq!(env_program("-i"), None);
        assert!(is_env("/usr/bin/env"));
    }
}
