#!/usr/bin/env bash
# Re-pins the Containerfile's base images: resolves each tag to its current digest (crane,
# docker buildx imagetools or skopeo, whichever is installed) and rewrites the RUST_IMAGE and
# RUNTIME_IMAGE lines of k8s/Containerfile. Review the diff, rebuild, test, then commit.
#
# Usage: k8s/pin-images.sh [rust-tag] [runtime-tag]
#        (default docker.io/library/rust:1-bookworm and docker.io/library/debian:bookworm-slim)
set -euo pipefail
cd "$(dirname "$0")"

digest() {
    if command -v crane >/dev/null; then
        crane digest "$1"
    elif command -v docker >/dev/null && docker buildx version >/dev/null 2>&1; then
        docker buildx imagetools inspect "$1" --format '{{json .Manifest.Digest}}' | tr -d '"'
    elif command -v skopeo >/dev/null; then
        skopeo inspect --format '{{.Digest}}' "docker://$1"
    else
        echo "need crane, docker buildx or skopeo to ask the registry" >&2
        exit 1
    fi
}

pin() {
    local arg=$1 tag=$2 d
    d=$(digest "$tag")
    [[ $d == sha256:* ]] || { echo "unexpected digest for $tag: $d" >&2; exit 1; }
    sed -i "s|^ARG $arg=.*|ARG $arg=$tag@$d|" Containerfile
    echo "$arg=$tag@$d"
}

pin RUST_IMAGE "${1:-docker.io/library/rust:1-bookworm}"
pin RUNTIME_IMAGE "${2:-docker.io/library/debian:bookworm-slim}"
