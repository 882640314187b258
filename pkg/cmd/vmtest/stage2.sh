#!/bin/busybox sh
# Stage 2, PID 1 on a tmpfs "/": set the machine up as systemd sets up a
# cgroup v2 host, run the tests of /vmtest/plan, say the result on the
# console and power off (the host reads the last line).
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/tincan/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
export TINCAN_PREBUILT=/tincan/bin # testenv copies the binaries it would build
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=0755 tmpfs /run
chmod 1777 /tmp

# Only cgroup2, with nsdelegate, as systemd mounts it. A controller's files
# appear in a child only when the parent enables it in cgroup.subtree_control;
# systemd enables them all at the root, and keeps its own processes in a
# leaf, init.scope: so does this one.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
done
mkdir /sys/fs/cgroup/init.scope
echo $$ >/sys/fs/cgroup/init.scope/cgroup.procs

# systemd raises pid_max to its largest (4194304), which makes ps's PID
# column seven digits wide, as the transcripts show it.
echo 4194304 >/proc/sys/kernel/pid_max

# systemd makes every mount shared (mount_namespaces(7)): a lesson that
# forgets MS_PRIVATE leaks its mounts here, as on a laptop.
mount --make-rshared /

# Hosts that run Docker have br_netfilter loaded (nothing loads it on
# demand): bridged packets then pass the nft hooks too, and tincan's rules
# must let them through. Every other module loads on first use.
modprobe br_netfilter
ip link set lo up

echo "vmtest: kernel $(uname -r), $(nproc) CPUs, up $(cut -d' ' -f1 /proc/uptime)s; cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
passed=0 failed=0
while read -r dir bin run skip; do
	start=$(date +%s)
	(cd "/tincan/src/$dir" && "/tincan/test/$bin" -test.count=1 -test.run="$run" -test.skip="$skip" $(cat /vmtest/testflags) </dev/null)
	rc=$?
	if [ $rc = 0 ]; then
		passed=$((passed + 1)) word=ok
	else
		failed=$((failed + 1)) word=FAIL
	fi
	echo "vmtest: $word $dir -test.run='$run' -test.skip='$skip' $(($(date +%s) - start))s"
done </vmtest/plan

# Every test package checks its own leftovers; this sees what slipped
# between them.
left=$(find /sys/fs/cgroup/tincan -mindepth 1 -type d 2>/dev/null)
if [ -n "$left" ]; then
	echo "vmtest: cgroups left behind:" $left
	failed=$((failed + 1))
fi
echo "vmtest: $passed passed, $failed failed"
if [ $failed = 0 ]; then
	echo "VMTEST PASS"
else
	echo "VMTEST FAIL $failed"
fi
sync
poweroff -f
