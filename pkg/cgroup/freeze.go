package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Pausing a container (runc pause, docker pause) is freezing its cgroup:
// the kernel stops every process in it, wherever it is in its code, and none
// runs again, not even to handle a signal, until the cgroup is thawed. A
// process cannot pause itself that way: it is the cgroup's state, not a
// signal's (SIGSTOP can be seen by a parent, and by ptrace).
//
//	v1: the freezer controller: "FROZEN" written to freezer.state, which reads
//	    FREEZING until every process has stopped, then FROZEN; "THAWED" to resume
//	v2: a core file of every cgroup (Linux 5.2): "1" written to cgroup.freeze;
//	    cgroup.events says "frozen 1" once all have stopped, and the kernel
//	    notifies a change of cgroup.events to inotify and poll(2) watchers
//
// On a hybrid machine a cgroup with a v1 freezer directory uses it (as runc
// does there); one without (a cgroup made for its device filter alone) uses
// the unified tree's cgroup.freeze, which needs no controller.

// freezeTimeout is how long Freeze and Thaw wait for the kernel to say the
// cgroup changed state: a process in an uninterruptible sleep (a read from a
// dead NFS server) is frozen only when it wakes.
const freezeTimeout = 5 * time.Second

// Freeze stops every process in the cgroup, and returns once the kernel says
// all are stopped. If they are not all stopped in time, it thaws the cgroup
// again, rather than leave it half frozen.
func (cg *Cgroup) Freeze() error {
	d, err := cg.freezer()
	if err != nil {
		return err
	}
	if d.v2 {
		if err := d.write("cgroup.freeze", "1"); err != nil {
			return err
		}
		err = waitEvent(filepath.Join(d.path, "cgroup.events"), "frozen", 1)
	} else {
		err = freezeV1(d)
	}
	if err != nil {
		return errors.Join(err, cg.Thaw())
	}
	return nil
}

// Thaw resumes the processes Freeze stopped, and returns once the kernel says
// the cgroup is thawed.
func (cg *Cgroup) Thaw() error {
	d, err := cg.freezer()
	if err != nil {
		return err
	}
	if d.v2 {
		if err := d.write("cgroup.freeze", "0"); err != nil {
			return err
		}
		return waitEvent(filepath.Join(d.path, "cgroup.events"), "frozen", 0)
	}
	if err := d.write("freezer.state", "THAWED"); err != nil {
		return err
	}
	return waitV1(d, "THAWED", false)
}

// State reports whether the cgroup is frozen: every process in it stopped.
// While Freeze is still at work (v1's FREEZING) it is not.
func (cg *Cgroup) State() (frozen bool, err error) {
	d, err := cg.freezer()
	if err != nil {
		return false, err
	}
	if d.v2 {
		n, err := readKey(filepath.Join(d.path, "cgroup.events"), "frozen")
		return n == 1, err
	}
	b, err := os.ReadFile(filepath.Join(d.path, "freezer.state"))
	return strings.TrimSpace(string(b)) == "FROZEN", err
}

// freezer returns the directory whose files freeze the cgroup.
func (cg *Cgroup) freezer() (dir, error) {
	if d, ok := cg.find("freezer"); ok {
		return d, nil
	}
	if d, ok := cg.v2(); ok && d.has("cgroup.freeze") {
		return d, nil
	}
	return dir{}, fmt.Errorf("freeze cgroup %s: no v1 freezer directory, and no cgroup2 cgroup.freeze (Linux 5.2)", cg.Path)
}

// freezeV1 stops every process of d (a v1 freezer cgroup) and waits until the
// kernel says all are stopped: freezer.state reads FREEZING until then. A
// process in the middle of fork(2) can make the kernel give up on one pass;
// writing FROZEN again makes it try again, so the wait does.
func freezeV1(d dir) error {
	if err := d.write("freezer.state", "FROZEN"); err != nil {
		return err
	}
	return waitV1(d, "FROZEN", true)
}

// waitV1 polls d's freezer.state until it reads want: v1 notifies no change,
// so this is a loop, with a short sleep, rewriting want when again is set.
func waitV1(d dir, want string, again bool) error {
	path := filepath.Join(d.path, "freezer.state")
	deadline := time.Now().Add(freezeTimeout)
	for i := 1; ; i++ {
		b, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(b)) == want {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still reads %s after %v, not %s: a process in an uninterruptible sleep (D in ps)?", path, strings.TrimSpace(string(b)), freezeTimeout, want)
		}
		time.Sleep(time.Millisecond)
		if again && i%10 == 0 {
			if err := d.write("freezer.state", want); err != nil {
				return err
			}
		}
	}
}

// waitEvent waits until the line key of path, a cgroup2 flat keyed file
// such as cgroup.events, reads want. The kernel signals each change of the
// file as a modification to inotify(7), so the wait sleeps in poll(2) until
// then rather than reading the file in a loop. The watch is set before the
// first read, so a change between the two is not missed.
func waitEvent(path, key string, want int64) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify_init1: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		return fmt.Errorf("inotify_add_watch %s: %w", path, err)
	}
	deadline := time.Now().Add(freezeTimeout)
	buf := make([]byte, 4096)
	for {
		n, err := readKey(path, key)
		if err != nil || n == want {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s still says %s %d after %v, not %d: a process in an uninterruptible sleep (D in ps)?", path, key, n, freezeTimeout, want)
		}
		_, err = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll inotify of %s: %w", path, err)
		}
		unix.Read(fd, buf) // drain the events: the file says what changed
	}
}

// Procs lists the PIDs of every process in the cgroup, and in the cgroups
// below it (a container may make its own), in the caller's PID namespace.
// They are read from one hierarchy: a process joins all of them at once
// (Join), and the unified one, where there is one, has every process.
func (cg *Cgroup) Procs() ([]int, error) {
	d, ok := cg.v2()
	for _, c := range []string{"freezer", "pids", "memory"} {
		if !ok {
			d, ok = cg.find(c)
		}
	}
	if !ok && len(cg.dirs) > 0 {
		d, ok = cg.dirs[0], true
	}
	if !ok {
		return nil, fmt.Errorf("list the processes of cgroup %s: %w in any hierarchy", cg.Path, fs.ErrNotExist)
	}
	var pids []int
	err := filepath.WalkDir(d.path, func(path string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) { // a cgroup below removed meanwhile
			return nil
		}
		if err != nil || !e.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	slices.Sort(pids)
	return slices.Compact(pids), err
}
