package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// An image's symlinks, and --tmpfs paths, are resolved inside the container's
// root, never on the host: each case points a directory of the image at a
// host directory (absolutely, or climbing with ".."), and fails if can
// creates anything there, or if the mount does not land where the container
// looks for it.
func TestPathsStayInRoot(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	for _, tc := range []struct {
		name  string
		link  string // path in the image replaced by a symlink to the host dir
		climb bool   // a relative link that climbs with "..", not an absolute one
		file  string // the link points at this file in the host dir, not at the dir
		made  bool   // the link's target exists in the image (root in a user namespace cannot make it)
		args  []string
		check string // shell run inside; must succeed
	}{
		{name: "etc bridge", link: "etc", args: []string{"--net", "bridge"}, check: "grep -q $(hostname) /etc/hosts && test -s /etc/resolv.conf"},
		{name: "etc climbing", link: "etc", climb: true, args: []string{"--net", "bridge"}, check: "grep -q $(hostname) /etc/hosts"},
		{name: "etc/hosts file", link: "etc/hosts", file: "hosts", args: []string{"--net", "bridge"}, check: "grep -q $(hostname) /etc/hosts"},
		{name: "proc", link: "proc", check: "test -r /proc/self/status"},
		{name: "proc climbing", link: "proc", climb: true, check: "test -r /proc/self/status"},
		{name: "dev", link: "dev", check: "echo x > /dev/null && test -c /dev/zero && test -d /dev/mqueue"},
		{name: "sys", link: "sys", check: "test -d /sys/class/net/lo"},
		{name: "sys user-ns", link: "sys", made: true, args: []string{"--user-ns"}, check: "test -d /sys/class/net"},
		{name: "tmp tmpfs", link: "tmp", args: []string{"--tmpfs", "/tmp"}, check: "grep -q ' tmpfs ' /proc/mounts && touch /tmp/x"},
		{name: "tmpfs below a link", link: "data", args: []string{"--tmpfs", "/data/cache"}, check: "touch /data/cache/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := rootWithProbe(t)
			host := hostDir(t)
			link := filepath.Join(root, tc.link)
			require.NoError(t, os.RemoveAll(link))
			target := host
			if tc.climb {
				target = strings.Repeat("../", 20) + strings.TrimPrefix(host, "/")
			}
			require.NoError(t, os.Symlink(filepath.Join(target, tc.file), link))
			if tc.made {
				require.NoError(t, os.MkdirAll(filepath.Join(root, host), 0o755))
			}

			args := append(append([]string{"--chroot", root}, tc.args...), "--", "sh", "-c", tc.check)
			r := can(t, args...)
			requireEmptyDir(t, host)
			require.Equal(t, 0, r.Code, "the mount is not where the container looks: %s", r.Stderr)
		})
	}
	// ".." in --tmpfs is refused before anything is made.
	host := hostDir(t)
	for _, p := range []string{"/../../../.." + host + "/x", "/tmp/../../.." + host} {
		r := can(t, "--chroot", rootWithProbe(t), "--tmpfs", p, "true")
		require.Equal(t, 125, r.Code, r.Stderr)
		require.Contains(t, r.Stderr, `".." is refused`)
		requireEmptyDir(t, host)
	}
	requireNoState(t)
}

// hostDir is an empty host directory for the links to point at: in /run,
// not /tmp, where the test's root filesystem is (a link /tmp -> /tmp/x would
// be a loop).
func hostDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/run", "tincan-test-host-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func requireEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	require.Empty(t, names, "can wrote in %s, outside the root filesystem", dir)
}
