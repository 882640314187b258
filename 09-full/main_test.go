package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/testenv"
)

// Main builds can into testenv.Bin; as root the tests run in the sandbox, so
// /run/tincan, named netns and links are the sandbox's own.
func TestMain(m *testing.M) { testenv.Main(m, "can=.", "01-net=../01-net", "08-cgroup=../08-cgroup") }

// canBin is the path of the can under test.
func canBin() string { return filepath.Join(testenv.Bin, "can") }

func can(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, exec.Command(canBin(), args...))
}

// rootWithProbe is a fresh copy of the busybox rootfs with the probe in /probe.
func rootWithProbe(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	// For the user-namespace tests: t.TempDir makes both levels 0700.
	require.NoError(t, os.Chmod(tmp, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(tmp), 0o755))
	dir := filepath.Join(tmp, "root")
	out, err := exec.Command("cp", "-a", testenv.Rootfs(t), dir).CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = exec.Command("cp", testenv.Probe(t), filepath.Join(dir, "probe")).CombinedOutput()
	require.NoError(t, err, string(out))
	return dir
}

// statusField reads one field of /proc/self/status as printed by cat inside.
func statusField(status, key string) string {
	for _, l := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// demoLayers lays out the README's demo: the busybox rootfs as image/0, and
// a config layer holding /etc/resolv.conf.
func demoLayers(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "image"), 0o755))
	out, err := exec.Command("cp", "-a", testenv.Rootfs(t), filepath.Join(dir, "image/0")).CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "config/etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config/etc/resolv.conf"), []byte("nameserver 10.0.0.53\n"), 0o644))
	return dir
}

// soulwing/can's default: new namespaces of every kind, on the host's files.
func TestDefaultNamespaces(t *testing.T) {
	testenv.NeedRoot(t)
	script := "echo $$; cat /proc/1/comm"
	kinds := []string{"pid", "mnt", "uts", "ipc", "net", "cgroup"}
	for _, k := range kinds {
		script += "; stat -L -c %i /proc/self/ns/" + k
	}
	r := can(t, "sh", "-c", script)
	require.Equal(t, 0, r.Code, r.Stderr)
	got := strings.Fields(r.Stdout)
	require.Equal(t, []string{"1", "sh"}, got[:2])
	for i, k := range kinds {
		host, err := ns.Inode(0, k)
		require.NoError(t, err)
		require.NotEqual(t, strconv.FormatUint(host, 10), got[2+i], "the container shares our %s namespace", k)
	}
}

func TestChrootRoot(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	r := can(t, "--chroot", root, "--", "sh", "-c", "ls /; cat /proc/mounts; head -c1 /dev/zero | od -An -tx1; touch /sys/x")
	require.Equal(t, 1, r.Code, "touch /sys/x succeeded: /sys is writable\n%s", r.Stderr)
	require.Contains(t, r.Stdout, "bin\n")
	require.Contains(t, r.Stdout, "probe\n")
	require.Contains(t, r.Stdout, " 00\n", "/dev/zero does not work")
	for _, mp := range []string{" /proc proc ", " /dev tmpfs ", " /dev/pts devpts ", " /dev/shm tmpfs ", " /dev/mqueue mqueue ", " /sys sysfs ro,"} {
		require.Contains(t, r.Stdout, mp)
	}
	require.NotContains(t, r.Stdout, root, "a host path is visible in /proc/mounts")
}

