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

	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
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
	// exercise: start the child in a new user namespace with the maps in m: CLONE_NEWUSER in Cloneflags, the uid and gid maps in SysProcAttr (m.Configure), see user_namespaces(7)
	m.Configure(cmd.SysProcAttr) // CLONE_NEWUSER, and the maps Go writes itself
	// end exercise
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// An unprivileged user may write only its own id into the maps. For
	// more, the set-user-ID helpers write them, checked against /etc/subuid
	// and /etc/subgid, on the child's PID, while it waits.
	if err := m.WriteWithHelpers(cmd.Pid); err != nil {
		cmd.Abort()
		return 0, err
	}
	return cmd.ContinueAndWait()
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
	// nobody here until we switch to uid 0. As root, Go already did that
	// during clone (SysProcAttr.Credential); newuidmap wrote the maps too
	// late for that, so do it now.
	if _, zero := maps.Outside(0); zero && os.Getuid() != 0 {
		if err := userns.BecomeRoot(); err != nil {
			return err
		}
	}
	return reexec.Exec(args)
}
