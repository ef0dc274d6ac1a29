# Real store paths with real references for the bundle tests.
# - a: a file, a relative and an absolute symlink to it, a hard link to it, and a
#   symlink to a directory: everything Nomad's unpacker would flatten to empty files;
#   plus links out of the store and to nowhere, which bundle.nix must leave out.
# - b: a script whose shebang and body name store paths (runtime's sh, a's file), so
#   Nix records b → runtime and b → a as references.
# - runtime: a static busybox with sh and cat links, small enough to bundle.
# - big: one directory with 4095 empty files, i.e. 4096 tar entries.
{ pkgs }:
let
  bb = pkgs.busybox;
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "${bb}/bin/sh";
    args = [ "-c" ("set -eu; export PATH=${bb}/bin; " + script) ];
  };
in
rec {
  runtime = mk "ncc-fixture-runtime" ''
    mkdir -p $out/bin
    cp ${bb}/bin/busybox $out/bin/busybox
    ln -s busybox $out/bin/sh
    ln -s busybox $out/bin/cat
  '';
  a = mk "ncc-fixture-a" ''
    mkdir -p $out/share $out/lib
    echo 'hello from a' > $out/share/greeting
    ln -s greeting $out/share/greeting-link
    ln -s $out/share/greeting $out/share/greeting-abs
    ln $out/share/greeting $out/share/greeting-hard
    ln -s ../share $out/lib/share-dir
    ln -s /etc/hostname $out/share/host-link
    ln -s /nonexistent $out/share/dangling
  '';
  b = mk "ncc-fixture-b" ''
    mkdir -p $out/bin
    printf '#!%s\nexec %s %s\n' ${runtime}/bin/sh ${runtime}/bin/cat ${a}/share/greeting-link > $out/bin/hello
    chmod 0555 $out/bin/hello
  '';
  big = mk "ncc-fixture-big" ''
    mkdir $out
    i=1
    while [ $i -lt 4096 ]; do : > $out/f$i; i=$((i + 1)); done
  '';
}
