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

  # Requirements whose PyPI names nixpkgs does not provide under that name; the same modules come
  # from elsewhere:
  # - webrtcvad-wheels: nixpkgs' `webrtcvad` builds the same `webrtcvad` module from source;
  # - pgserver (a PostgreSQL inside a wheel): PostgreSQL comes from nixpkgs, on PATH;
  # - psycopg[binary]: nixpkgs' psycopg is built against its own libpq; no binary wheel needed.
  removedRequirements = [ "webrtcvad-wheels" "pgserver" ];

  mkDialtone = ps:
    { pname, dir, module, dependencies, runTests ? false }:
    ps.buildPythonPackage {
      inherit pname dependencies;
      version = versionOf dir module;
      pyproject = true;
      src = root + "/${dir}";
      build-system = [ ps.hatchling ];
      pythonRemoveDeps = removedRequirements;
      pythonImportsCheck = [ "dialtone.${module}" ];
      # Only the libraries' unit tests run in the sandbox; the others need PostgreSQL, PulseAudio,
      # D-Bus and a network, which `make test` and .ci/run start.
      doCheck = runTests;
      nativeCheckInputs = [ ps.pytestCheckHook ps.pytest-asyncio ps.pytest-timeout ps.hypothesis ];
      # The workspace's pytest settings live in the root pyproject.toml, outside this source.
      pytestFlagsArray = [ "--import-mode=importlib" "-o" "asyncio_mode=auto" ];
      meta = {
        description = "Dialtone ${pname}";
        license = lib.licenses.mit;
        platforms = lib.platforms.linux;
      };
    };

  python = pkgs.python311.override {
    self = python;
    packageOverrides = self: super: {
      dialtone-crypto = mkDialtone self {
        pname = "dialtone-crypto";
        dir = "libs/crypto";
        module = "crypto";
        dependencies = [ self.cryptography ];
        runTests = true;
      };
      dialtone-wire = mkDialtone self {
        pname = "dialtone-wire";
        dir = "libs/wire";
        module = "wire";
        dependencies = [ self.attrs self.cattrs ];
        runTests = true;
      };
      dialtone-keystore = mkDialtone self {
        pname = "dialtone-keystore";
        dir = "libs/keystore";
        module = "keystore";
        dependencies = [ self.cryptography ];
        runTests = true;
      };
      dialtone-ptt = mkDialtone self {
        pname = "dialtone-ptt";
        dir = "libs/ptt";
        module = "ptt";
        dependencies = [ self.dbus-next self.pynput ];
      };
      dialtone-server = mkDialtone self {
        pname = "dialtone-server";
        dir = "services/server";
        module = "server";
        dependencies = [
          self.dialtone-crypto
          self.dialtone-wire
          self.aiohttp
          self.asyncpg
          self.yoyo-migrations
          self.psycopg
        ];
      };
      dialtone-client = mkDialtone self {
        pname = "dialtone-client";
        dir = "clients/tui";
        module = "client";
        dependencies = [
          self.dialtone-crypto
          self.dialtone-wire
          self.dialtone-keystore
          self.textual
          self.aiohttp
          self.dbus-next
        ];
      };
      dialtone-voiced = mkDialtone self {
        pname = "dialtone-voiced";
        dir = "clients/voiced";
        module = "voiced";
        dependencies = [
          self.dialtone-wire
          self.dialtone-ptt
          self.aiortc
          self.numpy
          self.sounddevice
          self.webrtcvad
        ];
      };
    };
  };

  pythonPackages = python.pkgs;

  thirdParty = ps: with ps; [
    aiohttp
    aiortc
    asyncpg
    attrs
    cattrs
    cryptography
    dbus-next
    numpy
    psycopg
    pynput
    sounddevice
    textual
    webrtcvad
    yoyo-migrations
  ];

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

  sourceDirs = [
    "libs/crypto/src"
    "libs/wire/src"
    "libs/keystore/src"
    "libs/ptt/src"
    "services/server/src"
    "clients/tui/src"
    "clients/voiced/src"
  ];
}
