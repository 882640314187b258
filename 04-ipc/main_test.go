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

func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "04-ipc", "ipcmk", "lsipc", "ipcrm")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}

// The kernel's view: an IPC namespace of its own, in which a message queue
// made outside does not exist.
func TestQueueInvisibleInside(t *testing.T) {
	testenv.NeedRoot(t)
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
	require.Equal(t, 0, r.Code, r.Stderr)
	inode, table, _ := strings.Cut(r.Stdout, "\n")
	require.NotEqual(t, strconv.FormatUint(host, 10), inode, "the command shares our IPC namespace")
	for _, line := range strings.Split(table, "\n") {
		require.False(t, strings.HasPrefix(line, "0x"), "a segment is visible inside:\n%s", table)
	}
}

func TestRootless(t *testing.T) {
	cmd := testenv.Command("04-ipc", "lsipc", "-q", "-o", "ID")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
}
