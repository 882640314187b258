// Package userns gives a new user namespace its uid and gid maps, and explains
// when the kernel refuses to create one.
//
// A user namespace is the only namespace an unprivileged user may create. Its
// creator holds every capability in it, over the namespaces it owns: so a user
// who maps their own uid to 0 can then make PID, mount, UTS, IPC and network
// namespaces too. That is how every step here runs without sudo. The
// capabilities are over the new namespaces only: the host's files still see the
// real uid. See user_namespaces(7).
//
// A map is written once, to /proc/PID/uid_map and gid_map, by a process outside
// the namespace, while the child waits. Who may write what:
//
//   - root (CAP_SETUID and CAP_SETGID outside) may write any map; the Go
//     runtime does it during clone when SysProcAttr.UidMappings is set;
//   - anyone else may write exactly one line, their own id, after denying
//     setgroups(2) (MapCallerToRoot);
//   - newuidmap(1) and newgidmap(1), set-user-ID root, write more lines for an
//     unprivileged user: the ranges /etc/subuid and /etc/subgid give them
//     (subuid(5)). Go cannot call them, so the parent runs them on the paused
//     child between reexec's Start and Continue (Mapping.WriteWithHelpers).
package userns

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/harden"
	"tincan.dev/pkg/trace"
)

// Map is one line of a uid or gid map: Count ids starting at Inside, in the
// namespace, are the ids starting at Outside in the parent namespace.
type Map struct {
	Inside, Outside, Count uint32
}

// ParseMap reads INSIDE:OUTSIDE:COUNT, as 06-user's --map takes it.
func ParseMap(s string) (Map, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return Map{}, fmt.Errorf("map %q: want INSIDE:OUTSIDE:COUNT, such as 0:100000:65536", s)
	}
	var n [3]uint32
	for i, v := range f {
		u, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Map{}, fmt.Errorf("map %q: %q is not an id from 0 to %d", s, v, uint32(math.MaxUint32))
		}
		n[i] = uint32(u)
	}
	m := Map{Inside: n[0], Outside: n[1], Count: n[2]}
	// The kernel refuses a range that wraps past 2^32-1 with EINVAL; say so here.
	if m.Count == 0 || uint64(m.Inside)+uint64(m.Count) > math.MaxUint32 ||
		uint64(m.Outside)+uint64(m.Count) > math.MaxUint32 {
		return Map{}, fmt.Errorf("map %q: COUNT must be at least 1 and keep both ranges below 2^32-1", s)
	}
	return m, nil
}

// String is the flag spelling, INSIDE:OUTSIDE:COUNT.
func (m Map) String() string { return fmt.Sprintf("%d:%d:%d", m.Inside, m.Outside, m.Count) }

// Maps is a list of map lines. It is a flag.Value: each --map adds one.
type Maps []Map

func (ms *Maps) String() string {
	s := make([]string, len(*ms))
	for i, m := range *ms {
		s[i] = m.String()
	}
	return strings.Join(s, " ")
}

func (ms *Maps) Set(s string) error {
	m, err := ParseMap(s)
	if err == nil {
		*ms = append(*ms, m)
	}
	return err
}

// Outside returns the id outside that id inside maps to.
func (ms Maps) Outside(id uint32) (uint32, bool) {
	for _, m := range ms {
		if id >= m.Inside && id-m.Inside < m.Count {
			return m.Outside + (id - m.Inside), true
		}
	}
	return 0, false
}

// text is the map as the kernel reads and prints it, one "INSIDE OUTSIDE COUNT"
// line each.
func (ms Maps) text() string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d %d %d\n", m.Inside, m.Outside, m.Count)
	}
	return b.String()
}

func (ms Maps) sys() []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, m := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.Inside), HostID: int(m.Outside), Size: int(m.Count)}
	}
	return out
}

// MapCallerToRoot adds CLONE_NEWUSER to attr with a one-line map: uid 0 and
// gid 0 inside are the caller's uid and gid outside. An unprivileged process
// may write exactly this map and no other (user_namespaces(7), "Defining user
// and group ID mappings"). setgroups(2) must be denied first for the gid map to
// be accepted; Go does that when GidMappingsEnableSetgroups is false.
func MapCallerToRoot(attr *syscall.SysProcAttr) {
	attr.Cloneflags |= unix.CLONE_NEWUSER
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	attr.GidMappingsEnableSetgroups = false
}

