#!/usr/bin/env bash
# Installs the reference peer (oidc-provider, exact version pinned in
# oidc-provider/package.json and package-lock.json) with `npm ci`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peer="$here/oidc-provider"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup.sh: node and npm are required (node >= 20; oidc-provider 9 asks for node 22 LTS or later)" >&2
  exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if (( major < 20 )); then
  echo "setup.sh: node $(node --version) is too old; need >= 20" >&2
  exit 1
fi

cd "$peer"
npm ci --no-audit --no-fund --loglevel=error
test -f node_modules/oidc-provider/package.json || { echo "setup.sh: npm ci did not install oidc-provider" >&2; exit 1; }
echo "peer: oidc-provider $(node -p 'require("./node_modules/oidc-provider/package.json").version') installed in $peer"
