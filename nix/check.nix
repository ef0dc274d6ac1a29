# Gate a bundle in a Nix build: run nomad-chroot-check on it and fail the build when the
# bundle would not run under Nomad's exec driver.
#
#   checkBundle = pkgs.callPackage ./nix/check.nix { };   # or import ./nix/check.nix pkgs
#   checkBundle { inherit nomad-chroot-check bundle; command = [ "/usr/local/bin/app" ]; }
#
# $out holds report.json (--format json), junit.xml (--format junit) and report.txt. On
# findings the build fails and its log carries the text report, which names each missing
# store path and what needed it. The tool is run once per format: the static check is
# cheap, and each run is independent of the others.
# The verdict must not depend on the machine that builds it: chrootEnv defaults to the
# example project's client (five /etc entries, no libraries), not to Nomad's default map,
# which would lend the build machine's /lib and /usr to the bundle.
{ runCommand, ... }:

let
  # datakurre/nomad-with-nix's nomad.conf (fixtures/example/client.hcl).
  exampleChrootEnv = [
    "/etc/group=/etc/group"
    "/etc/passwd=/etc/passwd"
    "/etc/nsswitch.conf=/etc/nsswitch.conf"
    "/etc/resolv.conf=/etc/resolv.conf"
    "/etc/ssl/certs=/etc/ssl/certs"
  ];
in

{ # A derivation (or store path) with bin/nomad-chroot-check.
  nomad-chroot-check
  # The bundle: a .tar.gz (bundle.nix's output) or any archive the tool reads.
, bundle
, name ? null # default: nomad-chroot-check-<bundle name without .tar.gz>
  # artifact.destination; bundle.nix's absolute /nix/store members want "/".
, destination ? "/"
  # The task's command and args. [ ]: check every executable in the bundle.
, command ? [ ]
  # Run the command in the emulated exec driver (needs namespaces in the build, so off
  # by default: builds are usually sandboxed without them).
, run ? false
  # The clients' chroot_env (--chroot-env): a list of "SRC=DST", "none", or
  # "nomad-default" for Nomad's default map (/bin, /lib, /usr… of whatever machine runs
  # the build: a pass then holds only where those are the same).
, chrootEnv ? exampleChrootEnv
  # --nomad-version, e.g. "1.5" (null: the tool's default, the current release).
, nomadVersion ? null
  # --archive, when the bundle's name does not end in a known extension.
, archive ? null
  # --file-count-limit; by default the limit bundle.nix built the bundle for.
, fileCountLimit ? bundle.fileCountLimit or null
  # --deny: findings to make errors, e.g. [ "warnings" ] or [ "missing/store-reference" ]
  # (a config file naming an absent CA bundle fails the build even when the command
  # does not read it).
, deny ? [ ]
, extraArgs ? [ ]
  # false: never fail; $out/exit-code holds the tool's exit code (0 pass, 1 fail,
  # 2 rejected, 3 could not check) for a CI step that reads the reports itself.
, failOnFindings ? true
}:

let
  bundleName = bundle.name or "bundle";
  stripped = builtins.match "(.+)\\.(tar\\.gz|tgz)" bundleName;
  baseName = if stripped == null then bundleName else builtins.head stripped;
  drvName = if name == null then "nomad-chroot-check-${baseName}" else name;
  shQuote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";
  opt = flag: value: if value == null then [ ] else [ flag (toString value) ];
  chrootArgs =
    if chrootEnv == null then
      throw "check.nix: chrootEnv = null is gone; say what the clients have: a list of \"SRC=DST\", \"none\", or \"nomad-default\""
    else if builtins.isList chrootEnv then
      (if chrootEnv == [ ] then [ "--chroot-env" "none" ]
       else builtins.concatMap (e: [ "--chroot-env" e ]) chrootEnv)
    else [ "--chroot-env" chrootEnv ];
  args =
    [ "--destination" destination ]
    ++ chrootArgs
    ++ opt "--nomad-version" nomadVersion
    ++ opt "--archive" archive
    ++ opt "--file-count-limit" fileCountLimit
    ++ builtins.concatMap (d: [ "--deny" d ]) deny
    ++ (if run then [ ] else [ "--no-run" ])
    ++ extraArgs
    ++ [ "${bundle}" ]
    ++ (if command == [ ] then [ ] else [ "--" ] ++ command);
  argv = builtins.concatStringsSep " " (map shQuote args);
  tool = "${nomad-chroot-check}/bin/nomad-chroot-check";

  script = ''
    set -u
    mkdir -p "$out"
    rc=0
    ${tool} --format json ${argv} > "$out/report.json" || rc=$?
    ${tool} --format junit ${argv} > "$out/junit.xml" || true
    ${tool} --format text ${argv} > "$out/report.txt" || true
    cat "$out/report.txt"
    if [ "$rc" -ne 0 ]; then
      case "$rc" in
        1) why="the bundle is not self-contained for this task" ;;
        2) why="the bundle was rejected (Nomad would refuse the artifact)" ;;
        3) why="the check could not be carried out in this build" ;;
        *) why="unexpected exit code" ;;
      esac
      echo "error: nomad-chroot-check ${bundle}: $why (exit $rc); the report is above" >&2
      ${if failOnFindings then "exit 1" else ''echo "$rc" > "$out/exit-code"''}
    else
      echo 0 > "$out/exit-code"
    fi
  '';
in
assert run -> command != [ ]
  || throw "check.nix: run = true needs the task's command, e.g. command = [ \"/usr/local/bin/app\" ]";
runCommand drvName
{
  preferLocalBuild = true;
  allowSubstitutes = false;
  passthru = { inherit bundle command chrootEnv; };
  meta.description = "nomad-chroot-check's verdict on ${bundleName} under Nomad's exec driver";
}
  script
