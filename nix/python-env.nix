# The Python 3.11 package set of Dialtone: nixpkgs' python311Packages plus the seven workspace
# packages, built from their own pyproject.toml with hatchling (the version comes from each
# package's __init__.__version__, as with pip and Pants).
#
# Returns { python, pythonPackages, devPython, sourceDirs }.
{ pkgs, root ? ../. }:
let
  inherit (pkgs) lib;

  # "0.1.0" out of `__version__ = "0.1.0"` in <dir>/src/dialtone/<module>/__init__.py.
  versionOf = dir: module:
    let
      lines = lib.splitString "\n"
        (builtins.readFile (root + "/${dir}/src/dialtone/${module}/__init__.py"));
      found = lib.remove null (map (builtins.match "__version__ = \"([^\"]+)\".*") lines);
    in
    if found == [ ] then throw "no __version__ in ${dir}" else builtins.head (builtins.head found);

  # The package's requirements, read from its pyproject.toml ([project].dependencies), so the Nix
  # build cannot drift from what pip and Pants install. Each PyPI name maps to the nixpkgs
  # attribute of the same name, except:
  nixpkgsNames = {
    # nixpkgs' `webrtcvad` builds the same `webrtcvad` module from source.
    "webrtcvad-wheels" = "webrtcvad";
    "python-xlib" = "xlib";
  };
  # pgserver (a PostgreSQL inside a wheel) has no nixpkgs package: PostgreSQL comes from nixpkgs,
  # on PATH (see packages.nix). psycopg[binary] becomes nixpkgs' psycopg, built against its libpq.
  removedRequirements = [ "pgserver" ];

  requirementName = requirement:
    lib.toLower (builtins.head (builtins.match "[[:space:]]*([A-Za-z0-9][A-Za-z0-9._-]*).*" requirement));

  pyprojectOf = dir: builtins.fromTOML (builtins.readFile (root + "/${dir}/pyproject.toml"));

  requirementNamesOf = dir:
    builtins.filter (name: !(builtins.elem name removedRequirements))
      (map requirementName ((pyprojectOf dir).project.dependencies or [ ]));

  nixpkgsAttr = ps: name: ps.${nixpkgsNames.${name} or name};

  dependenciesOf = ps: dir: map (nixpkgsAttr ps) (requirementNamesOf dir);

  mkDialtone = ps:
    { dir, module, runTests ? false }:
    let
      pname = (pyprojectOf dir).project.name;
    in
    ps.buildPythonPackage {
      inherit pname;
      version = versionOf dir module;
      pyproject = true;
      src = root + "/${dir}";
      build-system = [ ps.hatchling ];
      dependencies = dependenciesOf ps dir;
      # Names nixpkgs provides differently (see above) would fail the runtime-deps check.
      pythonRemoveDeps = removedRequirements ++ builtins.attrNames nixpkgsNames;
      pythonImportsCheck = [ "dialtone.${module}" ];
      # Only the libraries' unit tests run in the sandbox; the others need PostgreSQL, PulseAudio,
      # D-Bus and a network, which `make test` and .ci/run start.
      doCheck = runTests;
      nativeCheckInputs = [ ps.pytestCheckHook ps.pytest-asyncio ps.pytest-timeout ps.hypothesis ];
      # The workspace's pytest settings live in the root pyproject.toml, outside this source.
      pytestFlagsArray = [ "--import-mode=importlib" "-o" "asyncio_mode=auto" ];
      meta = {
        description = (pyprojectOf dir).project.description or pname;
        license = lib.licenses.mit;
        platforms = lib.platforms.linux;
      };
    };

  # Workspace folder and import name of every Dialtone package; the attribute is the dist name.
  workspace = {
    dialtone-crypto = { dir = "libs/crypto"; module = "crypto"; runTests = true; };
    dialtone-wire = { dir = "libs/wire"; module = "wire"; runTests = true; };
    dialtone-keystore = { dir = "libs/keystore"; module = "keystore"; runTests = true; };
    dialtone-ptt = { dir = "libs/ptt"; module = "ptt"; };
    dialtone-server = { dir = "services/server"; module = "server"; };
    dialtone-client = { dir = "clients/tui"; module = "client"; };
    dialtone-voiced = { dir = "clients/voiced"; module = "voiced"; };
  };

  python = pkgs.python311.override {
    self = python;
    packageOverrides = self: super:
      builtins.mapAttrs (_: package: mkDialtone self package) workspace;
  };

  pythonPackages = python.pkgs;

  # Every third-party requirement of the workspace, from the packages' pyproject.toml files.
  thirdParty = ps:
    let
      names = lib.concatMap (package: requirementNamesOf package.dir) (builtins.attrValues workspace);
    in
    map (nixpkgsAttr ps) (lib.unique (builtins.filter (name: !(lib.hasPrefix "dialtone-" name)) names));

  devTools = ps: with ps; [
    build
    hatchling
    hypothesis
    mypy
    pytest
    pytest-asyncio
    pytest-timeout
  ];
in
{
  inherit python pythonPackages;

  # Interpreter of the dev shell: every third-party requirement and the dev tools. The Dialtone
  # packages themselves are used from the work tree (PYTHONPATH, see devshell.nix).
  devPython = python.withPackages (ps: thirdParty ps ++ devTools ps);

  sourceDirs = map (package: "${package.dir}/src") (builtins.attrValues workspace);
}
