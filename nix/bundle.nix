# A Nomad-ready bundle: the runtime closure of `paths` as one .tar.gz for an `artifact`
# block with `destination = "/"`.
#
#   mkBundle = import ./nix/bundle.nix pkgs;      # nixpkgs, or any set with these tools
#   bundle = mkBundle { name = "app-1.0"; paths = [ app ]; shWrapper = pkgs.bash; };
#
# Why each choice (sources: ../shared/docs/nomad-exec.md §6.5, §8):
# - Nomad's artifact unpacker (hashicorp/go-getter:decompress_tar.go `untar`) writes every
#   symlink and hard link as an EMPTY regular file. Nix closures are full of both (lib
#   sonames, bin/ links, store optimisation), so the archive must hold none: `tar -h
#   --hard-dereference` stores what they point to.
# - Member names stay absolute (`tar -P`): go-getter joins them under the destination, so
#   `/nix/store/…` lands at the task root's /nix/store with `destination = "/"`.
# - go-getter counts every header, directories included, and refuses an archive with as
#   many entries as `decompression_file_count_limit` (default 4096; the counter is bumped
#   before each `Next()`, EOF included). The build fails here rather than on the client.
# - Sorted names, mtime 1, owner 0, GNU format (no PAX atime/ctime), `gzip -n`: the same
#   closure always gives the same bytes.
#
# callPackage-shaped: `mkBundle = pkgs.callPackage ./nix/bundle.nix { };` (or
# `import ./nix/bundle.nix pkgs`). It needs only runCommand, closureInfo, GNU tar and gzip
# from nixpkgs; the tests pass a small stand-in set with the same functions
# (nix/tests/pkgs.nix).
{ runCommand
, closureInfo
, gnutar # GNU tar ≥ 1.28 (--sort=name, --hard-dereference)
, gzip
, ...
}:

{ name
  # A derivation or a list of them: their runtime closure is the bundle.
, paths
  # Store paths to leave out although the closure holds them, e.g. a buildEnv symlink farm
  # whose dereferenced copy would duplicate its members (the example repo's --exclude).
, exclude ? [ ]
  # A shell for the bundle's `bin/sh` (a derivation with bin/sh, or the path of a shell
  # binary). `bin/sh` is then a script that sets PATH to `shPath`'s bin/ directories and
  # execs this shell, as the example repo's makeWrapper does. null: no bin/sh.
, shWrapper ? null
, shPath ? (if builtins.isList paths then paths else [ paths ])
  # Names for `usr/local/bin/<name>` wrappers: `#!/bin/sh`, `set -e`, `exec <name> "$@"`.
, binWrappers ? [ ]
  # Nomad client's artifact.decompression_file_count_limit; 0 disables the check.
, fileCountLimit ? 4096
}:

