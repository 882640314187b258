package container

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/trace"
)

// switchUser makes this process user (Spec.User, docker run --user's
// USER[:GROUP], each a name or a number; "" stays root). It runs inside the
// container, after pivot_root, so /etc/passwd and /etc/group are the image's,
// never the host's; a number needs no entry there (its group is then 0, as
// Docker's is).
//
// The order is runc's (libcontainer/init_linux.go): supplementary groups,
// then the group, then the user, since once the uid is not 0 the process may
// change neither. Groups first also drops root's own supplementary groups,
// which setuid alone would leave in place. setuid(2) from uid 0 clears the
// capability sets; PR_SET_KEEPCAPS keeps the permitted set across it, and
// the effective set is raised again from it, so the hardening that follows
// works as for root. The execve after it gives a user that is not root no
// capabilities at all (capabilities(7), "Transformation of capabilities
// during execve()"), Docker's result.
func switchUser(user string) error {
	if user == "" {
		return nil
	}
	uid, gid, groups, err := lookupUser(user)
	if err != nil {
		return fmt.Errorf("--user %s: %w", user, err)
	}
	return become(uid, gid, groups, "--user "+user)
}

// become switches this thread's credentials to uid, gid and groups, in the
// order and with the capabilities switchUser explains; what names the
// setting asked for, for errors. can exec and an OCI process use it too.
func become(uid, gid int, groups []int, what string) error {
	// Credentials are per thread: keep this goroutine on the thread that
	// will be hardened and call execve (see pkg/harden).
	runtime.LockOSThread()
	trace.Call("prctl(PR_SET_KEEPCAPS, 1)")
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
	}
	trace.Call("setgroups(%d, %v)", len(groups), groups)
	if err := unix.Setgroups(groups); err != nil {
		// A rootless container's user namespace denies setgroups(2)
		// (user_namespaces(7)); its groups are the caller's own, not root's.
		if b, _ := os.ReadFile("/proc/self/setgroups"); strings.TrimSpace(string(b)) != "deny" {
			return fmt.Errorf("%s: setgroups: %w", what, err)
		}
	}
	trace.Call("setgid(%d)", gid)
	if err := unix.Setgid(gid); err != nil {
		return fmt.Errorf("%s: setgid(%d): %w: is the group mapped in the container's user namespace?", what, gid, err)
	}
	trace.Call("setuid(%d)", uid)
	if err := unix.Setuid(uid); err != nil {
		return fmt.Errorf("%s: setuid(%d): %w: is the user mapped in the container's user namespace?", what, uid, err)
	}
	hdr, caps, err := harden.Capget()
	if err != nil {
		return err
	}
	caps[0].Effective, caps[1].Effective = caps[0].Permitted, caps[1].Permitted
	trace.Call("capset(effective = permitted)")
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// lookupUser reads USER[:GROUP] into ids, with the user's supplementary
// groups: those /etc/group lists the user's name in.
func lookupUser(spec string) (uid, gid int, groups []int, err error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	var name string
	if n, ok := number(user); ok {
		uid = n
		if e := findEntry("/etc/passwd", 2, user); e != nil {
			name, gid = e[0], atoi(e[3])
		}
	} else if e := findEntry("/etc/passwd", 0, user); e != nil {
		name, uid, gid = e[0], atoi(e[2]), atoi(e[3])
	} else {
		return 0, 0, nil, fmt.Errorf("no user %q in the container's /etc/passwd: give a number, or add the user to the image", user)
	}
	if hasGroup {
		if n, ok := number(group); ok {
			gid = n
		} else if e := findEntry("/etc/group", 0, group); e != nil {
			gid = atoi(e[2])
		} else {
			return 0, 0, nil, fmt.Errorf("no group %q in the container's /etc/group: give a number, or add the group to the image", group)
		}
	}
	groups = []int{}
	if name != "" {
		eachEntry("/etc/group", func(e []string) {
			for _, m := range strings.Split(e[3], ",") {
				if m == name {
					groups = append(groups, atoi(e[2]))
				}
			}
		})
	}
	return uid, gid, groups, nil
}

// number reads a uid or gid: a decimal below 2^32-1 ((uid_t)-1 means
// "unchanged" to the kernel).
func number(s string) (int, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return int(n), err == nil && n < 1<<32-1
}

func atoi(s string) int { n, _ := number(s); return n }

// findEntry returns the first line of file (passwd(5) or group(5) format)
// whose field i is value, split into its fields.
func findEntry(file string, i int, value string) []string {
	var found []string
	eachEntry(file, func(e []string) {
		if found == nil && e[i] == value {
			found = e
		}
	})
	return found
}

// eachEntry calls f with the fields of each well-formed line of file: at
// least 4 fields (group(5)'s count; passwd(5) has 7), numeric ids.
func eachEntry(file string, f func([]string)) {
	fh, err := os.Open(file)
	if err != nil {
		return // no such file: only numbers work
	}
	defer fh.Close()
	s := bufio.NewScanner(fh)
	for s.Scan() {
		e := strings.Split(s.Text(), ":")
		if len(e) < 4 || strings.HasPrefix(e[0], "#") {
			continue
		}
		if _, ok := number(e[2]); !ok {
			continue
		}
		f(e)
	}
}
