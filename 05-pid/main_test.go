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

// The kernel's view: a new PID namespace, CMD is PID 1 in it, and the /proc
// it reads is the new namespace's.
func TestPIDNamespace(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "PID namespace: the command is PID 1, and /proc is its own", "")
	host, err := ns.Inode(0, "pid")
	require.NoError(t, err)
	r := testenv.RunArgs(t, "05-pid", "sh", "-c", "stat -L -c %i /proc/self/ns/pid; echo $$; cat /proc/1/comm")
	testenv.CheckRan(t, r, 0)
	lines := strings.Fields(r.Stdout)
	require.Len(t, lines, 3)
	testenv.Check(t, lines[1] == "1" && lines[0] != strconv.FormatUint(host, 10),
		"the command is PID %s of the host's PID namespace: CLONE_NEWPID in Cloneflags (pid_namespaces(7))", lines[1])
	testenv.Check(t, lines[2] == "sh", "/proc/1 is the host's %s, not the command: mount a new proc on /proc in the child (pid_namespaces(7))", lines[2])
}

func TestPsAuxShowsOnlyPID1(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "ps aux lists only PID 1", "")
	r := testenv.RunArgs(t, "05-pid", "ps", "aux")
	testenv.CheckRan(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	testenv.Check(t, len(lines) == 2 && strings.Fields(lines[1])[1] == "1",
		"ps aux lists %d processes, not PID 1 alone: mount a new proc on /proc in the child (pid_namespaces(7))", len(lines)-1)
}

// Mounting /proc happens in the container's own mount namespace: the host's
// /proc still shows the host's processes.
func TestProcMountStaysInside(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "the new /proc stays inside: the host's mount table is unchanged", "")
	before, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	r := testenv.RunArgs(t, "05-pid", "true")
	testenv.CheckRan(t, r, 0)
	after, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	testenv.Check(t, string(before) == string(after), "the new /proc shows up in the host's mount table: "+
		"make / private before mounting, mount(2) with MS_REC|MS_PRIVATE (\"Shared subtrees\" in mount_namespaces(7))")
}

// The point of "Linux – Writing a Simple Container App with Namespaces"
// (docs/ARCHITECTURE.md, Sources): inside, a process outside has no PID at all, so
// it cannot be signalled.
func TestCannotSignalOutside(t *testing.T) {
	testenv.NeedRoot(t)
	outside := exec.Command("sleep", "60")
	require.NoError(t, outside.Start())
	t.Cleanup(func() { outside.Process.Kill(); outside.Wait() })
	testenv.Verdict(t, "a host process cannot be signalled from inside", "")
	pid := strconv.Itoa(outside.Process.Pid)
	r := testenv.RunArgs(t, "05-pid", "kill", "-TERM", pid)
	testenv.Check(t, r.Code != 0 && outside.Process.Signal(syscall.Signal(0)) == nil,
		"kill %s from inside killed a host process: CLONE_NEWPID (pid_namespaces(7))", pid)
}

// When PID 1 exits, the kernel kills every other process of its namespace.
func TestPID1ExitKillsTheRest(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "when PID 1 exits, the kernel kills the rest of its namespace", "")
	r := testenv.RunArgs(t, "05-pid", "sh", "-c", "sleep 60 >/dev/null & stat -L -c %i /proc/self/ns/pid")
	testenv.CheckRan(t, r, 0)
	inode := strings.TrimSpace(r.Stdout)
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := processesIn(inode)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			testenv.Fail(t, "processes outlive the command (%v): CLONE_NEWPID, so that it is PID 1 (pid_namespaces(7))", left)
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
	testenv.Verdict(t, "works without root, in a user namespace", "fails without root, in a user namespace")
	cmd := testenv.Command("05-pid", "ps", "-o", "pid,user,args")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "05-pid: not root: also creating a user namespace, see 06-user\n", r.Stderr)
	require.Equal(t, "    PID USER     COMMAND\n      1 root     ps -o pid,user,args\n", r.Stdout)
}

// The transcripts run after the kernel-view tests: with make check's
// -failfast, a missing call is named by those, not by a transcript's diff.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "05-pid")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}
