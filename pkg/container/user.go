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
	"tincan.dev/pkg/sysprog"
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
	return runPlan(func(p *sysprog.Program) error { return planUser(p, user) })
}

// planUser adds switchUser's calls to p: it reads the container's
// /etc/passwd and /etc/group now.
func planUser(p *sysprog.Program, user string) error {
	if user == "" {
		return nil
	}
	uid, gid, groups, err := lookupUser(user)
	if err != nil {
		return fmt.Errorf("--user %s: %w", user, err)
	}
	return planBecome(p, uid, gid, groups)
}

// become switches this thread's credentials to uid, gid and groups, in the
// order and with the capabilities switchUser explains. can exec and an OCI
// process use it too.
func become(uid, gid int, groups []int) error {
	return runPlan(func(p *sysprog.Program) error { return planBecome(p, uid, gid, groups) })
}

// runPlan makes the calls plan prepares, now, on this thread, which stays
// locked: credentials are per thread (see pkg/harden), and this one will
// be hardened and call execve.
func runPlan(plan func(*sysprog.Program) error) error {
	runtime.LockOSThread()
	return sysprog.RunNow(plan)
}

// planBecome adds become's calls to p.
func planBecome(p *sysprog.Program, uid, gid int, groups []int) error {
	p.Add("prctl(PR_SET_KEEPCAPS, 1)", "", unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1)
	list := make([]uint32, len(groups)+1) // +1: never a nil pointer
	for i, g := range groups {
		list[i] = uint32(g)
	}
	set := p.Add(fmt.Sprintf("setgroups(%d, %v)", len(groups), groups), "", unix.SYS_SETGROUPS, uintptr(len(groups)), sysprog.Ptr(p, &list[0]))
	// A rootless container's user namespace denies setgroups(2)
	// (user_namespaces(7)); its groups are the caller's own, not root's.
	if b, _ := os.ReadFile("/proc/self/setgroups"); strings.TrimSpace(string(b)) == "deny" {
		set.Allow(unix.EPERM)
	}
	p.Add(fmt.Sprintf("setgid(%d)", gid), "is the group mapped in the container's user namespace?", unix.SYS_SETGID, uintptr(gid))
	p.Add(fmt.Sprintf("setuid(%d)", uid), "is the user mapped in the container's user namespace?", unix.SYS_SETUID, uintptr(uid))
	return harden.RaiseEffective(p)
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
