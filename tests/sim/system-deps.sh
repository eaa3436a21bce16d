#!/usr/bin/env bash
# Installs the Debian packages the simulated cluster needs, only those missing.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "error: the simulated Spark cluster needs root (network namespaces, sshd, dockerd). Run 'make test' as root." >&2
  exit 1
fi
# command -> Debian package that provides it
declare -A need=(
  [sshd]=openssh-server [ssh]=openssh-client [ip]=iproute2 [iptables]=iptables
  [dockerd]=docker.io [debootstrap]=debootstrap [busybox]=busybox-static
  [pkill]=procps [curl]=curl [nsenter]=util-linux [rsync]=rsync [sudo]=sudo
  [cron]=cron [crontab]=cron
)
missing=()
for cmd in "${!need[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The simulated nodes' busybox image needs a static busybox, not the dynamic one some images ship.
if [ -e /bin/busybox ] && ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
