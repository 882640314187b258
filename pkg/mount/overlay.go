package mount

import "fmt"

// Overlay mounts an overlay filesystem on target: lower is the colon-separated
// list of read-only layers, TOP FIRST; upper receives the writes; work is an
// empty directory on upper's filesystem that overlay needs for atomic
// copy-up and whiteouts. (Docs: filesystems/overlayfs.rst in the kernel tree.)
// soulwing/can (docs/ARCHITECTURE.md, Sources) used aufs, which mainline Linux never merged; overlayfs is
// what Docker and containerd use today.
//
// userxattr is for a rootless container: overlay then keeps its own marks
// (an opaque directory, a redirect) in user.overlay.* extended attributes,
// which an unprivileged user may write, instead of trusted.overlay.*, which
// only the host's root may (can pull writes the ones that match, see
// pkg/rootfs ImportLayer). Whiteouts are 0/0 character devices either way.
func Overlay(target, lower, upper, work string, userxattr bool) error {
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if userxattr {
		data += ",userxattr"
	}
	return Mount("overlay", target, "overlay", 0, data)
}
