package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, ".") }

// The kernel's view: a UTS namespace of its own, holding the new name, while
// ours keeps its name.
func TestHostnameInOwnUTSNamespace(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "UTS namespace: the command has its own hostname, the host keeps its own", "")
	host, err := ns.Inode(0, "uts")
	require.NoError(t, err)
	before, err := os.Hostname()
	require.NoError(t, err)
	r := testenv.RunArgs(t, "03-uts", "--hostname", "tincan-test-box", "--", "sh", "-c", "stat -L -c %i /proc/self/ns/uts; cat /proc/sys/kernel/hostname")
	after, err := os.Hostname()
	require.NoError(t, err)
	testenv.Check(t, before == after, "the host's hostname changed to %s: CLONE_NEWUTS in Cloneflags (uts_namespaces(7))", after)
	testenv.CheckRan(t, r, 0)
	got := strings.Fields(r.Stdout)
	require.Len(t, got, 2)
	testenv.Check(t, got[0] != strconv.FormatUint(host, 10),
		"the command shares the host's UTS namespace: CLONE_NEWUTS in Cloneflags (uts_namespaces(7))")
	testenv.Check(t, got[1] == "tincan-test-box",
		"the hostname inside is %s, not --hostname's: sethostname(2) in the child (uts_namespaces(7))", got[1])
}

func TestBadHostnameRefused(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "a bad --hostname is refused in one line, before any namespace exists", "")
	// A newline would add a line to the container's /etc/hosts; RFC 1123
	// allows letters, digits, '-' and '.', labels of at most 63.
	for _, name := range []string{"", strings.Repeat("a", 65), "box\n6.6.6.6 bank", "-box", strings.Repeat("a", 64)} {
		r := testenv.RunArgs(t, "03-uts", "--hostname", name, "--", "true")
		require.Equal(t, 125, r.Code, "hostname %q", name)
		require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "want one line, got %q", r.Stderr)
		require.Contains(t, r.Stderr, "03-uts: hostname ")
	}
	// 64 bytes is the limit, and allowed.
	long := strings.Repeat("a", 32) + "." + strings.Repeat("b", 31)
	r := testenv.RunArgs(t, "03-uts", "--hostname", long, "--", "hostname")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, long+"\n", r.Stdout)
}

func TestRootless(t *testing.T) {
	testenv.Verdict(t, "works without root, in a user namespace", "fails without root, in a user namespace")
	cmd := testenv.Command("03-uts", "--hostname", "box", "--", "hostname")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "box\n", r.Stdout)
}

// The transcripts run after the kernel-view tests: with make check's
// -failfast, a missing call is named by those, not by a transcript's diff.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "03-uts")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}
