# nomad-chroot-check, built with nixpkgs' Rust tooling (callPackage style).
{ lib, rustPlatform, pkg-config, cmake, bzip2, xz }:

let
  root = ../.;
  rootStr = toString root;
  # Only what cargo reads: the manifest, the lock file and the crate's sources. Anything
  # else (target/, nix/, fixtures, docs) would change the source hash for nothing.
  keep = [ "Cargo.toml" "Cargo.lock" "build.rs" "src" "tests" "benches" "examples" ];
  src = builtins.path {
    path = root;
    name = "nomad-chroot-check-src";
    filter = path: type:
      let
        rel = lib.removePrefix "${rootStr}/" (toString path);
        top = builtins.head (lib.splitString "/" rel);
      in
      builtins.elem top keep;
  };
  manifest = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = manifest.package.name;
  inherit (manifest.package) version;
  inherit src;

  cargoLock.lockFile = ../Cargo.lock;

  # bzip2-sys and liblzma-sys link the system libraries when pkg-config finds them and
  # build their vendored copies otherwise; zstd-sys always builds its vendored copy;
  # libz-ng-sys builds zlib-ng with cmake (the build runs it, not stdenv's hook).
  nativeBuildInputs = [ pkg-config cmake ];
  dontUseCmakeConfigure = true;
  buildInputs = [ bzip2 xz ];

  # The test suite needs root, namespaces, cgroups, patchelf and a Nix store: none of
  # them exist in the build sandbox. CI runs it (`cargo test --all-targets`, ci/test).
  doCheck = false;

  meta = {
    inherit (manifest.package) description;
    license = lib.licenses.mit;
    mainProgram = "nomad-chroot-check";
    platforms = lib.platforms.linux;
  };
}
