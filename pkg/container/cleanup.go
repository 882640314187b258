package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Cleanup removes what containers whose can is gone left on the host: a can
// killed by SIGKILL cannot tear down, but its state directory says what it
// made. Every can calls it first; `can cleanup` calls it by hand. With all,
// it also removes what containers share: the bridge and the nft table.
func Cleanup(all bool) error {
	dirs, _ := filepath.Glob(filepath.Join(StateRoot(), "*"))
	var errs []error
	for _, dir := range dirs {
		st, err := loadState(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				// A state directory without state.json is one being created
				// right now, or one whose can died at birth: leave young ones.
				continue
			}
			errs = append(errs, err)
			continue
		}
		if st.alive() {
			continue
		}
		if err := st.undo(); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", st.ID, err))
		}
	}
	if all {
		if err := cleanupShared(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// undo removes, in reverse order of making, what st records.
func (st *State) undo() error {
	var errs []error
	if st.Network != "" {
		errs = append(errs, releaseNetwork(st.ID, st.Network))
	}
	if len(st.Cgroups) > 0 {
		errs = append(errs, destroyCgroup(st.ID))
	}
	if st.WorkDir != "" {
		errs = append(errs, os.RemoveAll(st.WorkDir))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return st.remove()
}
