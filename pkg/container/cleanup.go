package container

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/layers"
	"tincan.dev/pkg/network"
	"tincan.dev/pkg/owner"
)

// Cleanup removes what containers whose can is gone left on the host: a can
// killed by SIGKILL cannot tear down, but its state directory says what it
// made. `can cleanup` calls it. Then it sweeps by owner: the addresses, port
// rules and cgroups that no live container owns, found by listing them, not
// by reading records. With all, it also removes what containers share: the
// bridge and the nft table.
func Cleanup(all bool) error {
	root, err := stateRoot("", false)
	if err != nil {
		return err
	}
	var errs []error
	if root != "" {
		errs = append(errs, sweepStates(root, "", false))
	}
	if os.Geteuid() == 0 { // rootless cans make no bridge and no cgroup
		owned := func(id string) bool { return root != "" && ownedBy(root, id) }
		errs = append(errs, sweepNetwork(owned), sweepCgroups(owned))
	}
	if all {
		errs = append(errs, cleanupShared())
	}
	return errors.Join(errs...)
}

// sweepDead is what every can does as it starts, in the shadow of its
// child's start (or of the thread's build, with a bridge to plug in): it
// undoes the containers whose can died, found by their state directories,
// but self's. A live can holds its directory's lock (hold), so a running
// container costs the sweep an open and a flock(2), and no record read;
// the sweep by owner (listing cgroups and rules) is left to can cleanup.
func sweepDead(self string) error {
	root, err := stateRoot("", false)
	if err != nil || root == "" {
		return err
	}
	return sweepStates(root, self, true)
}

// sweepStates undoes every container in root whose can is dead, but self's
// ("" for none), each judged by its record. With byLock, a directory
// locked by another process is passed over: its can is alive, or another
// sweep is undoing it (and holds the lock while it does). can cleanup
// does not go by locks: a can just killed may leave its PID 1 a moment
// more, dying, with a copy of the lock, and the user asked for a clean
// host now.
func sweepStates(root, self string, byLock bool) error {
	ents, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		name, dir := e.Name(), filepath.Join(root, e.Name())
		if dir == network.OwnStateDir() || !e.IsDir() || name == self {
			continue // the bridge's address allocator lives here too
		}
		if strings.HasPrefix(name, ".new-") {
			// A state directory before its rename into place (newState):
			// its name says whose it is.
			var pid int
			var start uint64
			if _, err := fmt.Sscanf(name, ".new-%d-%d-", &pid, &start); err == nil && !alive(pid, start) {
				errs = append(errs, os.RemoveAll(dir))
			}
			continue
		}
		if byLock {
			lock, err := hold(dir)
			if err != nil {
				continue // locked, or removed since the listing
			}
			errs = append(errs, sweepState(dir))
			lock.Close()
			continue
		}
		errs = append(errs, sweepState(dir))
	}
	return errors.Join(errs...)
}

// sweepState undoes the container whose state directory is dir if its can
// is dead.
func sweepState(dir string) error {
	st, err := loadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// A state directory is born with its state.json (newState) and
		// loses it only as it is removed: this removal was cut short.
		return os.RemoveAll(dir)
	}
	if err != nil || st.alive() {
		return err
	}
	if err := st.undo(); err != nil {
		return fmt.Errorf("container %s: %w", st.ID, err)
	}
	return nil
}

// ownedBy reports whether container id has a state directory in root whose
// can is alive. It is asked at the moment of each decision: a can makes its
// state directory before anything else, so a container being born is
// never taken for an orphan.
func ownedBy(root, id string) bool {
	st, err := loadState(filepath.Join(root, id))
	return err == nil && st.alive()
}

// undo removes what st's container made, newest first, then st itself. The
// cgroups, addresses and rules are found by the container's ID, so that
// what was being made when can died is found too.
func (st *State) undo() error {
	var errs []error
	if os.Geteuid() == 0 {
		errs = append(errs, sweepNetwork(func(owner string) bool { return owner != st.ID }))
	}
	errs = append(errs, destroyCgroup(st.ID))
	if st.WorkDir != "" {
		// state.json is read back from disk: remove only what can makes.
		work := filepath.Clean(st.WorkDir)
		if work != (layers.Layers{Dir: filepath.Dir(work)}).WorkPath(st.ID) {
			errs = append(errs, fmt.Errorf("state %s names work dir %s, which can does not make: left alone", st.dir, st.WorkDir))
		} else {
			errs = append(errs, os.RemoveAll(st.WorkDir))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return st.remove()
}

// sweepNetwork releases the addresses and port rules whose owner is not
// owned, in every subnet a bridge was used with (one allocator directory
// each, named like 10.88.0.0-16).
func sweepNetwork(owned func(id string) bool) error {
	ents, err := os.ReadDir(network.OwnStateDir())
	if err != nil {
		return nil // no bridge was ever used
	}
	var errs []error
	for _, e := range ents {
		i := strings.LastIndexByte(e.Name(), '-')
		if !e.IsDir() || i < 0 {
			continue
		}
		_, subnet, err := net.ParseCIDR(e.Name()[:i] + "/" + e.Name()[i+1:])
		if err != nil {
			continue
		}
		errs = append(errs, network.Bridge{Subnet: subnet}.Sweep(owned))
	}
	return errors.Join(errs...)
}

// IsCanID reports whether id has the form of the IDs can makes (NewID): only
// such cgroups are swept. (Not a regexp: compiling one at package init costs
// every container's start, twice.)
func IsCanID(id string) bool {
	if len(id) != 12 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// orphanAge is how old an empty cgroup with no owner must be before
// sweepCgroups removes it: a can in another mount namespace (another state
// root) has an empty cgroup for a moment between making it and moving its
// child in, and that one must be left alone.
const orphanAge = time.Minute

// sweepCgroups removes the cgroups under tincan/ that no live container owns:
// those of cans killed before a record of them existed (older cans wrote the
// record after making the cgroup). It never kills: a cgroup with a process
// in it is left, whoever it belongs to.
func sweepCgroups(owned func(id string) bool) error {
	found, err := cgroup.List()
	if err != nil {
		return nil // no cgroup filesystem, so nothing to sweep
	}
	var errs []error
	for _, c := range found {
		// Only our own: tincan/<id> for root, tincan/<uid>-<id> for a user.
		id, ours := strings.CutPrefix(c.ID, owner.Prefix())
		if !ours || !IsCanID(id) || c.Busy || time.Since(c.Made) < orphanAge || owned(id) {
			continue
		}
		errs = append(errs, destroyCgroup(id))
	}
	return errors.Join(errs...)
}
