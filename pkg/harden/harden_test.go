package harden

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

// helperEnv carries a Config, as JSON, to the test binary started again as
// the helper: it applies the Config and execs its arguments, as a runtime's
// child would. "none" skips Apply.
const helperEnv = "HARDEN_TEST_HELPER"

// helperUIDEnv makes the helper setuid(2) to this uid before Apply, keeping
// its permitted capabilities with PR_SET_KEEPCAPS as pkg/container's
// switchUser does, but without raising the effective set again: Apply must.
const helperUIDEnv = "HARDEN_TEST_UID"

func TestMain(m *testing.M) {
	if cfg, ok := os.LookupEnv(helperEnv); ok {
		helper(cfg, os.Args[1:])
	}
	testenv.Main(m)
}

func helper(cfg string, argv []string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(125)
	}
	runtime.LockOSThread()
	// Start from the worst case a runtime can inherit: capabilities in the
	// inheritable and ambient sets. Apply must clear them.
	if err := dirty(); err != nil {
		fail(err)
	}
	if uid, ok := os.LookupEnv(helperUIDEnv); ok {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			fail(err)
		}
		n, _ := strconv.Atoi(uid)
		if err := unix.Setuid(n); err != nil {
			fail(err)
		}
	}
	if cfg != "none" {
		var c Config
		if err := json.Unmarshal([]byte(cfg), &c); err != nil {
			fail(err)
		}
		if err := Apply(c); err != nil {
			fail(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, helperEnv+"=") && !strings.HasPrefix(kv, helperUIDEnv+"=") {
			env = append(env, kv)
		}
	}
	fail(unix.Exec(argv[0], argv, env))
}

// dirty copies the permitted set into the inheritable set and raises
// CAP_SYS_ADMIN in the ambient set.
func dirty() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	for i := range data {
		data[i].Inheritable = data[i].Permitted
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, unix.CAP_SYS_ADMIN, 0, 0)
}

// helperCmd prepares argv to run under Apply(c) (nil: no Apply).
func helperCmd(c *Config, argv ...string) *exec.Cmd {
	cfg := []byte("none")
	if c != nil {
		cfg, _ = json.Marshal(c)
	}
	cmd := exec.Command(os.Args[0], argv...)
	cmd.Env = append(os.Environ(), helperEnv+"="+string(cfg))
	return cmd
}

// hardened runs argv under Apply(c) and returns its output.
func hardened(t *testing.T, c *Config, argv ...string) string {
	t.Helper()
	return output(t, helperCmd(c, argv...))
}

func output(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "%v under %s: %s", cmd.Args, cmd.Env[len(os.Environ()):], stderr)
	return string(out)
}

// caps is probe caps's answer as a map: CapEff -> 00000000a80425fb.
func caps(t *testing.T, c *Config) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(hardened(t, c, testenv.Probe(t), "caps")), "\n") {
		k, v, _ := strings.Cut(line, " ")
		m[k] = v
	}
	return m
}

const dockerMask = "00000000a80425fb"

// Without Apply the helper's program does start with inheritable and ambient
// capabilities, so the tests below can see Apply clear them.
func TestHelperStartsDirty(t *testing.T) {
	testenv.NeedRoot(t)
	got := caps(t, nil)
	require.NotEqual(t, "0000000000000000", got["CapInh"])
	require.NotEqual(t, "0000000000000000", got["CapAmb"])
	require.NotEqual(t, dockerMask, got["CapBnd"])
	require.Equal(t, "0", got["NoNewPrivs"])
	require.Equal(t, "0", got["Seccomp"])
}

// After execve, root holds exactly Docker's 14 capabilities in every set but
// the inheritable and ambient ones, no_new_privs is on and a filter is in
// place (Seccomp: 2 is SECCOMP_MODE_FILTER).
func TestDefault(t *testing.T) {
	testenv.NeedRoot(t)
	c := Default()
	require.Equal(t, map[string]string{
		"CapInh": "0000000000000000", "CapPrm": dockerMask, "CapEff": dockerMask,
		"CapBnd": dockerMask, "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2",
	}, caps(t, &c))
}