// Docker's defaults, read from the kernel inside.
func TestHardening(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	r := can(t, "--chroot", root, "--", "cat", "/proc/self/status")
	require.Equal(t, 0, r.Code, r.Stderr)
	const docker = "00000000a80425fb" // Docker's 14 capabilities
	require.Equal(t, docker, statusField(r.Stdout, "CapBnd"))
	require.Equal(t, docker, statusField(r.Stdout, "CapPrm"))
	require.Equal(t, docker, statusField(r.Stdout, "CapEff"))
	require.Equal(t, "0000000000000000", statusField(r.Stdout, "CapInh"))
	require.Equal(t, "1", statusField(r.Stdout, "NoNewPrivs"))
	require.Equal(t, "2", statusField(r.Stdout, "Seccomp"))

	r = can(t, "--chroot", root, "--", "sh", "-c", "wc -c < /proc/keys; echo x > /proc/sys/kernel/hostname")
	require.NotEqual(t, 0, r.Code, "writing /proc/sys/kernel/hostname succeeded")
	require.Equal(t, "0\n", r.Stdout, "/proc/keys is not masked")

	r = can(t, "--chroot", root, "--", "/probe", "syscall", "unshare")
	require.Equal(t, "EPERM\n", r.Stdout, r.Stderr)
	r = can(t, "--chroot", root, "--", "/probe", "syscall", "clone3")
	require.Equal(t, "ENOSYS\n", r.Stdout, r.Stderr)

	r = can(t, "--privileged", "--chroot", root, "--", "cat", "/proc/self/status")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "0", statusField(r.Stdout, "Seccomp"))
	require.NotEqual(t, docker, statusField(r.Stdout, "CapEff"))
}

func TestFlags(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	r := can(t, "--chroot", root, "--hostname", "box", "-e", "GREETING=hi", "-w", "/etc", "--tmpfs", "/tmp:size=1m,mode=1777",
		"--", "sh", "-c", "hostname; echo $GREETING; pwd; grep ' /tmp ' /proc/mounts")
	require.Equal(t, 0, r.Code, r.Stderr)
	lines := strings.Split(r.Stdout, "\n")
	require.Equal(t, []string{"box", "hi", "/etc"}, lines[:3])
	require.Contains(t, lines[3], "tmpfs /tmp tmpfs rw,nosuid,nodev,relatime,size=1024k")

	r = can(t, "--chroot", root, "--read-only", "--", "touch", "/x")
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "Read-only file system")
}

func TestBadInput(t *testing.T) {
	testenv.NeedRoot(t)
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--chroot", "/nonexistent-tincan-test"}, "can: --chroot /nonexistent-tincan-test: no such file or directory: build one with make rootfs\n"},
		{[]string{"--chroot", empty}, "can: --chroot " + empty + ": the directory is empty: build a root filesystem there with make rootfs\n"},
		{[]string{"--netns", "tincan-test-nosuch"}, "can: --netns tincan-test-nosuch: unknown network namespace (no /run/netns/tincan-test-nosuch): create it with ip netns add tincan-test-nosuch\n"},
		{[]string{"--memory", "12XB", "true"}, "can: --memory: "},
		{[]string{"--hostname", strings.Repeat("h", 65), "true"}, "can: hostname "},
	} {
		r := can(t, tc.args...)
		require.Equal(t, 125, r.Code, "%v: %s", tc.args, r.Stderr)
		require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "want one line: %q", r.Stderr)
		require.True(t, strings.HasPrefix(r.Stderr, tc.want), "got %q, want %q", r.Stderr, tc.want)
	}
	r := can(t, "--chroot", rootWithProbe(t), "nosuch")
	require.Equal(t, 127, r.Code)
	require.Equal(t, "can: exec \"nosuch\": executable file not found in $PATH\n", r.Stderr)
	requireNoState(t)
}

func TestNetModes(t *testing.T) {
	testenv.NeedRoot(t)
	host, err := ns.Inode(0, "net")
	require.NoError(t, err)
	r := can(t, "--net", "host", "stat", "-L", "-c", "%i", "/proc/self/ns/net")
	require.Equal(t, strconv.FormatUint(host, 10)+"\n", r.Stdout, r.Stderr)

	out, err := exec.Command("ip", "netns", "add", "tincan-test-can").CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { exec.Command("ip", "netns", "del", "tincan-test-can").Run() })
	want, err := os.Stat("/run/netns/tincan-test-can")
	require.NoError(t, err)
	r = can(t, "--netns", "tincan-test-can", "stat", "-L", "-c", "%i", "/proc/self/ns/net")
	require.Equal(t, strconv.FormatUint(want.Sys().(*syscall.Stat_t).Ino, 10)+"\n", r.Stdout, r.Stderr)
}

