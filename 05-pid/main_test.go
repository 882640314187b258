package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, ".") }

func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "05-pid")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}

// The kernel's view: a new PID namespace, CMD is PID 1 in it, and the /proc
// it reads is the new namespace's.
func TestPIDNamespace(t *testing.T) {
	testenv.NeedRoot(t)
	host, err := ns.Inode(0, "pid")
	require.NoError(t, err)
	r := testenv.RunArgs(t, "05-pid", "sh", "-c", "stat -L -c %i /proc/self/ns/pid; echo $$; cat /proc/1/comm")
	require.Equal(t, 0, r.Code, r.Stderr)
	lines := strings.Fields(r.Stdout)
	require.Len(t, lines, 3)
	require.NotEqual(t, strconv.FormatUint(host, 10), lines[0], "the command shares the host's PID namespace")
	require.Equal(t, "1", lines[1], "the command is not PID 1")
	require.Equal(t, "sh", lines[2], "/proc/1 is not the container's PID 1: /proc was not mounted again")
}

func TestPsAuxShowsOnlyPID1(t *testing.T) {
	testenv.NeedRoot(t)
	r := testenv.RunArgs(t, "05-pid", "ps", "aux")
	require.Equal(t, 0, r.Code, r.Stderr)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 2, "ps aux shows more than the header and PID 1:\n%s", r.Stdout)
	require.Equal(t, "1", strings.Fields(lines[1])[1])
}

// Mounting /proc happens in the container's own mount namespace: the host's
// /proc still shows the host's processes.
func TestProcMountStaysInside(t *testing.T) {
	testenv.NeedRoot(t)
	before, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	r := testenv.RunArgs(t, "05-pid", "true")
	require.Equal(t, 0, r.Code, r.Stderr)
	after, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	require.Equal(t, string(before), string(after))
}

// The point of "Linux – Writing a Simple Container App with Namespaces"
// (docs/ARCHITECTURE.md, Sources): inside, a process outside has no PID at all, so
// it cannot be signalled.
func TestCannotSignalOutside(t *testing.T) {
	testenv.NeedRoot(t)
	outside := exec.Command("sleep", "60")
	require.NoError(t, outside.Start())
	t.Cleanup(func() { outside.Process.Kill(); outside.Wait() })
	pid := strconv.Itoa(outside.Process.Pid)
	r := testenv.RunArgs(t, "05-pid", "kill", "-TERM", pid)
	require.NotEqual(t, 0, r.Code, "kill %s from inside succeeded", pid)
	require.NoError(t, outside.Process.Signal(syscall.Signal(0)), "the process outside was hurt")
}

// When PID 1 exits, the kernel kills every other process of its namespace.
func TestPID1ExitKillsTheRest(t *testing.T) {
	testenv.NeedRoot(t)
	r := testenv.RunArgs(t, "05-pid", "sh", "-c", "sleep 60 >/dev/null & stat -L -c %i /proc/self/ns/pid")
	require.Equal(t, 0, r.Code, r.Stderr)
	inode := strings.TrimSpace(r.Stdout)
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := processesIn(inode)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the finished namespace still run: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesIn lists the PIDs whose PID namespace has the given inode.
func processesIn(inode string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ino, err := ns.Inode(pid, "pid"); err == nil && strconv.FormatUint(ino, 10) == inode {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestCommandNotFound(t *testing.T) {
	testenv.NeedRoot(t)
	r := testenv.RunArgs(t, "05-pid", "nosuch")
	require.Equal(t, 127, r.Code)
	require.Equal(t, "05-pid: exec \"nosuch\": executable file not found in $PATH\n", r.Stderr)
}

func TestExitStatusPassesThrough(t *testing.T) {
	testenv.NeedRoot(t)
	require.Equal(t, 3, testenv.RunArgs(t, "05-pid", "sh", "-c", "exit 3").Code)
	// A signal that kills CMD: 128+N. PID 1 ignores signals it has no handler
	// for, so kill a child of it.
	require.Equal(t, 137, testenv.RunArgs(t, "05-pid", "sh", "-c", "sh -c 'kill -KILL $$'; exit $?").Code)
}

// Without root, 05-pid adds a user namespace that maps the caller to root.
func TestRootless(t *testing.T) {
	cmd := testenv.Command("05-pid", "ps", "-o", "pid,user,args")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "05-pid: not root: also creating a user namespace, see 06-user\n", r.Stderr)
	require.Equal(t, "    PID USER     COMMAND\n      1 root     ps -o pid,user,args\n", r.Stdout)
}
