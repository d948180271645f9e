# `nix develop`: Python 3.11 with every third-party requirement and dev tool, plus the services the
# tests and `make run` start (PostgreSQL, coturn, PulseAudio, D-Bus, Xvfb) and the tools that drive
# them (xdotool, tmux).
{ pkgs, dialtone }:
let
  postgresql = pkgs.postgresql_15;
in
pkgs.mkShell {
  name = "dialtone-dev";

  packages = [
    dialtone.devPython
    postgresql
    pkgs.coturn
    pkgs.portaudio
    pkgs.pulseaudio # the daemon, pactl, pacat, paplay
    pkgs.alsa-plugins
    pkgs.dbus
    pkgs.xorg.xorgserver # Xvfb
    pkgs.xdotool
    pkgs.tmux
    pkgs.ruff
    pkgs.gnumake
    pkgs.git
  ];

  # PortAudio (sounddevice) and libpq are loaded at run time, not linked.
  LD_LIBRARY_PATH = pkgs.lib.makeLibraryPath [ pkgs.portaudio postgresql.lib ];
  # Where the test harness finds initdb/pg_ctl when Debian's /usr/lib/postgresql is absent.
  DIALTONE_TEST_PG_BIN = "${postgresql}/bin";

  shellHook = ''
    # The workspace packages straight from the work tree, as `make test`'s editable installs do.
    root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
    export PYTHONPATH="${pkgs.lib.concatMapStringsSep ":" (dir: "$root/${dir}") dialtone.sourceDirs}''${PYTHONPATH:+:$PYTHONPATH}"
    echo "dialtone dev shell: python $(python --version 2>&1 | cut -d' ' -f2), PostgreSQL ${postgresql.version}; run pytest, ruff, mypy directly"
  '';
}
