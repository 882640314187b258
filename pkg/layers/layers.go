// Package layers keeps a layered root filesystem in the layout of
// soulwing/can (docs/ARCHITECTURE.md, Sources) and commits its writable layer into a new image layer. Overlay
// mounts it (pkg/mount.Overlay).
package layers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Layers is a layered root filesystem in soulwing/can's layout:
//
//	DIR/image/0, DIR/image/1, ...  read-only image layers, highest number on top
//	DIR/config                     read-only, above the image (resolv.conf, hosts)
//	DIR/container                  the container's writable layer
//
// overlayfs stacks them (filesystems/overlayfs in the kernel docs): reads fall
// through from the top to the first layer that has the file; writes go to the
// upper layer, copying a file up first; a deletion leaves a "whiteout" (a 0/0
// character device) in the upper layer that hides the file below.
type Layers struct {
	Dir string
}

// Images returns the image layer directories, bottom first (image/0 ...).
func (l Layers) Images() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(l.Dir, "image"))
	if err != nil {
		return nil, fmt.Errorf("--fs %s: %w: a layered root needs %s/image/0, then image/1 and so on", l.Dir, err, l.Dir)
	}
	var nums []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() || n < 0 {
			continue
		}
		nums = append(nums, n)
	}
	if len(nums) == 0 {
		return nil, fmt.Errorf("--fs %s: no layers in %s/image: put a root filesystem in %s/image/0 (make rootfs, then move it there)", l.Dir, l.Dir, l.Dir)
	}
	sort.Ints(nums)
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = filepath.Join(l.Dir, "image", strconv.Itoa(n))
	}
	return out, nil
}

// LowerDir is overlay's lowerdir option: the config layer, then the images
// from the highest number down. Overlay reads lowerdir left to right, TOP
// FIRST: "image/2:image/1:image/0", not the order one would write a stack.
func (l Layers) LowerDir() (string, error) {
	images, err := l.Images()
	if err != nil {
		return "", err
	}
	var dirs []string
	if fi, err := os.Stat(l.config()); err == nil && fi.IsDir() {
		dirs = append(dirs, l.config())
	}
	for i := len(images) - 1; i >= 0; i-- {
		dirs = append(dirs, images[i])
	}
	for _, d := range dirs {
		if strings.ContainsAny(d, ":,") {
			return "", fmt.Errorf("--fs: layer path %q contains ':' or ',', which overlay's options cannot carry: move it", d)
		}
	}
	return strings.Join(dirs, ":"), nil
}

// Upper is the writable container layer, created if missing.
func (l Layers) Upper() (string, error) {
	p := filepath.Join(l.Dir, "container")
	return p, os.MkdirAll(p, 0o755)
}

// WorkPath is the overlay work directory of container id. It must be on
// the same filesystem as the upper layer, so it is in DIR.
func (l Layers) WorkPath(id string) string { return filepath.Join(l.Dir, ".work-"+id) }

// MakeWorkDir makes the fresh, empty work directory path (WorkPath) that
// overlay needs; the caller removes it.
func (l Layers) MakeWorkDir(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return fmt.Errorf("overlay work dir: %w", err)
	}
	return nil
}

func (l Layers) config() string { return filepath.Join(l.Dir, "config") }

// Lock takes DIR's lock, for a running container or for commit (an
// flock(2) on DIR itself, so nothing is left in DIR; the kernel drops the
// lock when its holder dies, even by SIGKILL). Both hold it exclusively:
// commit must not move the upper layer from under a container, and two
// containers on one DIR would share its upper layer, which overlayfs says
// gives undefined behaviour (filesystems/overlayfs.rst, "Changes to
// underlying filesystems"). So a second container is refused, as is commit
// while one runs.
func (l Layers) Lock(commit bool) (*os.File, error) {
	f, err := os.Open(l.Dir)
	if err != nil {
		return nil, fmt.Errorf("--fs %s: %w", l.Dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			if commit {
				return nil, fmt.Errorf("--fs %s is busy: a container is using it; commit when it has exited", l.Dir)
			}
			return nil, fmt.Errorf("--fs %s is busy: another container runs on it (or it is being committed), and two would share its writable layer: wait for it to exit, or run on a copy of %[1]s", l.Dir)
		}
		return nil, fmt.Errorf("--fs %s: lock: %w", l.Dir, err)
	}
	return f, nil
}

// Commit turns the container layer into the next image layer and starts an
// empty container layer: soulwing/can's "mv container image/1", refused while a
// container uses DIR. rename(2) keeps the whiteouts and opaque directories
// overlay left in the layer, so a file deleted in the container stays deleted
// in the image. It returns the new layer's path.
func (l Layers) Commit() (string, error) {
	images, err := l.Images()
	if err != nil {
		return "", err
	}
	lock, err := l.Lock(true)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	top, _ := strconv.Atoi(filepath.Base(images[len(images)-1]))
	next := filepath.Join(l.Dir, "image", strconv.Itoa(top+1))
	upper := filepath.Join(l.Dir, "container")
	if _, err := os.Stat(upper); err != nil {
		return "", fmt.Errorf("commit --fs %s: no container layer to commit: %w", l.Dir, err)
	}
	if err := os.Rename(upper, next); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	if err := os.Mkdir(upper, 0o755); err != nil {
		return "", fmt.Errorf("commit: new container layer: %w", err)
	}
	return next, nil
}
