//! In-root path resolution with chroot semantics.
//!
//! OWNER: analysis helper (issue 3). Resolves task paths against the task dir plus its
//! read-only layers (chroot_env, /alloc), re-rooting absolute symlink targets, clamping
//! `..` at the root, stopping at the kernel's ELOOP limit. Never uses host canonicalize.