// TraceClone prints, for -v, what the Go runtime did for the user namespace
// in attr during clone, in its order: the parent writes the maps while the
// child waits, then the child changes its ids and capabilities, and execs.
func TraceClone(pid int, attr *syscall.SysProcAttr) {
	if attr.UidMappings != nil {
		trace.Call("write(\"/proc/%d/uid_map\", %q)", pid, sysText(attr.UidMappings))
	}
	if attr.GidMappings != nil {
		setgroups := "deny"
		if attr.GidMappingsEnableSetgroups {
			setgroups = "allow"
		}
		trace.Call("write(\"/proc/%d/setgroups\", %q)", pid, setgroups)
		trace.Call("write(\"/proc/%d/gid_map\", %q)", pid, sysText(attr.GidMappings))
	}
	if c := attr.Credential; c != nil {
		trace.Call("setgroups(0, NULL)")
		trace.Call("setgid(%d)", c.Gid)
		trace.Call("setuid(%d)", c.Uid)
	}
	for _, c := range attr.AmbientCaps {
		trace.Call("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s, 0, 0)", capNames[c])
	}
}

var capNames = map[uintptr]string{unix.CAP_SETUID: "CAP_SETUID", unix.CAP_SETGID: "CAP_SETGID"}

func sysText(ms []syscall.SysProcIDMap) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	return b.String()
}

// Mapping is what a new user namespace is given: its uid and gid maps, and
// whether newuidmap and newgidmap must write them (Helpers) or the Go runtime
// can, during clone. No maps at all leaves every id unmapped: the process and
// every file it sees belong to the overflow id 65534, "nobody".
type Mapping struct {
	UID, GID Maps
	Helpers  bool
}

// Configure asks for a new user namespace in attr, with the maps the Go
// runtime writes itself.
func (m Mapping) Configure(attr *syscall.SysProcAttr) {
	attr.Cloneflags |= unix.CLONE_NEWUSER
	if len(m.UID) == 0 {
		return
	}
	// Is uid 0 inside someone other than us? Then the child starts as
	// nobody (65534), with no capabilities, and must switch to uid 0.
	uid, zero := m.UID.Outside(0)
	switchToRoot := zero && uid != uint32(os.Geteuid())
	if m.Helpers {
		if switchToRoot {
			// The child is exec'd before newuidmap runs, with no uid mapped,
			// and execve(2) gives no capabilities to a uid that is not 0
			// in the namespace (capabilities(7), "Capabilities and execution
			// of programs by root"). To become uid 0 once the maps exist it
			// needs CAP_SETUID and CAP_SETGID kept through that execve:
			// ambient capabilities are kept. BecomeRoot drops them again.
			attr.AmbientCaps = []uintptr{unix.CAP_SETUID, unix.CAP_SETGID}
		}
		return
	}
	attr.UidMappings, attr.GidMappings = m.UID.sys(), m.GID.sys()
	// Without root, the gid map is only taken once setgroups(2) is denied
	// in the namespace, or a process could drop a group that denies it
	// access to a file (user_namespaces(7), "/proc/[pid]/setgroups").
	attr.GidMappingsEnableSetgroups = os.Geteuid() == 0
	if switchToRoot {
		// Go switches it after writing the maps, before execve, while it
		// still holds every capability in the namespace (docs/ARCHITECTURE.md, rule 4).
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
}

// WriteWithHelpers runs newuidmap and newgidmap on the paused child pid, when
// the mapping needs them. They check the ranges against /etc/subuid and
// /etc/subgid and write /proc/PID/uid_map and gid_map as root.
func (m Mapping) WriteWithHelpers(pid int) error {
	if !m.Helpers {
		return nil
	}
	if err := helper("newuidmap", pid, m.UID); err != nil {
		return err
	}
	return helper("newgidmap", pid, m.GID)
}

func helper(name string, pid int, ms Maps) error {
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%s: %w: install the uidmap package", name, exec.ErrNotFound)
	}
	argv := []string{name, strconv.Itoa(pid)}
	for _, m := range ms {
		argv = append(argv, strconv.Itoa(int(m.Inside)), strconv.Itoa(int(m.Outside)), strconv.Itoa(int(m.Count)))
	}
	trace.Call("execve(%q, %s, envp)", path, trace.Argv(argv))
	out, err := exec.Command(path, argv[1:]...).CombinedOutput()
	if err != nil {
		file := SubUIDFile
		if name == "newgidmap" {
			file = SubGIDFile
		}
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = name
		}
		return fmt.Errorf("%s (%v): the ranges must be yours in %s, see subuid(5)", msg, err, file)
	}
	return nil
}