let
  pathList = if builtins.isList paths then paths else [ paths ];
  isDrv = x: builtins.isAttrs x && (x.type or null) == "derivation";
  shell =
    if shWrapper == null then null
    else if isDrv shWrapper then "${shWrapper}/bin/sh"
    else toString shWrapper;
  roots = pathList ++ (if shell == null then [ ] else [ shell ] ++ shPath);

  # Every store path the roots need at run time (`$closure/store-paths`, one per line).
  closure = closureInfo { rootPaths = roots; };

  safeName = n: builtins.match "[A-Za-z0-9._+-]+" n != null && n != "." && n != "..";
  checkedWrappers = map
    (n: if safeName n then n
        else throw "bundle.nix: binWrappers entry `${n}` is not a plain file name")
    binWrappers;

  shQuote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
  binPath = builtins.concatStringsSep ":" (map (p: "${p}/bin") shPath);

  drvName =
    let n = builtins.stringLength name; in
    if n > 7 && builtins.substring (n - 7) 7 name == ".tar.gz" then name else "${name}.tar.gz";

  script = ''
    set -eu
    export LC_ALL=C
    # By absolute path: a busybox shell prefers its own applets to PATH, and busybox tar
    # lacks --sort, --mtime and --hard-dereference.
    tar=${shQuote "${gnutar}/bin/tar"}
    gzip=${shQuote "${gzip}/bin/gzip"}
    cd "$TMPDIR"

    sort -u "$closure/store-paths" > closure.all
    if [ -n "$excludePaths" ]; then
      printf '%s\n' $excludePaths > exclude.list
      grep -vxF -f exclude.list closure.all > closure.list || [ $? -eq 1 ]
    else
      cp closure.all closure.list
    fi
    if [ ! -s closure.list ]; then
      echo "error: bundle $name: nothing left to bundle after exclude" >&2
      exit 1
    fi

    # A symlink is stored as what it points to. One that points outside the store, or
    # nowhere, is left out with a warning: in an unsandboxed build (Debian's default)
    # `tar -h` would copy the builder's /etc or /run into the bundle, and Nomad would
    # have made the link an empty file anyway.
    : > outside.list
    # find -L: tar -h descends into symlinked directories, so the names to leave out
    # include the paths through them.
    while read -r p; do find -L "$p" 2>/dev/null || true; done < closure.list |
    while read -r l; do
      [ -L "$l" ] || continue
      t=$(readlink -f "$l" || true)
      case "$t" in
        /nix/store/*) if [ -e "$t" ]; then continue; fi ;;
      esac
      echo "warning: leaving out $l -> $(readlink "$l"): it points outside /nix/store or nowhere" >&2
      printf '%s\n' "$l" >> outside.list
    done

    mkdir root
    : > names.list
    if [ -n "$shell" ]; then
      mkdir -p root/bin
      {
        printf '#!%s\n' "$shell"
        if [ -n "$binPath" ]; then printf "export PATH='%s'\n" "$binPath"; fi
        printf 'exec %s "$@"\n' "$shell"
      } > root/bin/sh
      chmod 0555 root/bin/sh
      echo bin >> names.list
    fi
    if [ -n "$binWrappers" ]; then
      mkdir -p root/usr/local/bin
      for w in $binWrappers; do
        printf '#!/bin/sh\nset -e\nexec %s "$@"\n' "$w" > "root/usr/local/bin/$w"
        chmod 0555 "root/usr/local/bin/$w"
      done
      echo usr >> names.list
    fi
    cat closure.list >> names.list

    # Strict: every name left is readable, so any tar error fails the build.
    (cd root && "$tar" --create --file="$TMPDIR/bundle.tar" --format=gnu \
      --absolute-names --dereference --hard-dereference \
      --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner \
      --anchored --no-wildcards --exclude-from="$TMPDIR/outside.list" \
      --files-from="$TMPDIR/names.list")

    # Count as go-getter does: one per header, directories included (GNU tar folds
    # long-name headers into their entry, as Go's archive/tar does).
    entries=$("$tar" --list --absolute-names --file=bundle.tar | wc -l)
    echo "bundle $name: $entries entries, $(wc -l < closure.list) store paths"
    if [ "$fileCountLimit" -gt 0 ] && [ "$entries" -ge "$fileCountLimit" ]; then
      need=$((entries + 1))
      echo "error: bundle has $entries entries, more than Nomad's decompression_file_count_limit of $fileCountLimit allows (go-getter refuses an archive with as many entries as the limit: \"tar archive contains too many files\"); raise client.artifact.decompression_file_count_limit to at least $need and pass fileCountLimit = $need, or 0 to disable" >&2
      exit 1
    fi
    "$gzip" -n -9 < bundle.tar > "$out"
  '';
in
assert builtins.isInt fileCountLimit && fileCountLimit >= 0
  || throw "bundle.nix: fileCountLimit must be a non-negative integer (0 disables the check)";
runCommand drvName
{
  inherit closure;
  excludePaths = map toString exclude;
  shell = if shell == null then "" else shell;
  binPath = if shell == null then "" else binPath;
  binWrappers = checkedWrappers;
  fileCountLimit = toString fileCountLimit;
  preferLocalBuild = true;
  allowSubstitutes = false;
  passthru = {
    # For check.nix: check the bundle against the limit it was built for.
    inherit fileCountLimit closure;
    paths = pathList;
  };
  meta = {
    description = "Nomad exec-driver artifact of ${name}: its runtime closure as one .tar.gz for destination = \"/\"";
  };
}
  script
