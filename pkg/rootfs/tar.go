package rootfs

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/mount"
)

// ImportFile unpacks the tarball at file into dir, like Import.
func ImportFile(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := Import(f, dir); err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	return nil
}

// Import unpacks a root filesystem tarball (plain or gzip-compressed, as
// docker export and alpine-minirootfs make them) into dir, which must be
// missing or empty.
//
// A tarball is untrusted input: an entry named "../../etc/cron.d/x", or a
// symlink "lib -> /" followed by an entry "lib/etc/shadow", would write
// anywhere on the host. So entries whose names are absolute or climb with ".."
// are refused, and every file is created relative to a directory opened with
// RESOLVE_IN_ROOT (see openInRoot): a symlink in the archive is resolved the
// way the container will resolve it, inside dir. Hard links are made to files
// found the same way.
//
// Owners are set only when running as root. Device nodes and fifos are
// skipped: a container gets a fresh /dev (pkg/mount.Dev), and creating device
// nodes from an archive is how an image would smuggle in the host's disk.
func Import(r io.Reader, dir string) (err error) {
	_, serr := os.Lstat(dir)
	made := errors.Is(serr, os.ErrNotExist)
	if err := emptyDir(dir); err != nil {
		return err
	}
	defer func() {
		if err != nil { // leave dir as it was: missing, or empty
			if made {
				os.RemoveAll(dir)
				return
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}()
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		r = zr
	} else {
		r = br
	}
	return unpack(r, dir, false)
}

// unpack extracts the tar stream r into dir, every entry through clean and
// extract. An image layer (layer true, see ImportLayer) may name its entries
// from "/", and holds OCI whiteouts, applied once the whole layer is out.
func unpack(r io.Reader, dir string, layer bool) error {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	defer unix.Close(root)

	var dirs []*tar.Header // modes set last, so a read-only dir can still be filled
	var whiteouts []string // cleaned names of a layer's markers
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if layer {
			// Names are relative to the layer's root; some writers (umoci)
			// put a "/" in front, which GNU tar and Docker drop, and so does
			// this: "/etc" is "etc". ".." stays refused.
			h.Name = strings.TrimLeft(h.Name, "/")
			if h.Typeflag == tar.TypeLink {
				h.Linkname = strings.TrimLeft(h.Linkname, "/")
			}
		}
		name, err := clean(h.Name)
		if err == nil && layer && strings.HasPrefix(path.Base(name), whiteoutPrefix) {
			whiteouts = append(whiteouts, name)
			continue
		}
		if err == nil {
			err = extract(root, name, h, tr)
		}
		if err != nil {
			return fmt.Errorf("tar entry %q: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeDir {
			dirs = append(dirs, h)
		}
	}
	for _, w := range whiteouts {
		if err := whiteout(root, w); err != nil {
			return fmt.Errorf("whiteout %q: %w", w, err)
		}
	}
	return setDirModes(root, dirs)
}

// setDirModes gives the archive's directories their modes, last and deepest
// first, so that a read-only directory could still be filled meanwhile.
func setDirModes(root int, dirs []*tar.Header) error {
	for i := len(dirs) - 1; i >= 0; i-- {
		name, _ := clean(dirs[i].Name)
		fd, err := openInRoot(root, name, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("tar entry %q: %w", dirs[i].Name, err)
		}
		err = unix.Fchmod(fd, mode(dirs[i]))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("tar entry %q: %w", dirs[i].Name, err)
		}
	}
	return nil
}

// clean refuses names that are absolute or climb out with "..", and returns
// the rest in a canonical form ("./bin/" becomes "bin", "./" becomes ".").
func clean(name string) (string, error) {
	if path.IsAbs(name) {
		return "", errors.New("absolute name refused: it would land outside the root filesystem")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", errors.New(`".." refused: it would land outside the root filesystem`)
		}
	}
	return path.Clean(name), nil
}

func extract(root int, name string, h *tar.Header, body io.Reader) error {
	switch h.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return nil // see Import
	case tar.TypeDir:
		if name == "." {
			return nil
		}
	case tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
	default:
		return fmt.Errorf("unsupported type %q", h.Typeflag)
	}
	parent, base := path.Split(name)
	pfd, err := mkdirAll(root, path.Clean(parent))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if h.Typeflag != tar.TypeDir {
		// Replace whatever is there; above all never write through an
		// existing symlink, which could point anywhere.
		if err := unix.Unlinkat(pfd, base, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		// 0700 until the end of Import, which sets the archive's mode.
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	case tar.TypeSymlink:
		// The target is only text; it is resolved later, in the container.
		if err := unix.Symlinkat(h.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := clean(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
		src, err := openInRoot(root, target, unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
		defer unix.Close(src)
		// linkat(2) with AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; through the
		// /proc/self/fd magic link it works for anyone (see linkat(2), AT_EMPTY_PATH).
		if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", src), pfd, base, unix.AT_SYMLINK_FOLLOW); err != nil {
			return err
		}
		return nil // a hard link shares its target's owner and mode
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), name)
		_, err = io.Copy(f, body)
		if err == nil {
			err = setOwnerMode(fd, h)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if os.Geteuid() == 0 {
		return unix.Fchownat(pfd, base, h.Uid, h.Gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

// setOwnerMode sets a file's owner (as root) and then its mode: chown clears
// the set-user-ID bit, so the order matters for /bin/su.
func setOwnerMode(fd int, h *tar.Header) error {
	if os.Geteuid() == 0 {
		if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	return unix.Fchmod(fd, mode(h))
}

func mode(h *tar.Header) uint32 { return uint32(h.Mode) & 0o7777 }

// mkdirAll opens the directory dir below root, creating what is missing
// (mode 0755, like tar does for directories the archive does not list), each
// symlink on the way followed inside root (mount.MkdirAllInRoot).
func mkdirAll(root int, dir string) (int, error) {
	return mount.MkdirAllInRoot(root, dir)
}
