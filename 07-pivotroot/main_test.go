package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/ns"
	"tincan.dev/pkg/rootfs"
	"tincan.dev/pkg/testenv"
)

// The step, and the chroot escape helper that TestChrootEscape puts in a rootfs.
func TestMain(m *testing.M) { testenv.Main(m, ".", "./escape") }

// inside is what a shell in the container reports, section by section.
const inside = `ls /; echo --
awk '{print $1, $2}' /proc/mounts; echo --
head -c1 /dev/zero | od -An -tx1; echo hi >/dev/null && echo null ok
test -c /dev/pts/ptmx && test -L /dev/ptmx && echo ptmx ok; echo --
for n in mnt pid uts ipc; do stat -L -c %i /proc/self/ns/$n; done`

// The kernel's view, as root and rootless (a user namespace, bound device
// nodes): the command sees the rootfs and nothing of the host, its devices
// work, it is in new namespaces, and the host's mount table has not changed.
func TestSmoke(t *testing.T) {
	testenv.Verdict(t, "the command sees the rootfs as /, with its own /proc and /dev, and nothing of the host",
		"the command does not live in the rootfs: bind it onto itself, then pivot_root(\".\", \".\") and detach the old root (pivot_root(2))")
	root := testenv.Rootfs(t)
	want, err := os.ReadDir(root)
	require.NoError(t, err)
	var wantLS []string
	for _, e := range want {
		wantLS = append(wantLS, e.Name())
	}
	for _, rootless := range []bool{false, true} {
		t.Run(map[bool]string{false: "root", true: "rootless"}[rootless], func(t *testing.T) {
			before := mountinfo(t)
			cmd := testenv.Command("07-pivotroot", "--rootfs", root, "--", "sh", "-c", inside)
			if rootless {
				testenv.AsNobody(t, cmd)
			} else {
				testenv.NeedRoot(t)
			}
			r := testenv.Run(t, cmd)
			if rootless && r.Code == 125 && strings.Contains(r.Stderr, "user namespace") {
				t.Skipf("the kernel refuses unprivileged user namespaces here: %s", r.Stderr)
			}
			testenv.CheckRan(t, r, 0)
			s := strings.Split(r.Stdout, "--\n")
			require.Len(t, s, 4, r.Stdout)

			testenv.Check(t, strings.Join(wantLS, " ") == strings.Join(strings.Fields(s[0]), " "),
				"ls / inside is not the rootfs: chdir(2) into it, then pivot_root(\".\", \".\") (pivot_root(2))")

			// /proc/mounts names no host path: not the rootfs's, not the
			// test's; only the container's own mount points.
			var points []string
			for _, line := range strings.Split(strings.TrimSpace(s[1]), "\n") {
				testenv.Check(t, !strings.Contains(line, root), "a host path is in /proc/mounts inside (%s): "+
					"detach the old root, umount2(\".\", MNT_DETACH) (pivot_root(2))", line)
				points = append(points, strings.Fields(line)[1])
			}
			wantPoints := []string{"/", "/proc", "/dev", "/dev/pts", "/dev/shm"}
			if rootless { // mknod is refused there: each node is the host's, bound
				wantPoints = []string{"/", "/proc", "/dev", "/dev/null", "/dev/zero", "/dev/full",
					"/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts", "/dev/shm"}
			}
			require.Equal(t, wantPoints, points, s[1])

			require.Equal(t, "00\nnull ok\nptmx ok\n", strings.TrimLeft(s[2], " "))

			inodes := strings.Fields(s[3])
			require.Len(t, inodes, 4)
			for i, kind := range []string{"mnt", "pid", "uts", "ipc"} {
				host, err := ns.Inode(0, kind)
				require.NoError(t, err)
				require.NotEqual(t, strconv.FormatUint(host, 10), inodes[i], "the %s namespace is the host's", kind)
			}
			testenv.Check(t, before == mountinfo(t), "the host's mount table changed: make / private first (mount_namespaces(7))")
		})
	}
}

