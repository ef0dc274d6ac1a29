# Development shell: `nix-shell nix/shell.nix`.
{ sources ? import ./sources.nix
, pkgs ? import sources.nixpkgs { }
}:
pkgs.mkShell {
  # Order matters: earlier entries come first in PATH, so GNU tar and coreutils win over
  # busybox's applets of the same names.
  packages = [
    pkgs.cargo
    pkgs.rustc
    pkgs.rustfmt
    pkgs.clippy
    pkgs.pkg-config
    pkgs.cmake # libz-ng-sys builds zlib-ng with it
    pkgs.coreutils
    pkgs.gnutar # bundle.nix needs GNU tar (--sort, --hard-dereference)
    pkgs.gzip
    pkgs.patchelf # the analysis fixtures rewrite interpreters and rpaths
    pkgs.nix # tests/nix.rs drives nix-build
    pkgs.pkgsStatic.busybox # a static shell for hand-made bundles and nix/tests
  ];
  # bzip2-sys and liblzma-sys find these through pkg-config.
  buildInputs = [ pkgs.bzip2 pkgs.xz ];
  BUSYBOX_STATIC = "${pkgs.pkgsStatic.busybox}/bin/busybox";
}
