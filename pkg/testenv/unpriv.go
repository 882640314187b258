package testenv

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Nobody is the unprivileged user the rootless tests run as when the tests
// run as root.
const Nobody = 65534

// User is the unprivileged user the rootless tests run as: nobody (65534)
// when the tests run as root, who can become anyone; otherwise the user
// running them, who cannot, and whose rootless paths are the ones to test.
type User struct {
	UID, GID uint32
	Name     string
}

// Unpriv returns the user AsNobody runs commands as.
func Unpriv() User {
	if Root() {
		return User{Nobody, Nobody, "nobody"}
	}
	uid := uint32(os.Getuid())
	name := strconv.Itoa(int(uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return User{uid, uint32(os.Getgid()), name}
}

// SubIDs returns the start and length of the user's first range in
// /etc/subuid, and whether /etc/subgid gives them one too, as newuidmap
// needs. (pkg/userns has the real parser; testenv cannot import it, whose
// own tests import testenv.)
func (u User) SubIDs() (start, count uint32, ok bool) {
	start, count, ok = firstRange("/etc/subuid", u)
	_, _, gok := firstRange("/etc/subgid", u)
	return start, count, ok && gok
}

func firstRange(file string, u User) (start, count uint32, ok bool) {
	b, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 3 || (f[0] != u.Name && f[0] != strconv.Itoa(int(u.UID))) {
			continue
		}
		s, err1 := strconv.ParseUint(f[1], 10, 32)
		c, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 == nil && err2 == nil && c > 0 {
			return uint32(s), uint32(c), true
		}
	}
	return 0, 0, false
}

// AsNobody makes cmd run as an ordinary user, for the rootless tests: as
// root, as uid and gid 65534 with no supplementary groups; otherwise as the
// caller, who is one already. Under -short (make unit) it skips t, as
// NeedRoot does, so that make unit runs the same tests for everyone.
func AsNobody(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a user namespace: skipped with -short (make unit); make test runs it")
	}
	if !Root() {
		cmd.Env = cmd.Environ() // as root's case does: callers append to it
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}
	cmd.Env = append(cmd.Environ(), "HOME=/")
}

// RunAsNobody runs cmd as Unpriv (see AsNobody) and returns what it did; it
// skips t when the kernel refuses an unprivileged user namespace: when the
// step fails naming the user namespace (exit 125), and unshare(1) as nobody
// is refused one too. A step that fails for its own reasons is not skipped.
func RunAsNobody(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	AsNobody(t, cmd)
	r := Run(t, cmd)
	if r.Code == 125 && strings.Contains(r.Stderr, "user namespace") && !userNSAllowed() {
		skip(t, "the kernel refuses unprivileged user namespaces here: "+strings.TrimSpace(r.Stderr))
	}
	return r
}

var userNS struct {
	once    sync.Once
	allowed bool
}

// userNSAllowed reports whether nobody may make a user namespace here.
func userNSAllowed() bool {
	userNS.once.Do(func() {
		cmd := exec.Command("unshare", "--user", "true")
		if Root() {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}}
		}
		userNS.allowed = cmd.Run() == nil
	})
	return userNS.allowed
}
