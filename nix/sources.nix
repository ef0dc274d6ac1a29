# The pins of sources.json, in niv's file format (`niv update nixpkgs` moves the pin),
# fetched with the builtin fetchers so evaluation needs nothing but Nix itself.
let
  spec = builtins.fromJSON (builtins.readFile ./sources.json);
  fetch = name: s:
    if s.type == "tarball" then
      builtins.fetchTarball { name = "${name}-src"; inherit (s) url sha256; }
    else if s.type == "file" then
      builtins.fetchurl { inherit (s) url sha256; }
    else
      throw "nix/sources.json: ${name} has type `${s.type}`; only tarball and file are supported";
in
builtins.mapAttrs fetch spec
