# The tiny pkgs-like set the tests pass to bundle.nix and check.nix instead of nixpkgs,
# which cannot be downloaded here. Every argument is a store path the test harness added
# with `nix-store --add`:
# - busybox: a static busybox with a symlink per applet (sh, awk, grep, sort, …);
# - gnutar, gzip: the host's GNU tar and gzip (busybox tar has no --sort, --mtime or
#   --hard-dereference). They are dynamically linked against the host's glibc, so a
#   sandboxed build needs the host's /lib and /usr/lib in `extra-sandbox-paths`.
#
# runCommand and closureInfo behave as nixpkgs' do for what bundle.nix and check.nix
# use: `runCommand name env script` runs the script with the env's variables, coreutils
# (here busybox) and `nativeBuildInputs` on PATH, and keeps `passthru` and `meta` out of
# the derivation; `closureInfo { rootPaths }` writes `$out/store-paths`.
{ busybox, gnutar, gzip }:
let
  bb = builtins.storePath busybox;
  runCommand = name: env: script:
    let
      inputs = [ bb ] ++ (env.nativeBuildInputs or [ ]);
      path = builtins.concatStringsSep ":" (map (p: "${p}/bin") inputs);
      drv = derivation (builtins.removeAttrs env [ "passthru" "meta" "nativeBuildInputs" ] // {
        inherit name;
        system = builtins.currentSystem;
        builder = "${bb}/bin/sh";
        args = [ "-c" "export PATH=${path}\n${script}" ];
      });
    in
    drv // (env.passthru or { }) // { meta = env.meta or { }; };
in
{
  inherit runCommand;
  closureInfo = { rootPaths }:
    runCommand "closure-info"
      {
        # Nix writes each root's closure in the registration format into the build
        # directory: a path line, its deriver, a reference count, that many references.
        exportReferencesGraph = builtins.concatLists (builtins.genList
          (i: [ "closure-${toString i}" (builtins.elemAt rootPaths i) ])
          (builtins.length rootPaths));
      } ''
      mkdir -p "$out"
      awk 'state == 0 { print; state = 1; next }
           state == 1 { state = 2; next }
           state == 2 { n = $0 + 0; state = (n > 0) ? 3 : 0; next }
           state == 3 { if (--n == 0) state = 0; next }' closure-* | sort -u > "$out/store-paths"
    '';
  gnutar = builtins.storePath gnutar;
  gzip = builtins.storePath gzip;
  busybox = bb;
}