// Without no_new_privs the filter must go in before capset drops
// CAP_SYS_ADMIN: in the other order seccomp(2) fails with EACCES.
func TestSeccompWithoutNoNewPrivs(t *testing.T) {
	testenv.NeedRoot(t)
	got := caps(t, &Config{Seccomp: true})
	require.Equal(t, "0", got["NoNewPrivs"])
	require.Equal(t, "2", got["Seccomp"])
	require.Equal(t, dockerMask, got["CapEff"])
}

func TestChosenCaps(t *testing.T) {
	testenv.NeedRoot(t)
	got := caps(t, &Config{Caps: []string{"net_admin", "CAP_CHOWN"}})
	for _, set := range []string{"CapPrm", "CapEff", "CapBnd"} {
		require.Equal(t, "0000000000001001", got[set], set)
	}
	require.Equal(t, "0", got["Seccomp"])
}

// Privileged keeps every capability root had, and no filter; the inheritable
// set is still emptied.
func TestPrivileged(t *testing.T) {
	testenv.NeedRoot(t)
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	got := caps(t, &Config{Privileged: true, Seccomp: true})
	require.Contains(t, string(status), "CapBnd:\t"+got["CapBnd"]+"\n")
	require.Equal(t, got["CapBnd"], got["CapEff"])
	require.Equal(t, "0000000000000000", got["CapInh"])
	require.Equal(t, "0", got["Seccomp"])
}

// The filter, not a missing capability, refuses the calls: each is asked
// with Docker's capabilities, with the filter and without. Without it the
// kernel answers what off lists (the first where the kernel is new enough):
// a call made without the filter that gives the "on" answer proves nothing,
// so "on" is never among "off" except where noted.
//
// clone3 gets ENOSYS, which the C library takes as "use clone"; without the
// filter it reaches the kernel, which refuses its size 0 (EINVAL). Calls
// newer than the filter's list (statmount and listmount, Linux 6.8;
// fchmodat2, 6.6, number 452) get ENOSYS too; without the filter the kernel
// refuses their NULL arguments (EFAULT), or has no such call (ENOSYS). A
// number no kernel has (1000) is ENOSYS either way: that case checks the
// filter does not say EPERM. A user namespace needs no capability: only the
// filter refuses it (without, the kernel refuses the threaded probe, EINVAL).
// AF_VSOCK sockets need none either; a kernel without vsock says EAFNOSUPPORT.
func TestSeccompRefuses(t *testing.T) {
	testenv.NeedRoot(t)
	probe := testenv.Probe(t)
	on := Default()
	off := &Config{NoNewPrivs: true}
	for _, tc := range []struct {
		call, on string
		off      []string
	}{
		{"unshare-user", "EPERM", []string{"EINVAL"}},
		{"keyctl", "EPERM", []string{"ok"}},
		{"personality", "EPERM", []string{"ok"}},
		{"name_to_handle_at", "EPERM", []string{"ok"}},
		{"vsock", "EPERM", []string{"ok", "EAFNOSUPPORT"}},
		{"clone3", "ENOSYS", []string{"EINVAL"}},
		{"statmount", "ENOSYS", []string{"EFAULT", "ENOSYS"}},
		{"listmount", "ENOSYS", []string{"EFAULT", "ENOSYS"}},
		{"452", "ENOSYS", []string{"EFAULT", "ENOSYS"}},
		{"1000", "ENOSYS", []string{"ENOSYS"}},
		// Refused by the missing CAP_SYS_ADMIN as well: the filter's answer
		// is checked, the unit tests prove it is the filter's.
		{"unshare", "EPERM", []string{"EPERM"}},
		{"clone", "EPERM", []string{"EPERM"}},
		{"mount", "EPERM", []string{"EPERM"}},
	} {
		require.Equal(t, tc.on+"\n", hardened(t, &on, probe, "syscall", tc.call), "%s with the filter", tc.call)
		got := strings.TrimSpace(hardened(t, off, probe, "syscall", tc.call))
		require.Contains(t, tc.off, got, "%s without the filter", tc.call)
	}
}

