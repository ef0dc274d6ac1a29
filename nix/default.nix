# `nix-build nix` builds nomad-chroot-check with the nixpkgs pinned in sources.json.
{ sources ? import ./sources.nix
, pkgs ? import sources.nixpkgs { }
}:
import ./package.nix {
  inherit (pkgs) lib rustPlatform pkg-config cmake bzip2 xz;
}
