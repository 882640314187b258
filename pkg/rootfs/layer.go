package rootfs

import (
	"errors"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// The OCI image spec's whiteouts (image-spec, layer.md, "Whiteouts"): a layer
// cannot hold "no file here", so it holds a marker. ".wh.NAME" says NAME of
// the layers below is deleted; a directory holding ".wh..wh..opq" is opaque:
// nothing below shows through it, only what this layer puts in it.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// ImportLayer unpacks one image layer, an uncompressed tar stream, into dir
// (missing or empty), with Import's rules: no "..", every path resolved
// inside dir with RESOLVE_IN_ROOT, device nodes skipped (a leading "/" is
// dropped, as docker does: "/etc/passwd" is dir's etc/passwd).
//
// overlayfs does not read OCI's whiteout files: it has markers of its own
// (filesystems/overlayfs.rst, "whiteouts and opaque directories"). So
// ImportLayer turns ".wh.NAME" into a character device with device number
// 0/0 named NAME, and ".wh..wh..opq" into the xattr overlay.opaque = "y" on
// its directory. The xattr is trusted.overlay.opaque as root; trusted.* is
// root's alone, so as any other user it is user.overlay.opaque, which overlay
// reads when mounted with the userxattr option (Linux 5.11), as a rootless
// runtime mounts it. A 0/0 character device is the one device anyone may
// create (mknod(2) allows it without CAP_MKNOD since Linux 5.8), so no
// other device number is ever made.
//
// A whiteout hides the layers below, never its own layer (the spec says so):
// the markers are applied after the whole layer is unpacked, and one whose
// NAME the layer itself holds leaves that file alone (a directory becomes
// opaque instead, so its lower contents stay deleted).
func ImportLayer(r io.Reader, dir string) error {
	if err := emptyDir(dir); err != nil {
		return err
	}
	return unpack(r, dir, true)
}

// whiteout turns one OCI marker, name (cleaned), into overlay's.
func whiteout(root int, name string) error {
	parent, base := path.Split(name)
	pfd, err := mkdirAll(root, path.Clean(parent))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == whiteoutOpaque {
		return opaque(pfd, ".")
	}
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) {
		return nil // other ".wh..wh." names are aufs's bookkeeping, not deletions
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return errors.New("names no file")
	}
	var st unix.Stat_t
	err = unix.Fstatat(pfd, target, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return opaque(pfd, target) // this layer's own directory replaces the one below
	case err == nil:
		return nil // this layer's own file already hides the one below
	case !errors.Is(err, unix.ENOENT):
		return err
	}
	return unix.Mknodat(pfd, target, unix.S_IFCHR, 0) // mode 0, device 0/0
}

// opaque marks the directory name, below the directory pfd, opaque.
func opaque(pfd int, name string) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsetxattr(fd, OpaqueXattr(), []byte("y"), 0)
}

// OpaqueXattr is the name of the xattr that makes a directory opaque to
// overlay, for the user running ImportLayer (see there).
func OpaqueXattr() string {
	if os.Geteuid() == 0 {
		return "trusted.overlay.opaque"
	}
	return "user.overlay.opaque"
}
