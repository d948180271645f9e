# Dialtone's Nix entry point: a development shell and the three binaries for Linux.
# The expressions live under nix/; docs/build.md says what of this was checked where.
{
  description = "Dialtone: Linux-first end-to-end encrypted chat (server, TUI client, voice daemon)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";
  };

  outputs = { self, nixpkgs }:
    let
      # Linux is the supported platform (release artifacts and runtime assumptions are Linux's).
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f:
        nixpkgs.lib.genAttrs systems (system: f (import nixpkgs { inherit system; }));
      dialtoneFor = pkgs: import ./nix/python-env.nix { inherit pkgs; root = ./.; };
    in
    {
      packages = forAllSystems (pkgs:
        import ./nix/packages.nix { inherit pkgs; dialtone = dialtoneFor pkgs; });

      devShells = forAllSystems (pkgs: {
        default = import ./nix/devshell.nix { inherit pkgs; dialtone = dialtoneFor pkgs; };
      });

      apps = forAllSystems (pkgs:
        let
          packages = self.packages.${pkgs.system};
          app = package: program: {
            type = "app";
            program = "${package}/bin/${program}";
          };
        in
        {
          dialtone-server = app packages.dialtone-server "dialtone-server";
          dialtone = app packages.dialtone "dialtone";
          dialtone-voiced = app packages.dialtone-voiced "dialtone-voiced";
          default = app packages.dialtone "dialtone";
        });

      formatter = forAllSystems (pkgs: pkgs.nixpkgs-fmt);
    };
}