// The classic chroot escape reaches the host's files under --chroot, and
// stays inside under pivot_root, where no host tree is left to climb to.
func TestChrootEscape(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "the chroot escape reaches the host under --chroot, and nothing under pivot_root", "")
	root := filepath.Join(t.TempDir(), "rootfs") // a copy of the rootfs, with the helper
	require.NoError(t, rootfs.Busybox(root))
	b, err := os.ReadFile(filepath.Join(testenv.Bin, "escape"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "escape"), b, 0o755))

	// A file only the host has: the container's /tmp is the rootfs's.
	marker, err := os.CreateTemp("", "tincan-test-marker-")
	require.NoError(t, err)
	marker.Close()
	t.Cleanup(func() { os.Remove(marker.Name()) })
	_, err = os.Stat(filepath.Join(root, marker.Name()))
	require.ErrorIs(t, err, os.ErrNotExist)

	r := testenv.RunArgs(t, "07-pivotroot", "--rootfs", root, "--chroot", "--", "/escape", marker.Name())
	testenv.CheckRan(t, r, 0)
	testenv.Check(t, r.Stdout == "escaped: I can see "+marker.Name()+"\n", "the escape stays inside under --chroot: "+
		"--chroot must chroot(\".\") after chdir(2) into the rootfs, and nothing more (chroot(2))\n%s", r.Stdout)

	r = testenv.RunArgs(t, "07-pivotroot", "--rootfs", root, "--", "/escape", marker.Name())
	testenv.CheckRan(t, r, 0)
	testenv.Check(t, r.Stdout == "still inside: no "+marker.Name()+"\n", "the escape reaches the host's files: "+
		"pivot_root(\".\", \".\"), then detach the old root, umount2(\".\", MNT_DETACH) (pivot_root(2))\n%s", r.Stdout)
}

// Bad input gets one line and exit 125, from the parent, before clone: with
// -v no kernel call is traced, and no mount is left behind.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.Mkdir(empty, 0o755))
	before := mountinfo(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--rootfs DIR is required: make rootfs builds one in ./rootfs"},
		{[]string{"--rootfs", dir + "/nosuch"}, "--rootfs " + dir + "/nosuch: no such directory: make rootfs builds one in ./rootfs"},
		{[]string{"--rootfs", file}, "--rootfs " + file + ": not a directory: give the directory holding the root filesystem"},
		{[]string{"--rootfs", empty}, "--rootfs " + empty + " has no /bin/sh (no such file or directory): is it a root filesystem? make rootfs builds one"},
	} {
		r := testenv.RunArgs(t, "07-pivotroot", append([]string{"-v"}, tc.args...)...)
		require.Equal(t, 125, r.Code, tc.args)
		// Not root, the step says it will add a user namespace; nothing else.
		stderr := strings.TrimPrefix(r.Stderr, "07-pivotroot: not root: also creating a user namespace, see 06-user\n")
		require.Equal(t, "07-pivotroot: "+tc.want+"\n", stderr)
	}
	require.Equal(t, before, mountinfo(t))
}

// A CMD given explicitly is not checked by the parent: a rootfs with no
// /proc then fails inside, in the container's own mount namespace, which
// dies with it.
func TestNoProcDir(t *testing.T) {
	testenv.NeedRoot(t)
	empty := t.TempDir()
	before := mountinfo(t)
	r := testenv.RunArgs(t, "07-pivotroot", "--rootfs", empty, "--", "/bin/true")
	require.Equal(t, 125, r.Code)
	require.Equal(t, "07-pivotroot: mount proc on "+empty+"/proc: no such file or directory: create the directory first (mkdir -p "+empty+"/proc)\n", r.Stderr)
	require.Equal(t, before, mountinfo(t))
}

// What docs/ARCHITECTURE.md's rules 1 and 2 leave in the kernel, read from
// the container's own mountinfo, whatever calls made it: "/" is the rootfs,
// a mount of its own (the bind), that propagates nothing to the host (not
// shared), and has no parent mount left above it (the old root detached).
func TestRootIsTheRootfsMount(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "/ inside is the rootfs's own mount, private, with the old root detached", "")
	root := testenv.Rootfs(t)
	r := testenv.RunArgs(t, "07-pivotroot", "--rootfs", root, "--", "cat", "/proc/self/mountinfo")
	testenv.CheckRan(t, r, 0)
	ids := map[string]bool{}
	var slash []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		f := strings.Fields(line)
		ids[f[0]] = true
		if f[4] == "/" {
			slash = f
		}
	}
	require.NotNil(t, slash, "no mount on / inside:\n%s", r.Stdout)
	// Field 4 is the directory of the mounted filesystem that is the mount's
	// root: the rootfs, for a bind of it.
	testenv.Check(t, strings.HasSuffix(root, slash[3]), "/ inside is %s of its filesystem, not the rootfs %s: bind the rootfs onto itself", slash[3], root)
	testenv.Check(t, !ids[slash[1]], "/ still has a parent mount inside (mount %s): the old root is not detached", slash[1])
	for _, opt := range slash[6:] {
		if opt == "-" {
			break
		}
		testenv.Check(t, !strings.HasPrefix(opt, "shared:"), "/ inside is shared with the host (%s): make / private first", opt)
	}
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
	t.Setenv("ROOTFS", testenv.Rootfs(t))
	testenv.Transcripts(t, "07-pivotroot")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}
