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

func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "03-uts")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}

// The kernel's view: a UTS namespace of its own, holding the new name, while
// ours keeps its name.
func TestHostnameInOwnUTSNamespace(t *testing.T) {
	testenv.NeedRoot(t)
	host, err := ns.Inode(0, "uts")
	require.NoError(t, err)
	before, err := os.Hostname()
	require.NoError(t, err)
	r := testenv.RunArgs(t, "03-uts", "--hostname", "tincan-test-box", "--", "sh", "-c", "stat -L -c %i /proc/self/ns/uts; cat /proc/sys/kernel/hostname")
	require.Equal(t, 0, r.Code, r.Stderr)
	got := strings.Fields(r.Stdout)
	require.Len(t, got, 2)
	require.NotEqual(t, strconv.FormatUint(host, 10), got[0], "the command shares our UTS namespace")
	require.Equal(t, "tincan-test-box", got[1])
	after, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, before, after, "the outer hostname changed")
}

func TestBadHostnameRefused(t *testing.T) {
	testenv.NeedRoot(t)
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
	cmd := testenv.Command("03-uts", "--hostname", "box", "--", "hostname")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "box\n", r.Stdout)
}