// CallerToRoot is the mapping a user gets by default: their uid and gid are
// root inside. For root that is one line, 0 to 0. An unprivileged user with a
// range in /etc/subuid and /etc/subgid, and newuidmap and newgidmap installed,
// also gets ids 1 to N inside, mapped onto that range, so that a root
// filesystem's files of other owners exist inside. Without them only one line
// can be written, and note says why, in a sentence for the user.
func CallerToRoot() (m Mapping, note string) {
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	m = Mapping{UID: Maps{{0, uid, 1}}, GID: Maps{{0, gid, 1}}}
	if uid == 0 {
		return m, ""
	}
	name := strconv.Itoa(int(uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	for _, h := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(h); err != nil {
			return m, fmt.Sprintf("%s not found (package uidmap): mapping only your own uid and gid", h)
		}
	}
	subuid, err := SubIDs(SubUIDFile, name, uid)
	if err != nil {
		return m, fmt.Sprintf("%v: mapping only your own uid and gid", err)
	}
	subgid, err := SubIDs(SubGIDFile, name, uid)
	if err != nil {
		return m, fmt.Sprintf("%v: mapping only your own uid and gid", err)
	}
	m.UID = append(m.UID, Map{1, subuid.Start, subuid.Count})
	m.GID = append(m.GID, Map{1, subgid.Start, subgid.Count})
	m.Helpers = true
	return m, ""
}

// Explicit is the mapping for maps given by hand, used for both uids and
// gids: written by Go when we are root, by newuidmap and newgidmap otherwise.
func Explicit(ms Maps) Mapping {
	return Mapping{UID: ms, GID: ms, Helpers: os.Geteuid() != 0}
}

// BecomeRoot makes the calling process uid and gid 0, with no supplementary
// groups, in a user namespace whose maps were written after it was exec'd
// (Mapping.Configure explains why it then holds CAP_SETUID and CAP_SETGID as
// ambient capabilities). It drops those again, so the command starts with
// empty inheritable and ambient sets: execve(2) as uid 0 gives it every
// capability in the namespace anyway. Capability sets belong to a thread, so
// BecomeRoot locks the calling goroutine to its thread; call it from the
// goroutine that will call execve, right before.
func BecomeRoot() error {
	// Go applies setresuid and setresgid to all threads (they are POSIX
	// per-process), but x/sys/unix's Setgroups is the raw system call, for
	// the calling thread alone: lock first, so that the thread that drops
	// the groups is the one that calls execve (without the lock, CMD could
	// keep the caller's groups, seen inside as 65534).
	lockThread()
	trace.Call("setresgid(0, 0, 0)")
	if err := unix.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("setresgid(0, 0, 0): %w", err)
	}
	trace.Call("setgroups(0, NULL)")
	if err := unix.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups(0, NULL): %w", err)
	}
	trace.Call("setresuid(0, 0, 0)")
	if err := unix.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("setresuid(0, 0, 0): %w", err)
	}
	trace.Call("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)")
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
	}
	hdr, data, err := harden.Capget()
	if err != nil {
		return err
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	trace.Call("capset({_LINUX_CAPABILITY_VERSION_3, 0}, {inheritable=0})")
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// lockThread keeps the calling goroutine on its OS thread for good: the
// thread whose capability sets were changed is the one that must execve.
func lockThread() { runtime.LockOSThread() }
