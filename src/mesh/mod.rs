//! `nomad-chroot-check job FILE --run-job`: the whole job, run as Nomad places it.
pub mod netns;
pub mod forward;
