package main

import (
	"bufio"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, ".") }

func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "02-mnt", "findmnt")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}

// The kernel's view: the tmpfs is in the command's mount table and never in
// ours, before, during or after. The sandbox makes "/" shared, as systemd
// does, so forgetting to make the copy private would show up here.
func TestTmpfsInvisibleOutside(t *testing.T) {
	testenv.NeedRoot(t)
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
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	var got []string
	sc := bufio.NewScanner(stdout)
	for len(got) < 3 && sc.Scan() {
		got = append(got, sc.Text())
	}
	require.Len(t, got, 3, "the command did not report its mounts")
	require.Equal(t, before, mountinfo(t), "the tmpfs is visible outside while the command runs")
	stdin.Close()
	require.NoError(t, cmd.Wait())
	require.Equal(t, []string{"1", "1"}, got[1:], "each --tmpfs is mounted once inside")
	require.NotEqual(t, strconv.FormatUint(host, 10), got[0], "the command shares our mount namespace")
	require.Equal(t, before, mountinfo(t), "the tmpfs is visible outside after the command")
	_, err = os.Stat(dir + "/inside")
	require.True(t, os.IsNotExist(err), "a file written on the tmpfs landed in the real directory")
}

func TestMissingDirRefused(t *testing.T) {
	testenv.NeedRoot(t)
	r := testenv.RunArgs(t, "02-mnt", "--tmpfs", "/nonexistent-tincan-test", "--", "true")
	require.Equal(t, 125, r.Code)
	require.Equal(t, "02-mnt: --tmpfs /nonexistent-tincan-test: not an existing directory: create it first (mkdir -p /nonexistent-tincan-test)\n", r.Stderr)
}

func TestRootless(t *testing.T) {
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
