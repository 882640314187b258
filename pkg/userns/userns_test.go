package userns

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestMapCallerToRoot(t *testing.T) {
	var attr syscall.SysProcAttr
	MapCallerToRoot(&attr)
	require.NotZero(t, attr.Cloneflags&unix.CLONE_NEWUSER)
	require.Equal(t, []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}, attr.UidMappings)
	require.False(t, attr.GidMappingsEnableSetgroups)
}

func TestParseMap(t *testing.T) {
	m, err := ParseMap("0:100000:65536")
	require.NoError(t, err)
	require.Equal(t, Map{0, 100000, 65536}, m)
	require.Equal(t, "0:100000:65536", m.String())
	_, err = ParseMap("0:0:4294967295") // every id: the initial namespace's map
	require.NoError(t, err)
	for in, want := range map[string]string{
		"0:100000":            "want INSIDE:OUTSIDE:COUNT",
		"0:100000:65536:1":    "want INSIDE:OUTSIDE:COUNT",
		"a:1:1":               `"a" is not an id`,
		"-1:1:1":              `"-1" is not an id`,
		"0:0:4294967296":      `"4294967296" is not an id`,
		"0:1:0":               "COUNT must be at least 1",
		"0:4294967290:10":     "keep both ranges below 2^32-1",
		"4294967290:0:10":     "keep both ranges below 2^32-1",
		"1000:1000:1 ":        `"1 " is not an id`,
		"0:100000:65536,1:2:": "want INSIDE:OUTSIDE:COUNT",
	} {
		_, err := ParseMap(in)
		require.ErrorContains(t, err, want, in)
	}
}

func TestMapsFlag(t *testing.T) {
	var ms Maps
	require.NoError(t, ms.Set("0:1000:1"))
	require.NoError(t, ms.Set("1:100000:65536"))
	require.Error(t, ms.Set("nonsense"))
	require.Equal(t, "0:1000:1 1:100000:65536", ms.String())
	require.Equal(t, "0 1000 1\n1 100000 65536\n", ms.text())
	for in, out := range map[uint32]uint32{0: 1000, 1: 100000, 65536: 165535} {
		got, ok := ms.Outside(in)
		require.True(t, ok, in)
		require.Equal(t, out, got, in)
	}
	_, ok := ms.Outside(65537)
	require.False(t, ok)
}

func TestParseSubIDs(t *testing.T) {
	file := `# comment
alice:100000:65536
bob:abc:10
bob:300000:0
1001:200000:65536
bob:400000:1000
`
	for _, tc := range []struct {
		name string
		id   uint32
		want Range
		ok   bool
	}{
		{"alice", 1000, Range{100000, 65536}, true},
		{"carol", 1001, Range{200000, 65536}, true}, // by number
		{"bob", 1002, Range{400000, 1000}, true},    // bad lines skipped
		{"dave", 1003, Range{}, false},
	} {
		r, ok, err := parseSubIDs(strings.NewReader(file), tc.name, tc.id)
		require.NoError(t, err)
		require.Equal(t, tc.ok, ok, tc.name)
		require.Equal(t, tc.want, r, tc.name)
	}
}

func TestSubIDsFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	require.NoError(t, os.WriteFile(f, []byte("alice:100000:65536\n"), 0o644))
	r, err := SubIDs(f, "alice", 1000)
	require.NoError(t, err)
	require.Equal(t, Range{100000, 65536}, r)
	_, err = SubIDs(f, "bob", 1001)
	require.EqualError(t, err, "no range for bob in "+f)
}

// fakeProc points the package at a fake /proc holding the given files.
func fakeProc(t *testing.T, files map[string]string) {
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content+"\n"), 0o644))
	}
	old := procDir
	procDir = dir
	t.Cleanup(func() { procDir = old })
}

