package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/owner"
)

// StateRoot holds one directory per container: /run/tincan/<id>. It is on
// tmpfs, so a reboot forgets it, as it forgets the containers. Rootless, it is
// $XDG_RUNTIME_DIR/tincan (a directory only the user can write, made by the
// login manager), or else $TMPDIR/tincan-<uid> (/tmp by default). A user
// who runs can through sudo has /run/tincan-<uid> (pkg/owner).
func StateRoot() string {
	if os.Geteuid() == 0 {
		if uid := owner.UID(); uid != 0 {
			return fmt.Sprintf("/run/tincan-%d", uid)
		}
		return "/run/tincan"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "tincan")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("tincan-%d", os.Geteuid()))
}

// stateRoot returns StateRoot, made (with create) and checked. can trusts
// what it reads there: Cleanup removes the directories a state.json names.
// In a directory such as /tmp, anyone can create tincan-<uid> first, with a
// planted state.json pointing at the victim's files; so the root must be a
// real directory (not a symlink: Lstat), owned by us, that nobody else may
// write. It returns ("", nil) when the root does not exist and create is false.
// root "" is StateRoot(); an OCI engine names its own (runc's --root).
func stateRoot(root string, create bool) (string, error) {
	if root == "" {
		root = StateRoot()
	}
	mode := os.FileMode(0o711) // others may pass through to a --user-ns container's files
	if os.Geteuid() != 0 {
		mode = 0o700
	}
	if create {
		if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
			return "", fmt.Errorf("state directory %s: %w", root, err)
		}
		if err := os.Mkdir(root, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("state directory %s: %w", root, err)
		}
	}
	fi, err := os.Lstat(root)
	if errors.Is(err, fs.ErrNotExist) && !create {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state directory %s: %w", root, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return "", fmt.Errorf("state directory %s is not a directory (a symlink?): someone may have planted it; remove it (rm %s)", root, root)
	case int(st.Uid) != os.Geteuid():
		return "", fmt.Errorf("state directory %s belongs to uid %d, not to you (uid %d): someone may have planted it; remove it (rm -r %s) or set XDG_RUNTIME_DIR", root, st.Uid, os.Geteuid(), root)
	case fi.Mode().Perm()&0o022 != 0:
		return "", fmt.Errorf("state directory %s is writable by others (mode %v): chmod %o %s", root, fi.Mode().Perm(), mode, root)
	}
	return root, nil
}

// State is what a running container left on the host. Its directory appears
// with it, before anything else is made (newState), and says where to look
// for the rest: cgroups, addresses and rules are found by the container's ID,
// the overlay work dir by WorkDir. So a can SIGKILLed at any instant leaves
// nothing `can cleanup` cannot find.
type State struct {
	ID        string `json:"id"`
	Owner     int    `json:"owner"`      // can's PID
	OwnerTime uint64 `json:"owner_time"` // its start time, against PID reuse
	Pid       int    `json:"pid,omitempty"`
	WorkDir   string `json:"work_dir,omitempty"` // overlay work dir to remove
	// OCI is set for a container made by can create: it outlives the can
	// that made it, belongs to its engine, and goes only by can delete.
	OCI *OCIState `json:"oci,omitempty"`
	dir string
	// lock is the directory, open and locked (hold) for as long as the
	// can that runs the container lives; nil for an OCI container, which
	// outlives the can that made it.
	lock *os.File
}

