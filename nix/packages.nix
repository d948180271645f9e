# The three Dialtone binaries (and their libraries, for reuse), built from nix/python-env.nix.
{ pkgs, dialtone }:
let
  ps = dialtone.pythonPackages;
  postgresql = pkgs.postgresql_15;

  # A Python package as an application: its console script, with nothing leaking into the
  # environment of whoever installs it.
  application = package: extraWrap:
    (ps.toPythonApplication package).overridePythonAttrs (old: {
      makeWrapperArgs = (old.makeWrapperArgs or [ ]) ++ extraWrap;
    });
in
rec {
  # The server's embedded-database mode runs initdb/pg_ctl: give it nixpkgs' PostgreSQL.
  dialtone-server = application ps.dialtone-server [ "--prefix" "PATH" ":" "${postgresql}/bin" ];
  dialtone = application ps.dialtone-client [ ];
  dialtone-voiced = application ps.dialtone-voiced [ ];

  # Libraries other projects reuse on their own.
  dialtone-crypto = ps.dialtone-crypto;
  dialtone-keystore = ps.dialtone-keystore;

  default = pkgs.symlinkJoin {
    name = "dialtone";
    paths = [ dialtone-server dialtone dialtone-voiced ];
  };
}
