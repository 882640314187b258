package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, ".") }

// The kernel's view: an IPC namespace of its own, in which a message queue
// made outside does not exist.
func TestQueueInvisibleInside(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "IPC namespace: the host's shared memory is out of sight", "")
	// The sandbox has an IPC namespace of its own: this queue lives and
	// dies there, never on the host.
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	require.NoError(t, err)
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	out, err := exec.Command("ipcs", "-m").Output()
	require.NoError(t, err)
	require.Contains(t, string(out), " "+strconv.Itoa(id)+" ", "the segment is not visible even outside")

	host, err := ns.Inode(0, "ipc")
	require.NoError(t, err)
	r := testenv.RunArgs(t, "04-ipc", "sh", "-c", "stat -L -c %i /proc/self/ns/ipc; ipcs -m")
	testenv.CheckRan(t, r, 0)
	inode, table, _ := strings.Cut(r.Stdout, "\n")
	testenv.Check(t, inode != strconv.FormatUint(host, 10),
		"the command shares the host's IPC namespace: CLONE_NEWIPC in Cloneflags (ipc_namespaces(7))")
	for _, line := range strings.Split(table, "\n") {
		testenv.Check(t, !strings.HasPrefix(line, "0x"), "the host's shared memory segment is seen inside: CLONE_NEWIPC (ipc_namespaces(7))\n%s", table)
	}
}

func TestRootless(t *testing.T) {
	testenv.Verdict(t, "works without root, in a user namespace", "fails without root, in a user namespace")
	cmd := testenv.Command("04-ipc", "lsipc", "-q", "-o", "ID")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
}

// The transcripts run after the kernel-view tests: with make check's
// -failfast, a missing call is named by those, not by a transcript's diff.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "04-ipc", "ipcmk", "lsipc", "ipcrm")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}
