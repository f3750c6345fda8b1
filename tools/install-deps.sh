#!/usr/bin/env bash
# Installs every build and test dependency of vkllm from Debian 12 packages.
# Usage: tools/install-deps.sh [--dev]   (--dev adds the Python oracle stack used to make fixtures)
set -euo pipefail
sudo_cmd=""
if [[ $(id -u) -ne 0 ]]; then sudo_cmd="sudo"; fi
pkgs=(
  build-essential cmake ninja-build pkg-config git
  libvulkan-dev mesa-vulkan-drivers vulkan-tools vulkan-validationlayers
  glslc libshaderc-dev glslang-dev glslang-tools spirv-tools
  nlohmann-json3-dev libspdlog-dev libfmt-dev libboost-dev libboost-filesystem-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libcpp-httplib-dev
  libstb-dev libpcre2-dev libicu-dev
  clang libclang-rt-14-dev python3-jinja2 python3-jsonschema
  nodejs npm python3 haproxy
)
if [[ ${1:-} == --dev ]]; then
  pkgs+=(python3-torch libopenblas0-pthread python3-numpy python3-pil python3-regex python3-yaml python3-requests
         python3-tqdm python3-filelock python3-packaging bible-kjv bible-kjv-text)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs may come from another repository that bundles npm: accept any working npm.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm}")
fi
if command -v node >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
