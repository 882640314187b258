// Command 06-user runs a command in a new user namespace, as root inside but
// an ordinary user outside (user_namespaces(7)). It needs no sudo.
//
//	06-user id                          uid 0 inside is you
//	06-user --no-map id                 no map: everyone is nobody
//	sudo 06-user --map 0:100000:65536 id
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
	"tincan.dev/pkg/trace"
	"tincan.dev/pkg/userns"
)

var (
	mapRoot = flag.Bool("map-root", false, "map your uid and gid to root inside (the default)")
	noMap   = flag.Bool("no-map", false, "write no map: every id is nobody (65534) inside")
	maps    userns.Maps
)

func main() {
	flag.Var(&maps, "map", "add the line `INSIDE:OUTSIDE:COUNT` to the uid and gid maps: COUNT ids from INSIDE are OUTSIDE outside (repeatable)")
	step.Main("06-user", "[--map-root | --map INSIDE:OUTSIDE:COUNT ... | --no-map] [--] [CMD [ARG...]]", parent, child)
}

// parent runs on the host: it starts this program again in a new user
// namespace and gives the namespace its maps while the child waits.
func parent(cmd *reexec.Cmd) (int, error) {
	m, err := mapping()
	if err != nil {
		return 0, err
	}
	// exercise: start the child in a new user namespace: CLONE_NEWUSER in Cloneflags, see user_namespaces(7)
	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWUSER
	// end exercise
	if outside, ok := m.UID.Outside(0); ok && outside != uint32(os.Geteuid()) {
		// Root inside is someone else, so the child starts as nobody: its
		// own uid has no line in the map. It becomes uid 0 once the maps
		// exist, which takes CAP_SETUID and CAP_SETGID in the namespace;
		// it holds every capability there, but loses them at its execve as
		// nobody (capabilities(7)), unless they are ambient.
		cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_SETUID, unix.CAP_SETGID}
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	if m.Helpers {
		// An unprivileged user may write only their own id into a map. For
		// more, the set-user-ID helpers newuidmap and newgidmap write it,
		// checked against /etc/subuid and /etc/subgid (subuid(5)).
		err = m.WriteWithHelpers(cmd.Pid)
	} else {
		err = writeMaps(cmd.Pid, m)
	}
	if err != nil {
		cmd.Abort()
		return 0, err
	}
	return cmd.ContinueAndWait()
}

// writeMaps gives the user namespace of the waiting child pid its maps.
func writeMaps(pid int, m userns.Mapping) error {
	if len(m.UID) == 0 {
		return nil // --no-map: every id inside is the overflow id, nobody
	}
	// exercise: write the maps, each in one write(2) of "INSIDE OUTSIDE COUNT" lines (mapText): /proc/PID/uid_map, then /proc/PID/setgroups ("deny" unless we are root), then /proc/PID/gid_map (trace.WriteFile), see "User and group ID mappings" and "Interaction with system calls that change process UIDs or GIDs" in user_namespaces(7)
	// Each map is written once, as a whole, by a process that holds
	// CAP_SETUID (CAP_SETGID for gid_map) over the namespace: we made it,
	// so we do. Without CAP_SETUID in our own namespace (not root), the only
	// map allowed is one line naming our own uid.
	proc := fmt.Sprintf("/proc/%d/", pid)
	if err := trace.WriteFile(proc+"uid_map", mapText(m.UID)); err != nil {
		return err
	}
	// setgroups(2) could drop a group that a file denies access to
	// (rwx---rwx): so without CAP_SETGID in our own namespace, the kernel
	// takes a gid map only once setgroups is denied in the new one.
	setgroups := "allow"
	if os.Geteuid() != 0 {
		setgroups = "deny"
	}
	if err := trace.WriteFile(proc+"setgroups", setgroups); err != nil {
		return err
	}
	if err := trace.WriteFile(proc+"gid_map", mapText(m.GID)); err != nil {
		return err
	}
	// end exercise
	return nil
}

// mapText is a map as uid_map and gid_map take it: one line per range,
// "INSIDE OUTSIDE COUNT".
func mapText(ms userns.Maps) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d %d %d\n", m.Inside, m.Outside, m.Count)
	}
	return b.String()
}

// mapping turns the flags into the maps the new namespace gets.
func mapping() (userns.Mapping, error) {
	chosen := 0
	for _, set := range []bool{*mapRoot, len(maps) > 0, *noMap} {
		if set {
			chosen++
		}
	}
	switch {
	case chosen > 1:
		return userns.Mapping{}, fmt.Errorf("--map-root, --map and --no-map exclude each other: choose one")
	case *noMap:
		return userns.Mapping{}, nil
	case len(maps) > 0:
		return userns.Explicit(maps), nil
	}
	m, note := userns.CallerToRoot()
	if note != "" {
		fmt.Fprintf(os.Stderr, "06-user: %s\n", note)
	}
	return m, nil
}

// child runs inside the new user namespace, then becomes CMD.
func child(args []string) error {
	// If the maps give uid 0 to someone else (--map 0:100000:65536), we are
	// nobody here until we switch to uid 0, now that the maps exist: with
	// the CAP_SETUID and CAP_SETGID the parent kept for us (AmbientCaps),
	// which BecomeRoot then drops, leaving CMD root's full set.
	if _, zero := maps.Outside(0); zero && os.Getuid() != 0 {
		if err := userns.BecomeRoot(); err != nil {
			return err
		}
	}
	return reexec.Exec(args)
}
