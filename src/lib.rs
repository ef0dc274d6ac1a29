//! nomad-chroot-check: prove a bundle runs under Nomad's `exec` driver before deploying it.
//!
//! ```text
//! archive ──▶ taskdir ──▶ analyze ──▶ sandbox ──▶ report
//! (unpack as   (Nomad's     (resolve     (run as the   (text, JSON,
//!  go-getter)   task dir)    in-root)     exec driver)   JUnit)
//! ```
//!
//! Only `archive` and `sandbox` have side effects; `analyze` reads, `report` renders.
//! `sys` holds the only `unsafe` code. `finding` is the vocabulary all stages share.
#![deny(unsafe_code)]

pub mod alloc;
pub mod analyze;
pub mod archive;
pub mod check;
pub mod cleanup;
pub mod cli;
pub mod clientconfig;
pub mod config;
pub mod elf;
pub mod error;
pub mod finding;
pub mod harness;
pub mod hclguard;
pub mod job;
pub mod mesh;
pub mod nomad;
pub mod progress;
pub mod report;
pub mod rootfs;
pub mod sandbox;
pub mod suggest;
pub mod sys;
pub mod taskdir;
pub mod taskenv;
pub mod workdir;
