#!/bin/sh
# Runs a command in private network and mount namespaces, so a developer's simulated cluster cannot
# collide with another one on the same machine (the subnets are fixed). Usage:
#   SPARKCTL_SIM_DIR=/var/lib/sparkctl-sim/mine unshare --net --mount --propagation private tests/sim/isolated.sh CMD...
set -e
mkdir -p /run/netns /run/sparkctl-sim
mount -t tmpfs tmpfs /run/netns
mount -t tmpfs tmpfs /run/sparkctl-sim
umount -l /sys
mount -t sysfs sysfs /sys
ip link set lo up
exec "$@"
