package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

// --user: the ids, the groups of /etc/group, and no
// capabilities left for a user that is not root.
func TestUser(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	f, err := os.OpenFile(filepath.Join(root, "etc/group"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("staff:x:50:nobody\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	const show = `echo $(id -u) $(id -g); grep -e Groups -e CapPrm -e CapEff /proc/self/status`
	for _, tc := range []struct {
		args []string
		want string
	}{
		// nobody's groups are exactly its /etc/group ones: root's are gone.
		{[]string{"--user", "nobody"}, "65534 65534\nGroups:\t50 \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "1000:1000"}, "1000 1000\nGroups:\t \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "1000"}, "1000 0\nGroups:\t \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "nobody:staff", "--init"}, "65534 50\nGroups:\t50 \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "0"}, "0 0\nGroups:\t \nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n"},
	} {
		r := can(t, append(append([]string{"--chroot", root}, tc.args...), "--", "sh", "-c", show)...)
		require.Equal(t, 0, r.Code, "%v: %s", tc.args, r.Stderr)
		require.Equal(t, tc.want, r.Stdout, "%v", tc.args)
	}
	r := can(t, "--chroot", root, "--user", "nosuch", "true")
	require.Equal(t, 125, r.Code)
	require.Equal(t, "can: --user nosuch: no user \"nosuch\" in the container's /etc/passwd: give a number, or add the user to the image\n", r.Stderr)

}

// Rootless, overlay keeps its marks in user.overlay.* extended attributes
// (mount option userxattr), which can pull writes when not root: an opaque
// directory in an upper layer must still hide what the layers below hold.
func TestRootlessLayersOpaque(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a user namespace: skipped with -short (make unit); make test runs it")
	}
	tmp := t.TempDir()
	require.NoError(t, os.Chmod(tmp, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(tmp), 0o755))
	dir := filepath.Join(tmp, "fs")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "image"), 0o755))
	out, err := exec.Command("cp", "-a", testenv.Rootfs(t), filepath.Join(dir, "image/0")).CombinedOutput()
	require.NoError(t, err, string(out))
	for _, f := range []string{"image/0/srv/cache/old.txt", "image/1/srv/cache/new.txt"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644))
	}
	err = unix.Setxattr(filepath.Join(dir, "image/1/srv/cache"), "user.overlay.opaque", []byte("y"), 0)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// tmpfs keeps user.* extended attributes since Linux 6.6.
		t.Skipf("%s takes no user.* extended attributes (tmpfs before Linux 6.6): put TMPDIR on ext4, xfs or btrfs", tmp)
	}
	require.NoError(t, err)
	if testenv.Root() {
		out, err = exec.Command("chown", "-R", "nobody:", tmp).CombinedOutput()
		require.NoError(t, err, string(out))
	}

	cmd := exec.Command(canBin(), "--fs", dir, "--", "ls", "/srv/cache")
	testenv.AsNobody(t, cmd)
	cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR=", "TMPDIR="+tmp)
	r := testenv.RunAsNobody(t, cmd)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "new.txt\n", r.Stdout, "the opaque directory did not hide image/0's old.txt")
}
