# A stand-in for nixpkgs, enough to evaluate nix/default.nix and nix/shell.nix offline:
# the builders return their arguments so the tests can assert on them.
let
  lib = {
    importTOML = file: builtins.fromTOML (builtins.readFile file);
    removePrefix = prefix: s:
      let n = builtins.stringLength prefix; in
      if builtins.substring 0 n s == prefix
      then builtins.substring n (builtins.stringLength s - n) s
      else s;
    # Enough for the separators package.nix uses: no regex metacharacters in `sep`.
    splitString = sep: s: builtins.filter builtins.isString (builtins.split sep s);
    licenses.mit = "mit";
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
  };
  stub = name: { inherit name; type = "stub"; outPath = "/stub/${name}"; };
in
{
  inherit lib;
  rustPlatform.buildRustPackage = args: args;
  mkShell = args: args;
  pkg-config = stub "pkg-config";
  cmake = stub "cmake";
  bzip2 = stub "bzip2";
  xz = stub "xz";
  cargo = stub "cargo";
  rustc = stub "rustc";
  rustfmt = stub "rustfmt";
  clippy = stub "clippy";
  coreutils = stub "coreutils";
  gnutar = stub "gnutar";
  gzip = stub "gzip";
  patchelf = stub "patchelf";
  nix = stub "nix";
  pkgsStatic.busybox = stub "busybox";
}