// With every capability kept the filter allows what they are for, as
// Docker's does (--cap-add ALL): namespaces, mount, clone3. Keyrings stay
// refused: no capability makes them the container's.
func TestSeccompFollowsCapabilities(t *testing.T) {
	testenv.NeedRoot(t)
	probe := testenv.Probe(t)
	all := &Config{Caps: []string{"ALL"}, NoNewPrivs: true, Seccomp: true}
	for call, want := range map[string]string{
		"unshare": "ok", "clone": "ok", "mount": "ENODEV", "clone3": "EINVAL",
		"name_to_handle_at": "ok", "keyctl": "EPERM", "1000": "ENOSYS",
	} {
		require.Equal(t, want+"\n", hardened(t, all, probe, "syscall", call), "%s with every capability", call)
	}
}

// Ordinary work goes on under Default: a shell and a Go program fork and
// exec, and glibc starts threads, trying clone3 first and falling back to
// clone on ENOSYS (on EPERM it would give up, and perl die).
func TestOrdinaryWorkStillRuns(t *testing.T) {
	testenv.NeedRoot(t)
	c := Default()
	require.Equal(t, "ok\n", hardened(t, &c, "/bin/sh", "-c", "/bin/true && echo ok"))
	require.Equal(t, "ok\n", hardened(t, &c, testenv.Probe(t), "syscall", "fork"))
	perlThreads := `use threads; my $t = threads->create(sub { 42 }) or die "no thread: $!\n"; print $t->join, "\n"`
	if exec.Command("perl", "-e", perlThreads).Run() != nil {
		t.Skip("no perl with threads here (apt-get install perl): glibc's clone3 fallback not checked")
	}
	perl, err := exec.LookPath("perl")
	require.NoError(t, err)
	require.Equal(t, "42\n", hardened(t, &c, perl, "-e", perlThreads))
}

// In a user namespace (a rootless container) root holds its capabilities
// over that namespace only, and Apply works the same.
func TestInUserNamespace(t *testing.T) {
	testenv.NeedRoot(t)
	c := Default()
	cmd := helperCmd(&c, testenv.Probe(t), "caps")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	out := output(t, cmd)
	require.Contains(t, out, "CapEff "+dockerMask+"\nCapBnd "+dockerMask+"\n")
	require.Contains(t, out, "Seccomp 2\n")
}

// capsOf is probe caps's answer for cmd.
func capsOf(t *testing.T, cmd *exec.Cmd) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(output(t, cmd)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		m[k] = v
	}
	return m
}

// Sets leave exactly the five sets asked for. At execve root gets the
// inheritable and bounding sets as permitted (capabilities(7), "Capabilities
// and execution of programs by root") unless no_new_privs holds it to what
// it had: execve then grants nothing new, to root neither (the kernel's
// cap_bprm_creds_from_file). A user that is not root keeps only the ambient
// set, which needs the capability permitted and inheritable too.
func TestCapSets(t *testing.T) {
	testenv.NeedRoot(t)
	probe := testenv.Probe(t)
	sets := &CapSets{
		Bounding:    []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Effective:   []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"},
		Permitted:   []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	}
	const (
		bind  = "0000000000000400" // CAP_NET_BIND_SERVICE, 10
		perm  = "0000000000000401" // and CAP_CHOWN, 0
		bound = "0000000000000421" // and CAP_KILL, 5
	)
	c := Config{Sets: sets}
	require.Equal(t, map[string]string{
		"CapInh": bind, "CapPrm": bound, "CapEff": bound, "CapBnd": bound, "CapAmb": bind,
		"NoNewPrivs": "0", "Seccomp": "0",
	}, caps(t, &c), "as root")
	c.NoNewPrivs = true
	require.Equal(t, map[string]string{
		"CapInh": bind, "CapPrm": perm, "CapEff": perm, "CapBnd": bound, "CapAmb": bind,
		"NoNewPrivs": "1", "Seccomp": "0",
	}, caps(t, &c), "as root with no_new_privs")

	// As nobody, after setuid with PR_SET_KEEPCAPS, as pkg/container does it.
	c.Seccomp = true
	cmd := helperCmd(&c, probe, "caps")
	cmd.Env = append(cmd.Env, helperUIDEnv+"=65534")
	require.Equal(t, map[string]string{
		"CapInh": bind, "CapPrm": bind, "CapEff": bind, "CapBnd": bound, "CapAmb": bind,
		"NoNewPrivs": "1", "Seccomp": "2",
	}, capsOf(t, cmd), "as nobody")

	// Ambient without inheritable: the kernel refuses, and Apply says why.
	bad := Config{Sets: &CapSets{Bounding: sets.Bounding, Permitted: sets.Permitted, Ambient: []string{"CAP_CHOWN"}}}
	out, err := helperCmd(&bad, probe, "caps").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "PR_CAP_AMBIENT_RAISE, CAP_CHOWN): operation not permitted (an ambient capability must be in the permitted and inheritable sets too")
}