func TestExplainClone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		err   error
		want  string // "" means: err comes back unchanged
	}{
		{"disabled", map[string]string{"sys/user/max_user_namespaces": "0"}, unix.ENOSPC,
			"clone: no space left on device: user namespaces are disabled (user.max_user_namespaces=0): " +
				"run as root, or ask root for sysctl -w user.max_user_namespaces=15000"},
		{"limit reached", map[string]string{"sys/user/max_user_namespaces": "5"}, unix.ENOSPC,
			"clone: no space left on device: too many user namespaces (user.max_user_namespaces=5, or nested 32 deep)"},
		{"apparmor", map[string]string{"sys/kernel/apparmor_restrict_unprivileged_userns": "1"}, unix.EACCES,
			"clone: permission denied: AppArmor restricts unprivileged user namespaces " +
				"(kernel.apparmor_restrict_unprivileged_userns=1): run as root, or ask root for " +
				"sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
		{"apparmor off", map[string]string{"sys/kernel/apparmor_restrict_unprivileged_userns": "0"}, unix.EPERM,
			"clone: operation not permitted: the kernel refused a user namespace (inside a chroot, " +
				"or under a seccomp filter such as a container's?): run as root"},
		{"debian", map[string]string{"sys/kernel/unprivileged_userns_clone": "0"}, unix.EPERM,
			"clone: operation not permitted: unprivileged user namespaces are disabled " +
				"(kernel.unprivileged_userns_clone=0): run as root, or ask root for sysctl -w kernel.unprivileged_userns_clone=1"},
		{"other", nil, unix.EINVAL, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeProc(t, tc.files)
			in := fmt.Errorf("clone: %w", tc.err)
			got := Explain(in)
			if tc.want == "" {
				require.Equal(t, in, got)
				return
			}
			require.EqualError(t, got, tc.want+" (make doctor checks what this machine allows)")
			require.ErrorIs(t, got, tc.err)
		})
	}
}

// Ubuntu's restriction lets clone succeed and takes the capabilities away:
// the first privileged step fails, and only then can it be explained.
func TestExplainInside(t *testing.T) {
	mountErr := fmt.Errorf("mount proc on /proc: %w", unix.EPERM)

	fakeProc(t, map[string]string{
		"sys/kernel/apparmor_restrict_unprivileged_userns": "1",
		"self/attr/apparmor/current":                       "unprivileged_userns (enforce)",
	})
	got := ExplainInside(mountErr)
	require.ErrorIs(t, got, unix.EPERM)
	require.ErrorContains(t, got, "mount proc on /proc: operation not permitted: AppArmor restricts "+
		"unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)")
	other := fmt.Errorf("mount: %w", unix.ENOENT)
	require.Equal(t, other, ExplainInside(other))

	// Root makes user namespaces with its powers intact: an EPERM then has
	// another cause, and the setting is not blamed.
	fakeProc(t, map[string]string{
		"sys/kernel/apparmor_restrict_unprivileged_userns": "1",
		"self/attr/current": "unconfined",
	})
	require.Equal(t, mountErr, ExplainInside(mountErr))

	fakeProc(t, nil) // no AppArmor at all
	require.Equal(t, mountErr, ExplainInside(mountErr))
}

func TestConfigure(t *testing.T) {
	root := os.Geteuid() == 0
	me := uint32(os.Geteuid())

	var attr syscall.SysProcAttr
	Mapping{}.Configure(&attr) // --no-map
	require.Equal(t, uintptr(unix.CLONE_NEWUSER), attr.Cloneflags)
	require.Nil(t, attr.UidMappings)

	attr = syscall.SysProcAttr{}
	m := Explicit(Maps{{0, me + 100000, 65536}})
	require.Equal(t, !root, m.Helpers)
	m.Configure(&attr)
	if root {
		// Go writes the maps; our uid 0 is not in them, so the child must
		// be switched to uid 0 inside, or it would be nobody.
		require.Equal(t, []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}, attr.GidMappings)
		require.True(t, attr.GidMappingsEnableSetgroups)
		require.Equal(t, &syscall.Credential{Uid: 0, Gid: 0}, attr.Credential)
		require.Nil(t, attr.AmbientCaps)
	} else {
		// newuidmap writes them after the child is exec'd: it keeps the
		// capabilities it needs to become uid 0 then.
		require.Nil(t, attr.UidMappings)
		require.Equal(t, []uintptr{unix.CAP_SETUID, unix.CAP_SETGID}, attr.AmbientCaps)
	}

	attr = syscall.SysProcAttr{}
	Explicit(Maps{{0, me, 1}}).Configure(&attr)
	require.Nil(t, attr.Credential, "the caller is uid 0 inside already")
	require.Nil(t, attr.AmbientCaps)

	attr = syscall.SysProcAttr{}
	Explicit(Maps{{1, me + 100000, 10}}).Configure(&attr)
	require.Nil(t, attr.Credential, "uid 0 is not mapped: there is no root to become")
	require.Nil(t, attr.AmbientCaps)
}
