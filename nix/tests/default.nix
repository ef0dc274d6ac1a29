# Entry point of tests/nix.rs: `nix-build nix/tests -A <attr> --argstr busybox … `.
{ busybox, gnutar, gzip, tool ? null }:
let
  pkgs = import ./pkgs.nix { inherit busybox gnutar gzip; };
  fx = import ./fixture.nix { inherit pkgs; };
  mkBundle = import ../bundle.nix pkgs;
  checkBundle = import ../check.nix pkgs;
  nomad-chroot-check =
    if tool == null then throw "pass --argstr tool <store path with bin/nomad-chroot-check>"
    else builtins.storePath tool;
  complete = name: mkBundle {
    inherit name;
    paths = [ fx.b ];
    shWrapper = fx.runtime;
    binWrappers = [ "hello" ];
  };
in
rec {
  inherit (fx) runtime a b big;
  bundle = complete "fixture";
  # Same closure, other derivation: must give the same bytes.
  bundleRenamed = complete "fixture-renamed";
  # b without a: b's script names a store path the bundle lacks.
  broken = mkBundle {
    name = "fixture-broken";
    paths = [ fx.b ];
    exclude = [ fx.a ];
    shWrapper = fx.runtime;
    binWrappers = [ "hello" ];
  };
  bigDefault = mkBundle { name = "big"; paths = fx.big; };
  bigRaised = mkBundle { name = "big-raised"; paths = fx.big; fileCountLimit = 4097; };
  bigUnlimited = mkBundle { name = "big-unlimited"; paths = fx.big; fileCountLimit = 0; };

  # Mistakes that must fail evaluation with a clear message.
  badWrapper = mkBundle { name = "bad"; paths = fx.b; binWrappers = [ "../evil" ]; };
  runWithoutCommand = checkBundle { inherit nomad-chroot-check bundle; run = true; };

  check = checkBundle { inherit nomad-chroot-check bundle; chrootEnv = "none"; };
  # The same check under another name, for the sandboxed build (a new derivation).
  checkSandboxed = checkBundle {
    inherit nomad-chroot-check bundle;
    name = "nomad-chroot-check-sandboxed";
    chrootEnv = "none";
  };
  # Without chrootEnv: the example project's five /etc entries, not this machine's /lib.
  checkDefaultChrootEnv = checkBundle { inherit nomad-chroot-check bundle; };
  checkBroken = checkBundle {
    inherit nomad-chroot-check;
    bundle = broken;
    chrootEnv = "none";
  };
  # The complete bundle passes with warnings; denying them fails it.
  checkDenyWarnings = checkBundle {
    inherit nomad-chroot-check bundle;
    chrootEnv = "none";
    deny = [ "warnings" ];
    failOnFindings = false;
  };
  checkBrokenReport = checkBundle {
    inherit nomad-chroot-check;
    bundle = broken;
    chrootEnv = "none";
    failOnFindings = false;
  };
}