// soulwing/can's layered demo: writes land in the container layer; commit makes it
// an image layer; a deletion (whiteout) survives the commit.
func TestLayersAndCommit(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "--fs: writes land in DIR/container; commit makes it image/N+1, deletions included", "")
	dir := demoLayers(t)
	r := can(t, "--fs", dir, "--", "sh", "-c", "cat /etc/resolv.conf; echo hello > /hello; rm /bin/vi")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "nameserver 10.0.0.53\n", r.Stdout)
	require.FileExists(t, filepath.Join(dir, "container/hello"), "the write did not land in the container layer")
	require.FileExists(t, filepath.Join(dir, "image/0/bin/vi"), "the image layer was changed")

	r = testenv.Run(t, exec.Command(canBin(), "commit", "--fs", dir))
	_, err := os.Stat(filepath.Join(dir, "image/1/hello"))
	testenv.Check(t, r.Code == 0 && err == nil, "the container layer is not committed: rename(2) DIR/container to the next image/N "+
		"under an exclusive flock(2) on DIR, then make an empty container layer\n%s", strings.TrimSpace(r.Stderr))

	r = can(t, "--fs", dir, "--", "sh", "-c", "cat /hello; ls /bin/vi")
	require.Equal(t, "hello\n", r.Stdout)
	testenv.Check(t, r.Code != 0, "the deletion did not survive the commit: rename(2) the layer, whiteouts included, rather than copy it")
	entries, _ := filepath.Glob(filepath.Join(dir, ".work-*"))
	require.Empty(t, entries, "overlay work dirs left behind")
}

// runningOn starts a container on the layers in dir, and returns once it
// runs; it exits when its stdin is closed.
func runningOn(t *testing.T, dir string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(canBin(), "--fs", dir, "--", "sh", "-c", "echo up; read x; true")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 3)
	_, err := stdout.Read(buf)
	require.NoError(t, err)
	return cmd, stdin
}

func TestCommitRefusedWhileRunning(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "commit is refused while a container uses the layers", "")
	dir := demoLayers(t)
	cmd, stdin := runningOn(t, dir)
	r := testenv.Run(t, exec.Command(canBin(), "commit", "--fs", dir))
	_, err := os.Stat(filepath.Join(dir, "image/1"))
	testenv.Check(t, r.Code == 125 && os.IsNotExist(err), "commit goes ahead while a container uses the layers (exit %d): "+
		"take an exclusive flock(2) on DIR first, without blocking (LOCK_EX|LOCK_NB)", r.Code)
	testenv.Check(t, strings.Count(r.Stderr, "\n") == 1, "commit's refusal is not one line: %q", r.Stderr)
	stdin.Close()
	cmd.Wait()
}

func TestOOMKillReported(t *testing.T) {
	testenv.NeedRoot(t)
	r := can(t, "--memory", "8M", "--", "sh", "-c", "x=a; while true; do x=$x$x; done")
	require.Equal(t, 137, r.Code, r.Stderr)
	require.Contains(t, r.Stderr, "can: killed by the OOM killer: memory limit 8 MiB reached")
	requireNoState(t)
}

// --init: PID 1 passes SIGTERM on; a plain CMD as PID 1 would ignore it.
func TestInitForwardsSignals(t *testing.T) {
	testenv.NeedRoot(t)
	cmd := exec.Command(canBin(), "--init", "--", "sh", "-c", "echo up; exec sleep 60")
	stdout, _ := cmd.StdoutPipe()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 3)
	_, err := stdout.Read(buf)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err = cmd.Wait()
	require.Equal(t, 143, cmd.ProcessState.ExitCode(), "%v", err)
	requireNoState(t)
}

func TestInitReapsOrphans(t *testing.T) {
	testenv.NeedRoot(t)
	r := can(t, "--init", "--", "sh", "-c", "(sleep 0 &); sleep 0.3; cat /proc/[0-9]*/stat")
	require.Equal(t, 0, r.Code, r.Stderr)
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		require.NotContains(t, l, ") Z ", "a zombie was not reaped: %s", l)
	}
}

