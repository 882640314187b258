package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StateRoot holds one directory per container: /run/tincan/<id>. It is on
// tmpfs, so a reboot forgets it, as it forgets the containers. Rootless, it
// is $XDG_RUNTIME_DIR/tincan (or /tmp/tincan-<uid>).
func StateRoot() string {
	if os.Geteuid() == 0 {
		return "/run/tincan"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "tincan")
	}
	return fmt.Sprintf("/tmp/tincan-%d", os.Geteuid())
}

// State is what a running container left on the host, written before each
// thing is made, so that `can cleanup` can undo it if can is SIGKILLed.
type State struct {
	ID        string   `json:"id"`
	Owner     int      `json:"owner"`      // can's PID
	OwnerTime uint64   `json:"owner_time"` // its start time, against PID reuse
	Pid       int      `json:"pid,omitempty"`
	WorkDir   string   `json:"work_dir,omitempty"` // overlay work dir to remove
	MountDir  string   `json:"mount_dir,omitempty"`
	Cgroups   []string `json:"cgroups,omitempty"`
	Network   string   `json:"network,omitempty"` // bridge attachment, for release
	dir       string
}

func newState(id string) (*State, error) {
	root := StateRoot()
	dir := filepath.Join(root, id)
	var err error
	for try := 0; try < 3; try++ {
		// 0711: others may pass through, to the files a container in a user
		// namespace binds in (hosts, resolv.conf), but not list the containers.
		if err = os.MkdirAll(root, 0o711); err != nil {
			return nil, fmt.Errorf("state directory %s: %w", root, err)
		}
		// A can that just ended may remove root between the two calls.
		if err = os.Mkdir(dir, 0o711); !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	st := &State{ID: id, Owner: os.Getpid(), dir: dir}
	st.OwnerTime, _ = startTime(st.Owner)
	return st, st.save()
}

// remove removes the state directory, and the state root when it is left
// empty, so that a host with no container has no /run/tincan.
func (s *State) remove() error {
	err := os.RemoveAll(s.dir)
	os.Remove(filepath.Dir(s.dir)) // fails while other containers run: fine
	return err
}

func (s *State) save() error {
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp := filepath.Join(s.dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, "state.json"))
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
func (s *State) alive() bool {
	t, err := startTime(s.Owner)
	return err == nil && t == s.OwnerTime
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