// A name that is no capability is an error; one this kernel is too old for
// is left out with a warning, as runc does.
func TestCapSetsNames(t *testing.T) {
	var warnings []string
	w := func(s string) { warnings = append(warnings, s) }
	m, err := (&CapSets{Bounding: []string{"CAP_CHOWN", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}, Ambient: []string{"CAP_PERFMON"}}).masks(unix.CAP_PERFMON, w)
	require.NoError(t, err)
	require.Equal(t, capMasks{bounding: 1 << unix.CAP_CHOWN, ambient: 1 << unix.CAP_PERFMON}, m)
	require.Equal(t, []string{
		"capabilities.bounding: CAP_BPF is unknown to this kernel (its last is CAP_PERFMON, /proc/sys/kernel/cap_last_cap): left out",
		"capabilities.bounding: CAP_CHECKPOINT_RESTORE is unknown to this kernel (its last is CAP_PERFMON, /proc/sys/kernel/cap_last_cap): left out",
	}, warnings)
	_, err = (&CapSets{Effective: []string{"CAP_NET_ADMN"}}).masks(unix.CAP_LAST_CAP, w)
	require.EqualError(t, err, `capabilities.effective: unknown capability "CAP_NET_ADMN": see capabilities(7) for the names (CAP_NET_ADMIN, ...)`)
}

func TestCapMask(t *testing.T) {
	m, err := CapMask([]string{"cap_chown", "NET_ADMIN", "Sys_Admin"})
	require.NoError(t, err)
	require.Equal(t, uint64(1<<unix.CAP_CHOWN|1<<unix.CAP_NET_ADMIN|1<<unix.CAP_SYS_ADMIN), m)
	_, err = CapMask([]string{"CAP_CHOWN", "CAP_NOPE"})
	require.EqualError(t, err, `unknown capability "CAP_NOPE": see capabilities(7) for the names (CAP_NET_ADMIN, ...)`)
	m, err = CapMask(nil)
	require.NoError(t, err)
	require.Zero(t, m)
	for n, name := range capNames {
		require.NotEmpty(t, name, "capability %d has no name", n)
	}
}

func TestLastCap(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(b)), strconv.Itoa(lastCap()))
}

// A bad name is refused before anything changes. Apply runs on a goroutine
// of its own: it locks that goroutine's thread, which ends with it.
func TestApplyRefusesUnknownCapFirst(t *testing.T) {
	type result struct {
		err    error
		status string
	}
	done := make(chan result)
	go func() {
		err := Apply(Config{Caps: []string{"CAP_NOPE"}, NoNewPrivs: true, Seccomp: true})
		status, _ := os.ReadFile("/proc/thread-self/status") // Apply's thread
		done <- result{err, string(status)}
	}()
	r := <-done
	require.ErrorContains(t, r.err, `unknown capability "CAP_NOPE"`)
	require.Contains(t, r.status, "NoNewPrivs:\t0\n")
	require.Contains(t, r.status, "Seccomp:\t0\n")
	require.Contains(t, r.status, "CapInh:\t0000000000000000\n") // as the test started
}

// Apply's whole cost: about 30 prctl calls, capset, seccomp. Each run takes
// a fresh thread (a goroutine that ends locked takes its thread with it),
// whose creation is counted too.
func BenchmarkApply(b *testing.B) {
	testenv.NeedRoot(b)
	errc := make(chan error)
	for i := 0; i < b.N; i++ {
		go func() { errc <- Apply(Default()) }()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}
