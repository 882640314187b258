package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/require"
)

// A bundle whose config.json asks for what can cannot or must not do is
// refused by FromOCI, in one line naming the field, before anything is made.
func TestFromOCIRefuses(t *testing.T) {
	bundle := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755))
	for _, tc := range []struct {
		edit func(c *specs.Spec)
		want string
	}{
		{func(c *specs.Spec) { c.Version = "2.0.0" }, `ociVersion "2.0.0"`},
		{func(c *specs.Spec) { c.Process.Args = nil }, "process.args is empty"},
		{func(c *specs.Spec) { c.Process.Cwd = "tmp" }, `process.cwd "tmp"`},
		{func(c *specs.Spec) { c.Root.Path = "nothere" }, "root.path"},
		{func(c *specs.Spec) { c.Linux.Namespaces = c.Linux.Namespaces[:4] }, "no mount namespace"},
		{func(c *specs.Spec) {
			c.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, "hostname is set but the container has no UTS namespace"},
		{func(c *specs.Spec) { c.Linux.Sysctl = map[string]string{"kernel.panic": "1"} }, "sysctl kernel.panic is not namespaced"},
		{func(c *specs.Spec) {
			c.Linux.Namespaces = append(c.Linux.Namespaces[:1], specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/ipc"})
		}, "that is a namespace of another type"},
		{func(c *specs.Spec) {
			c.Mounts = append(c.Mounts, specs.Mount{Destination: "/a/../../etc", Type: "tmpfs"})
		}, `".." is refused`},
		{func(c *specs.Spec) { c.Process.Capabilities.Bounding = []string{"CAP_NET_ADMN"} }, "CAP_NET_ADMN"},
		{func(c *specs.Spec) {
			c.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}
		}, "linux.seccomp"},
	} {
		c := DefaultOCI(false)
		tc.edit(c)
		_, err := FromOCI("tincan-test", bundle, c)
		require.Error(t, err, tc.want)
		require.Contains(t, err.Error(), tc.want)
		require.NotContains(t, err.Error(), "\n")
	}
	for _, id := range []string{"", "..", "a/b", "a b"} {
		_, err := FromOCI(id, bundle, DefaultOCI(false))
		require.ErrorContains(t, err, "container id", id)
	}
}

// can spec's config.json is accepted as it is, and becomes a Spec that can's
// own command line would also make: root, args, cwd, hostname.
func TestFromOCIDefault(t *testing.T) {
	bundle := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755))
	s, err := FromOCI("tincan-test", bundle, DefaultOCI(false))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(bundle, "rootfs"), s.Rootfs)
	require.Equal(t, []string{"sh"}, s.Args)
	require.Equal(t, "can", s.Hostname)
	require.True(t, s.ReadOnly && s.Terminal)
	require.NotNil(t, s.OCI.Config.Hooks, "hooks are never nil past FromOCI")
	_, err = FromOCI("tincan-test", bundle, DefaultOCI(true))
	require.NoError(t, err, "can spec --rootless")
	require.True(t, strings.HasPrefix(specs.Version, "1."))
}
