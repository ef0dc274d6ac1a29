# The tiny pkgs-like set the tests pass to bundle.nix and check.nix instead of nixpkgs,
# which cannot be downloaded here. Every argument is a store path the test harness added
# with `nix-store --add`:
# - busybox: a static busybox with a symlink per applet (sh, awk, grep, sort, …);
# - gnutar, gzip: the host's GNU tar and gzip (busybox tar has no --sort, --mtime or
#   --hard-dereference). They are dynamically linked against the host's glibc, so the
#   builds need `sandbox = false` (Debian's nix.conf default; the tests set it).
{ busybox, gnutar, gzip }:
let
  bb = builtins.storePath busybox;
in
{
  runtimeShell = "${bb}/bin/sh";
  coreutils = bb;
  findutils = bb;
  gawk = bb;
  gnugrep = bb;
  gnutar = builtins.storePath gnutar;
  gzip = builtins.storePath gzip;
  busybox = bb;
}
