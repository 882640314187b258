package testenv

import (
	"os/exec"
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