// A can killed by SIGKILL cannot tear down; can cleanup does it.
func TestCleanupAfterSIGKILL(t *testing.T) {
	testenv.NeedRoot(t)
	dir := demoLayers(t)
	cmd := exec.Command(canBin(), "--fs", dir, "--memory", "64M", "--", "sh", "-c", "echo up; sleep 60")
	stdout, _ := cmd.StdoutPipe()
	require.NoError(t, cmd.Start())
	buf := make([]byte, 3)
	_, err := stdout.Read(buf)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	states, _ := filepath.Glob("/run/tincan/*/state.json")
	require.Len(t, states, 1, "a SIGKILLed can leaves its state")

	r := testenv.Run(t, exec.Command(canBin(), "cleanup"))
	require.Equal(t, 0, r.Code, r.Stderr)
	requireNoState(t)
	require.NoDirExists(t, "/run/tincan", "no container runs, yet /run/tincan is left")
	works, _ := filepath.Glob(filepath.Join(dir, ".work-*"))
	require.Empty(t, works)
}

// requireNoState checks nothing of a container is left: state, cgroups
// (directories named like can's 12-digit IDs, not another run's) on every
// hierarchy, v1 or v2 (testenv.Cgroups).
func requireNoState(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	const id = "[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]"
	for {
		left, _ := filepath.Glob("/run/tincan/" + id)
		for _, p := range testenv.Cgroups() {
			if ok, _ := filepath.Match("tincan/"+id, filepath.Join(filepath.Base(filepath.Dir(p)), filepath.Base(p))); ok {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The transcripts run after the kernel-view tests: with make check's
// -failfast, a missing call is named by those, not by a transcript's diff.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	os.Setenv("ROOTFS", testenv.Rootfs(t))
	os.Setenv("DEMO", demoLayers(t))
	testdata, err := filepath.Abs("testdata")
	require.NoError(t, err)
	os.Setenv("TESTDATA", testdata)
	bundle, state := ociDemoBundle(t)
	os.Setenv("BUNDLE", bundle)
	os.Setenv("STATE", state)
	// bridge.ct leaves the bridge and nat.ct its "outside", as a user would.
	cleanupAll(t)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", "tincan-inet").Run() })
	testenv.Transcripts(t, "can", "curl", "ip")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}

// TestUsersCgroup: can cleanup as root leaves alone the cgroups of other
// users' containers, tincan/<uid>-<id>, and only those.
func TestUsersCgroup(t *testing.T) {
	for id, want := range map[string]bool{
		"1000-0123456789ab":  true,
		"0-abcdefabcdef":     true,
		"0123456789ab":       false, // root's own
		"x1000-0123456789ab": false,
		"1000-0123456789AB":  false,
		"1000-0123456789a":   false,
		"-0123456789ab":      false,
	} {
		require.Equal(t, want, usersCgroup(id), id)
	}
}

// What --memory --cpus --pids add to a start: the cgroup's limit files, and
// on cgroup v1 the move into each hierarchy (on v2 the child is born in its
// cgroup, clone3 with CLONE_INTO_CGROUP). One start of each kind in turn, so
// that the machine's drift falls on all alike; each metric is that kind's
// median (ns/op is all of them together). --cpus 1: a cap below what the
// start itself uses (under qemu's TCG it uses much more) would measure the
// throttling, the limit doing its job, not its cost. make bench has the
// same row on this host; make vmbench runs this on a cgroup v2 one.
func BenchmarkLimits(b *testing.B) {
	testenv.NeedRoot(b)
	root := testenv.Rootfs(b)
	kinds := []struct {
		name  string
		flags []string
	}{
		{"none", nil},
		{"memory", []string{"--memory", "64M"}},
		{"cpus", []string{"--cpus", "1"}},
		{"pids", []string{"--pids", "100"}},
		{"all", []string{"--memory", "64M", "--cpus", "1", "--pids", "100"}},
	}
	times := make([][]time.Duration, len(kinds))
	for i := 0; i < b.N; i++ {
		for k, kind := range kinds {
			start := time.Now()
			if r := testenv.RunArgs(b, "can", append(kind.flags, "--chroot", root, "/bin/true")...); r.Code != 0 {
				b.Fatal(r.Stderr)
			}
			times[k] = append(times[k], time.Since(start))
		}
	}
	for k, kind := range kinds {
		slices.Sort(times[k])
		b.ReportMetric(float64(times[k][len(times[k])/2])/1e6, "ms/"+kind.name)
	}
}
