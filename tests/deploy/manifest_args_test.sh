#!/usr/bin/env bash
# Starts the real server with the container arguments of every manifest (deploy/k8s base and
# overlays, the Helm chart's rendered scenarios, the Dockerfile's ENTRYPOINT + CMD): model ->
# stories260K, ports -> free loopback ports, Secret files -> generated ones; --check-config must
# exit 0, then every probe and port the manifest names must answer and SIGTERM must exit 0.
# Details: tests/deploy/manifest_args.py. CTest: manifest_args (label "deploy").
# Usage: manifest_args_test.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 1; }
/usr/bin/python3 -c 'import grpc, yaml' || { echo "/usr/bin/python3 needs python3-grpcio and python3-yaml" >&2; exit 1; }
exec timeout 240 /usr/bin/python3 "$root/tests/deploy/manifest_args.py" --phalanx "$build/bin/phalanx" \
  --model "$root/../shared/models/stories260K.gguf"
