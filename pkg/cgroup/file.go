package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// The calls that make and remove cgroups and write their files. Tests swap
// them for ones that act like the kernel on a fake tree in a temporary
// directory.
var (
	mkdirFunc = func(path string) error { return unix.Mkdir(path, 0o755) }
	rmdirFunc = unix.Rmdir
	writeFunc = func(path, value string) error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			_, err = f.WriteString(value)
			err = errors.Join(err, f.Close())
		}
		return err
	}
)

// mkdir makes a cgroup directory; the kernel fills it with the files of the
// hierarchy's controllers.
func mkdir(path string) error {
	trace.Call("mkdir(%q, 0755)", path)
	err := mkdirFunc(path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.EROFS):
		return fmt.Errorf("mkdir %s: %w: making a cgroup, and so setting limits, needs root", path, err)
	}
	return fmt.Errorf("mkdir %s: %w", path, err)
}

// removeLeaf removes a cgroup directory. rmdir(2) fails with EBUSY while a
// process is still in it: one just killed takes a moment to exit.
func removeLeaf(path string) error {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		trace.Call("rmdir(%q)", path)
		err := rmdirFunc(path)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("rmdir %s: %w", path, err)
		}
	}
}

// removeParent removes the tincan directory above path if nothing else is in
// it. Another container's cgroup in there (ENOTEMPTY, or EBUSY on some
// kernels) means it stays; a concurrent remover may have been first (ENOENT).
func removeParent(path string) {
	parent := filepath.Dir(path)
	trace.Call("rmdir(%q)", parent)
	rmdirFunc(parent)
}

// write writes value to one of d's files. Files are never created: a
// missing one means a missing controller, and that must be an error.
func (d dir) write(name, value string) error { return write(filepath.Join(d.path, name), value) }

func (d dir) has(name string) bool {
	_, err := os.Stat(filepath.Join(d.path, name))
	return err == nil
}

func write(path, value string) error {
	trace.Call("write(%q, %q)", path, value)
	if err := writeFunc(path, value); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, unwrapPath(err))
	}
	return nil
}

// unwrapPath drops the *PathError around err: the message names the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readInt reads a file holding one number.
func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// readKey reads the number after key in a flat keyed file such as cpu.stat,
// memory.events or memory.oom_control: one "key value" pair a line.
func readKey(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %s line (kernel too old?)", path, key)
}