// newState makes the state directory of container id, with state.json in it,
// recording workDir before it is made. The directory is made under a
// temporary name and renamed into place: rename(2) is atomic, so the
// directory <id> never exists without its state.json. If can dies before the
// rename, the temporary name (.new-<pid>-<start time>-<id>) says whose it was.
func newState(root, id, workDir string, oci *OCIState) (*State, error) {
	st := &State{ID: id, Owner: os.Getpid(), WorkDir: workDir, OCI: oci}
	st.OwnerTime, _ = startTime(st.Owner)
	b := st.encode()
	var err error
	for try := 0; try < 3; try++ {
		var dir string
		if dir, err = stateRoot(root, true); err != nil {
			return nil, err
		}
		st.dir = filepath.Join(dir, id)
		tmp := filepath.Join(dir, fmt.Sprintf(".new-%d-%d-%s", st.Owner, st.OwnerTime, id))
		// 0711: others may pass through, to the files a container in a user
		// namespace binds in (hosts, resolv.conf), but not list them.
		if err = os.Mkdir(tmp, 0o711); errors.Is(err, fs.ErrNotExist) {
			continue // a can that just ended removed the empty root: again
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, "state.json"), b, 0o600)
			if err == nil && oci == nil {
				st.lock, err = hold(tmp) // the lock goes with the directory
			}
			if err == nil {
				err = os.Rename(tmp, st.dir)
			}
			if err != nil {
				st.release()
				os.RemoveAll(tmp)
			}
		}
		if err != nil {
			os.Remove(dir) // only if empty: a full /run leaves no empty root
			if errors.Is(err, fs.ErrExist) || errors.Is(err, unix.ENOTEMPTY) {
				return nil, fmt.Errorf("state directory %s exists: another container has the id %s", st.dir, id)
			}
			return nil, fmt.Errorf("state directory %s: %w", st.dir, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("state directory %s: %w", st.dir, err)
}

// remove removes the state directory, and the state root when it is left
// empty, so that a host with no container has no /run/tincan.
//
// A container's directory holds files known by name: unlinking them, then
// the directory, is a system call each, where os.RemoveAll opens the
// directory, lists it and tries each name as a file and as a directory.
// RemoveAll is left for whatever else is there (a rootfs mount point,
// hosts), and for a directory another remover emptied first.
func (s *State) remove() error {
	for _, name := range []string{"state.json", "config.json"} {
		unix.Unlink(filepath.Join(s.dir, name))
	}
	var err error
	if rerr := unix.Rmdir(s.dir); rerr != nil && rerr != unix.ENOENT {
		err = os.RemoveAll(s.dir)
	}
	unix.Rmdir(filepath.Dir(s.dir)) // fails while other containers run: fine
	s.release()
	return err
}

// hold opens dir and takes flock(2)'s exclusive lock on it, for the rest of
// can's life. The lock belongs to the open file, which the kernel closes
// when the last process holding it ends, by exit or SIGKILL: so the sweep
// of every start (sweepDead) can tell a live container by its lock, with
// two system calls, before it reads any record. O_CLOEXEC: CMD, which
// execve(2) makes of PID 1, must not carry it on.
func hold(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// release lets go of the state directory's lock, if s holds it.
func (s *State) release() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

func (s *State) save() error {
	b := s.encode()
	tmp := filepath.Join(s.dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, "state.json"))
}

// encode returns state.json's text, byte for byte as
// json.MarshalIndent(s, "", "  ") writes it. can run writes it twice on
// every start, before the container is made and with its PID, and
// encoding/json's first use in a process costs about half a millisecond
// here: it walks the type by reflection, through code nothing else in a
// start runs, each new page of it a first-touch fault. So the usual record,
// numbers and strings of printable ASCII, is written here, with
// strconv.Quote: it escapes such a string as JSON does, but for <, > and &
// (encoding/json writes \u003c...). Those, and OCI records, go the general
// way; reading them back (cleanup, exec, ps) is encoding/json's.
func (s *State) encode() []byte {
	if s.OCI != nil || !plainASCII(s.ID) || !plainASCII(s.WorkDir) {
		b, _ := json.MarshalIndent(s, "", "  ")
		return b
	}
	b := strconv.AppendQuote([]byte("{\n  \"id\": "), s.ID)
	b = strconv.AppendInt(append(b, ",\n  \"owner\": "...), int64(s.Owner), 10)
	b = strconv.AppendUint(append(b, ",\n  \"owner_time\": "...), s.OwnerTime, 10)
	if s.Pid != 0 {
		b = strconv.AppendInt(append(b, ",\n  \"pid\": "...), int64(s.Pid), 10)
	}
	if s.WorkDir != "" {
		b = strconv.AppendQuote(append(b, ",\n  \"work_dir\": "...), s.WorkDir)
	}
	return append(b, "\n}"...)
}

// plainASCII reports whether strconv.Quote and encoding/json write s alike.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	s.dir = dir
	return &s, nil
}

// alive reports whether the can that owns s still runs.
func (s *State) alive() bool { return s.OCI != nil || alive(s.Owner, s.OwnerTime) }

// alive reports whether process pid, started at start, still runs.
func alive(pid int, start uint64) bool {
	t, err := startTime(pid)
	return err == nil && t == start
}

// startTime reads field 22 of /proc/<pid>/stat: with the PID it names a
// process uniquely, even after the PID is reused.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("bad stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}
