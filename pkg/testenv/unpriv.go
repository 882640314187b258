package testenv

import (
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Nobody is the unprivileged user the rootless tests run as.
const Nobody = 65534

// AsNobody makes cmd run as uid and gid 65534, with no supplementary groups:
// an ordinary user, for the rootless tests. The caller must be root.
func AsNobody(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	NeedRoot(t)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}
	cmd.Env = append(cmd.Environ(), "HOME=/")
}

// RunAsNobody runs cmd as Nobody (see AsNobody) and returns what it did; it
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
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}}
		userNS.allowed = cmd.Run() == nil
	})
	return userNS.allowed
}
