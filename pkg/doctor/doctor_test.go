package doctor

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

// fake builds a /proc and /sys tree from a map of path -> content ("proc/..."
// and "sys/..."); a path ending in "/" is a directory.
func fake(t *testing.T, files map[string]string) Machine {
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			require.NoError(t, os.MkdirAll(full, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
	}
	return Machine{
		Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"),
		GoVersion: "go1.22.2",
		LookPath:  func(name string) (string, error) { return "/usr/bin/" + name, nil },
		Static:    func(string) (bool, error) { return true, nil },
		Nftables:  func() error { return unix.EPERM },
	}
}

func gz(t *testing.T, s string) string {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write([]byte(s))
	require.NoError(t, z.Close())
	return b.String()
}

// The machine these lessons were written on: root, cgroup v1 hybrid with an
// empty-handed v2, "/" private, nf_tables built in.
func TestHybridRoot(t *testing.T) {
	m := fake(t, map[string]string{
		"proc/self/mountinfo": `23 1 254:1 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,clone_children,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
		"proc/filesystems":                             "nodev\tcgroup\nnodev\tcgroup2\nnodev\toverlay\n",
		"proc/sys/user/max_user_namespaces":            "96364\n",
		"proc/config.gz":                               gz(t, "CONFIG_USER_NS=y\nCONFIG_NF_TABLES=y\n"),
		"sys/fs/cgroup/unified/cgroup.controllers":     "\n",
		"sys/fs/cgroup/unified/cgroup.subtree_control": "\n",
	})
	m.Euid = 0
	m.Nftables = nil // cannot ask: the config says
	checks := m.Run()
	for _, c := range checks {
		require.Equal(t, OK, c.Status, "%+v", c)
		require.Empty(t, c.Fix, c.Name)
	}
	require.False(t, Failed(checks))
	// clone_children is an option of the cpuset mount, not a controller.
	require.Equal(t, "hybrid: v1 cpu cpuacct cpuset memory pids; v2 (no controllers)", m.CgroupControllers().Found)
	require.Equal(t, "nf_tables built into the kernel (CONFIG_NF_TABLES=y)", m.Nft().Found)
	require.Equal(t, "private: mounts here never reach another namespace", m.Propagation().Found)

	var out bytes.Buffer
	Print(&out, checks)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, len(checks)+1)
	require.Regexp(t, `^CHECK +STATUS +FOUND +FIX$`, lines[0])
	require.Regexp(t, `^overlayfs +ok +overlay in /proc/filesystems +-$`, lines[5])
}

// A systemd laptop: cgroup v2 only, "/" shared, Ubuntu's AppArmor switch
// on, an ordinary user with a delegated cgroup.
func TestSystemdLaptop(t *testing.T) {
	own := "/user.slice/user-1000.slice/user@1000.service/app.slice/run.scope"
	m := fake(t, map[string]string{
		"proc/self/mountinfo": `25 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`,
		"proc/self/cgroup":                                      "0::" + own + "\n",
		"proc/filesystems":                                      "nodev\tcgroup2\n",
		"proc/sys/user/max_user_namespaces":                     "63429\n",
		"proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n",
		"sys/module/nf_tables/":                                 "",
		"sys/fs/cgroup/cgroup.controllers":                      "cpuset cpu io memory hugetlb pids rdma misc\n",
		"sys/fs/cgroup" + own + "/cgroup.controllers":           "cpu memory pids\n",
	})
	// The delegated cgroup belongs to the user running the checks.
	m.Euid = os.Geteuid()
	if m.Euid == 0 {
		m.Euid = 1000
		require.NoError(t, os.Chown(filepath.Join(m.Sys, "fs/cgroup", own), 1000, 1000))
	}
	c := m.Root()
	require.Equal(t, Warn, c.Status)
	require.Contains(t, c.Fix, "sudo")

	c = m.UserNamespaces()
	require.Equal(t, Fail, c.Status)
	require.Equal(t, "AppArmor restricts unprivileged ones: kernel.apparmor_restrict_unprivileged_userns=1", c.Found)
	require.Contains(t, c.Fix, "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")

	c = m.CgroupControllers()
	require.Equal(t, OK, c.Status)
	require.Equal(t, "v2: cpuset cpu io memory hugetlb pids rdma misc", c.Found)

	c = m.CgroupDelegation()
	require.Equal(t, OK, c.Status, "%+v", c)
	require.Equal(t, own+" is yours, with cpu memory pids", c.Found)

	c = m.Overlay()
	require.Equal(t, Warn, c.Status)
	require.Equal(t, "sudo modprobe overlay", c.Fix)

	require.Equal(t, "nf_tables module loaded", m.Nft().Found)
	require.Equal(t, "shared (shared:1, as systemd sets it): each step makes its copy private first", m.Propagation().Found)
}

// Everything that can be wrong, is.
func TestBrokenMachine(t *testing.T) {
	m := fake(t, map[string]string{
		"proc/self/mountinfo": `25 1 8:2 / / rw,relatime master:3 - ext4 /dev/sda2 rw
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`,
		"proc/self/cgroup":                  "4:memory:/\n",
		"proc/filesystems":                  "nodev\tcgroup\n",
		"proc/sys/user/max_user_namespaces": "0\n",
	})
	m.Euid = 1000
	m.GoVersion = "go1.21.5"
	m.LookPath = func(name string) (string, error) {
		if name == "busybox" {
			return "/bin/busybox", nil
		}
		return "", exec.ErrNotFound
	}
	m.Static = func(string) (bool, error) { return false, nil }
	m.Nftables = func() error { return unix.EPROTONOSUPPORT }
	want := map[string]struct {
		status Status
		found  string
		fix    string
	}{
		"root":              {Warn, "uid 1000: steps 01-07 run in a user namespace (06-user); cgroups, veth and NAT need root", "make test SUDO=1; sudo bin/NN-step ... (through sudo, what they make is named after you: pkg/owner)"},
		"user namespaces":   {Fail, "disabled: user.max_user_namespaces=0", "sudo sysctl -w user.max_user_namespaces=15000"},
		"cgroups":           {Fail, "v1: cpu cpuacct memory; missing pids", "enable the controller: boot with cgroup_enable=pids, or mount it (mount -t cgroup -o pids none /sys/fs/cgroup/pids)"},
		"cgroup delegation": {Warn, "cgroup v1 only: no delegation to users", "run 08-cgroup and can with sudo, or: systemd-run --user --scope -p Delegate=yes make test"},
		"overlayfs":         {Warn, "overlay is not in /proc/filesystems (a module not loaded yet?)", "sudo modprobe overlay"},
		"nftables":          {Warn, "nf_tables not found (netlink: protocol not supported)", "sudo modprobe nf_tables; the nftables package has nft to look at the rules"},
		"/ propagation":     {OK, "slave (master:3): mounts arrive from the host, none go back", ""},
		"busybox-static":    {Fail, "/bin/busybox is dynamically linked: it cannot run alone in a root filesystem", "sudo apt-get install busybox-static"},
		"newuidmap":         {Warn, "not installed: rootless containers map only your own id", "sudo apt-get install uidmap"},
		"subuid ranges":     {OK, "not checked", ""},
		"go":                {Fail, "go1.21.5", "Go 1.22 or newer (https://go.dev/dl/, or your distribution's golang-1.22)"},
	}
	checks := m.Run()
	require.Len(t, checks, len(want))
	for _, c := range checks {
		w, ok := want[c.Name]
		require.True(t, ok, c.Name)
		require.Equal(t, w.status, c.Status, c.Name)
		require.Equal(t, w.found, c.Found, c.Name)
		require.Equal(t, w.fix, c.Fix, c.Name)
	}
	require.True(t, Failed(checks))

	// As root, a refused user namespace only costs the rootless runs.
	m.Euid = 0
	require.Equal(t, Warn, m.UserNamespaces().Status)
}

func TestUserNamespacesDebianSwitch(t *testing.T) {
	m := fake(t, map[string]string{
		"proc/sys/user/max_user_namespaces":         "100\n",
		"proc/sys/kernel/unprivileged_userns_clone": "0\n",
	})
	m.Euid = 1000
	c := m.UserNamespaces()
	require.Equal(t, Fail, c.Status)
	require.Equal(t, "sudo sysctl -w kernel.unprivileged_userns_clone=1", c.Fix)

	m = fake(t, map[string]string{"proc/": ""})
	c = m.UserNamespaces()
	require.Equal(t, Fail, c.Status)
	require.Contains(t, c.Found, "the kernel has no user namespaces")
}

func TestGoVersion(t *testing.T) {
	for v, want := range map[string][2]int{
		"go1.22.2": {1, 22}, "go1.23rc1": {1, 23}, "go1.26.8 X:nocoverageredesign": {1, 26}, "go1.21": {1, 21},
	} {
		major, minor, ok := goVersion(v)
		require.True(t, ok, v)
		require.Equal(t, want, [2]int{major, minor}, v)
	}
	for _, v := range []string{"", "devel +abc", "go"} {
		_, _, ok := goVersion(v)
		require.False(t, ok, v)
	}
	require.Equal(t, Warn, Machine{GoVersion: "devel +abc"}.Go().Status)
}

func TestStatic(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "sh")
	require.NoError(t, os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755))
	_, err := Static(notELF)
	require.Error(t, err)
	// A dynamically linked program names its loader in PT_INTERP.
	out, lerr := exec.Command("ldd", "/bin/sh").CombinedOutput()
	if lerr != nil || !strings.Contains(string(out), "ld-linux") {
		t.Skip("no dynamically linked /bin/sh to compare with")
	}
	static, err := Static("/bin/sh")
	require.NoError(t, err)
	require.False(t, static)
}

// The probe asks this kernel. As root it must get an answer: a generation,
// or the kernel's word that nf_tables is absent.
func TestProbeNftables(t *testing.T) {
	testenv.NeedRoot(t) // CAP_NET_ADMIN
	err := ProbeNftables()
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EPROTONOSUPPORT) {
		t.Fatalf("nf_tables probe: %v", err)
	}
}

// The ranges a class server gives its students: as root every login user's
// is checked, and two users that share ids fail; a student sees their own.
func TestSubIDs(t *testing.T) {
	m := fake(t, map[string]string{})
	etc := t.TempDir()
	m.Etc = etc
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(etc, name), []byte(text), 0o644))
	}
	write("passwd", "root:x:0:0::/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\n"+
		"ann:x:1000:1000::/home/ann:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n")
	write("subuid", "ann:100000:65536\n")
	write("subgid", "ann:100000:65536\n")

	c := m.SubIDs()
	require.Equal(t, Warn, c.Status, c.Found)
	require.Equal(t, "no range for bob: they map only their own id", c.Found)

	write("subuid", "ann:100000:65536\n1001:150000:65536\n")
	write("subgid", "ann:100000:65536\n1001:165536:65536\n")
	c = m.SubIDs()
	require.Equal(t, Fail, c.Status)
	require.Equal(t, "ann and bob share subordinate ids (100000 and 150000 in /etc/subuid)", c.Found)

	write("subuid", "ann:100000:65536\n1001:165536:65536\n")
	c = m.SubIDs()
	require.Equal(t, OK, c.Status, c.Found)

	m.Euid = 1001 // bob
	write("subuid", "ann:100000:65536\n")
	c = m.SubIDs()
	require.Equal(t, Warn, c.Status)
	require.Equal(t, "no range for bob: they map only their own id", c.Found)
}
