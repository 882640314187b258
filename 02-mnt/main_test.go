package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, ".") }

// The kernel's view: the tmpfs is in the command's mount table and never in
// ours, before, during or after. The sandbox makes "/" shared, as systemd
// does, so forgetting to make the copy private would show up here.
func TestTmpfsInvisibleOutside(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "mount namespace: each --tmpfs is seen inside, never outside", "")
	dir, dir2 := t.TempDir(), t.TempDir()
	host, err := ns.Inode(0, "mnt")
	require.NoError(t, err)
	before := mountinfo(t)
	// During: CMD reports what it sees, then we look while it still runs.
	script := `stat -L -c %i /proc/self/ns/mnt; grep -c " ` + dir + ` .* - tmpfs " /proc/self/mountinfo; grep -c " ` + dir2 + ` .* - tmpfs " /proc/self/mountinfo; touch ` + dir + `/inside; read line; exit 0`
	cmd := testenv.Command("02-mnt", "--tmpfs", dir, "--tmpfs", dir2, "--", "sh", "-c", script)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	var got []string
	sc := bufio.NewScanner(stdout)
	for len(got) < 3 && sc.Scan() {
		got = append(got, sc.Text())
	}
	if len(got) < 3 {
		stdin.Close()
		cmd.Wait()
		testenv.Fail(t, "02-mnt did not run the command: %s", strings.TrimSpace(stderr.String()))
	}
	testenv.Check(t, got[0] != strconv.FormatUint(host, 10),
		"the command shares the host's mount table: CLONE_NEWNS in Cloneflags (mount_namespaces(7))")
	testenv.Check(t, before == mountinfo(t), "the tmpfs is seen outside while the command runs: "+
		"make / private first, mount(2) with MS_REC|MS_PRIVATE (\"Shared subtrees\" in mount_namespaces(7))")
	stdin.Close()
	require.NoError(t, cmd.Wait())
	testenv.Check(t, got[1] == "1" && got[2] == "1",
		"each --tmpfs is not mounted once inside (%s and %s times): mount(2) a tmpfs on each (tmpfs(5))", got[1], got[2])
	testenv.Check(t, before == mountinfo(t), "the tmpfs is seen outside after the command: make / private first (mount_namespaces(7))")
	_, err = os.Stat(dir + "/inside")
	testenv.Check(t, os.IsNotExist(err), "a file written on the tmpfs landed in the real directory: is the tmpfs mounted?")
}

func TestMissingDirRefused(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "--tmpfs of a missing directory is refused in one line", "")
	r := testenv.RunArgs(t, "02-mnt", "--tmpfs", "/nonexistent-tincan-test", "--", "true")
	require.Equal(t, 125, r.Code)
	require.Equal(t, "02-mnt: --tmpfs /nonexistent-tincan-test: not an existing directory: create it first (mkdir -p /nonexistent-tincan-test)\n", r.Stderr)
}

func TestRootless(t *testing.T) {
	testenv.Verdict(t, "works without root, in a user namespace", "fails without root, in a user namespace")
	cmd := testenv.Command("02-mnt", "--tmpfs", "/mnt", "--", "findmnt", "-n", "-o", "FSTYPE", "/mnt")
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "tmpfs\n", r.Stdout)
}

func mountinfo(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	return string(b)
}

// The transcripts run after the kernel-view tests: with make check's
// -failfast, a missing call is named by those, not by a transcript's diff.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "02-mnt", "findmnt")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}
