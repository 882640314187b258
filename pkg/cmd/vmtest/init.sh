#!/bin/busybox sh
# Stage 1, PID 1 on the initramfs. The kernel unpacked the archive into
# "rootfs", the first mount of all, which can never be unmounted: pivot_root(2)
# refuses to move a process's root away from it (EINVAL), so no container
# could start on it. Make a tmpfs the root instead, as switch_root does
# (mount --move it onto "/", then chroot into it), with the initramfs's
# directories bind-mounted into it rather than copied (a copy of the test
# binaries costs TCG half a minute).
bb=/bin/busybox
$bb mkdir /newroot
$bb mount -t tmpfs -o mode=0755 tmpfs /newroot
for d in /*; do
	[ "$d" = /newroot ] && continue
	$bb mkdir "/newroot$d"
	case $d in
	/bin | /etc | /lib* | /usr | /tincan | /vmtest) $bb mount --bind "$d" "/newroot$d" ;;
	esac
done
cd /newroot
$bb mount -o move . /
exec $bb chroot . /vmtest/stage2.sh
