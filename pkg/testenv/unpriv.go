package testenv

import (
	"os/exec"
	"strings"
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
// skips t when the kernel refuses an unprivileged user namespace, which the
// steps report as exit 125 naming the user namespace.
func RunAsNobody(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	AsNobody(t, cmd)
	r := Run(t, cmd)
	if r.Code == 125 && strings.Contains(r.Stderr, "user namespace") {
		t.Skipf("the kernel refuses unprivileged user namespaces here: %s", r.Stderr)
	}
	return r
}
