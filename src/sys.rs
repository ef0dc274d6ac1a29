//! The only module with `unsafe`: thin wrappers over raw syscalls, each with a
//! `// SAFETY:` note. Errors name the call, its arguments and the errno.
#![allow(unsafe_code)]
