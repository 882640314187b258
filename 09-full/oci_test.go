package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// ociBundle is a bundle made by can spec on a copy of the busybox root, with
// edit applied to its config.json, and the --root for its state.
func ociBundle(t *testing.T, edit func(c *specs.Spec)) (bundle, root string) {
	t.Helper()
	testenv.NeedRoot(t)
	bundle = t.TempDir()
	out, err := exec.Command("cp", "-a", testenv.Rootfs(t), filepath.Join(bundle, "rootfs")).CombinedOutput()
	require.NoError(t, err, string(out))
	r := testenv.Run(t, exec.Command(canBin(), "spec", "--bundle", bundle))
	require.Equal(t, 0, r.Code, r.Stderr)
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var c specs.Spec
	require.NoError(t, json.Unmarshal(b, &c))
	c.Process.Terminal = false
	c.Linux.CgroupsPath = fmt.Sprintf("/tincan-test-oci-%d/%s", os.Getpid(), t.Name())
	edit(&c)
	b, err = json.Marshal(c)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	root = filepath.Join(t.TempDir(), "state")
	t.Cleanup(func() {
		// Whatever a failed test left: the container, then its cgroups.
		exec.Command(canBin(), "--root", root, "delete", "--force", "tincan-test-oci").Run()
		for _, p := range testenv.Cgroups() {
			if strings.Contains(p, fmt.Sprintf("tincan-test-oci-%d", os.Getpid())) {
				os.Remove(p)
			}
		}
	})
	return bundle, root
}

// ociCan runs can with --root. Its output goes to files, not pipes: a
// container made by create keeps the stdout and stderr it was given after can
// has exited, and a pipe would not end until the container does.
func ociCan(t *testing.T, root string, args ...string) testenv.Result {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "out"))
	require.NoError(t, err)
	errf, err := os.Create(filepath.Join(dir, "err"))
	require.NoError(t, err)
	defer out.Close()
	defer errf.Close()
	cmd := exec.Command(canBin(), append([]string{"--root", root}, args...)...)
	cmd.Stdout, cmd.Stderr = out, errf
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "%v", err)
		code = ee.ExitCode()
	}
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	return testenv.Result{Stdout: string(o), Stderr: string(e), Code: code}
}

func ociStatus(t *testing.T, root, id string) specs.State {
	t.Helper()
	r := ociCan(t, root, "state", id)
	require.Equal(t, 0, r.Code, r.Stderr)
	var s specs.State
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &s), r.Stdout)
	return s
}

// can run is create, start and wait: the container's output and exit code
// are can's, and nothing is left afterwards.
func TestOCIRun(t *testing.T) {
	bundle, root := ociBundle(t, func(c *specs.Spec) {
		c.Process.Args = []string{"sh", "-c", "echo $(hostname) $(id -u); grep CapBnd /proc/self/status; exit 3"}
		c.Process.User = specs.User{UID: 1000, GID: 1000}
	})
	r := ociCan(t, root, "run", "--bundle", bundle, "tincan-test-oci")
	require.Equal(t, 3, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "can 1000\n")
	// can spec's three capabilities: CAP_AUDIT_WRITE, KILL, NET_BIND_SERVICE.
	// (Not in CapEff: uid 1000 keeps none through execve without ambient.)
	require.Contains(t, r.Stdout, "CapBnd:\t0000000020000420")
	requireNoOCI(t, root)
}

// config.json's mounts are made in their order, /proc among them, whether
// PID 1 is cloned from a thread of can create (pkg/container/one_oci.go) or
// is can re-executed (startContainer hooks keep that one): /proc shows the
// container's PID namespace, and mountinfo lists it before /dev. The
// program is found in process.env's PATH.
func TestOCIMountOrder(t *testing.T) {
	for _, reexec := range []bool{false, true} {
		t.Run(fmt.Sprintf("reexec=%v", reexec), func(t *testing.T) {
			bundle, root := ociBundle(t, func(c *specs.Spec) {
				c.Process.Args = []string{"sh", "-c", `set -- /proc/[0-9]*; echo $#; cut -d' ' -f5 /proc/self/mountinfo | grep -n -x -e /proc -e /dev`}
				c.Process.Env = []string{"PATH=/bin"}
				if reexec {
					c.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
				}
			})
			r := ociCan(t, root, "run", "--bundle", bundle, "tincan-test-oci")
			require.Equal(t, 0, r.Code, r.Stderr)
			lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
			require.Len(t, lines, 3, r.Stdout)
			require.Equal(t, "1", lines[0], "processes in /proc: sh, PID 1, is the container's only one")
			require.Regexp(t, `^[0-9]+:/proc$`, lines[1], "/proc comes before /dev:\n%s", r.Stdout)
			require.Regexp(t, `^[0-9]+:/dev$`, lines[2])
			requireNoOCI(t, root)
		})
	}
}

// The lifecycle an engine drives: create leaves the container built and
// waiting, start runs it, kill ends it, delete removes it.
func TestOCILifecycle(t *testing.T) {
	bundle, root := ociBundle(t, func(c *specs.Spec) {
		c.Process.Args = []string{"sleep", "100"}
		c.Annotations = map[string]string{"tincan.test": "yes"}
	})
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := ociCan(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, "tincan-test-oci")
	require.Equal(t, 0, r.Code, r.Stderr)

	s := ociStatus(t, root, "tincan-test-oci")
	require.Equal(t, specs.StateCreated, s.Status)
	require.Equal(t, "yes", s.Annotations["tincan.test"])
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(s.Pid), string(b))
	// Built, but not yet the program: still can, waiting on the exec fifo.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.Pid))
	require.NoError(t, err)
	require.NotContains(t, exe, "sleep")
	hostNS, _ := os.Readlink("/proc/self/ns/mnt")
	initNS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", s.Pid))
	require.NotEqual(t, hostNS, initNS, "create made no mount namespace")

	r = ociCan(t, root, "start", "tincan-test-oci")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Eventually(t, func() bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.Pid))
		return strings.HasSuffix(exe, "busybox")
	}, 5*time.Second, 10*time.Millisecond, "start did not run the program")
	require.Equal(t, specs.StateRunning, ociStatus(t, root, "tincan-test-oci").Status)

	r = ociCan(t, root, "ps", "--format", "json", "tincan-test-oci")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, fmt.Sprintf("[%d]\n", s.Pid), r.Stdout)

	r = ociCan(t, root, "exec", "tincan-test-oci", "sh", "-c", "hostname; echo $$; exit 4")
	require.Equal(t, 4, r.Code, r.Stderr)
	lines := strings.Fields(r.Stdout)
	require.Len(t, lines, 2, r.Stdout)
	require.Equal(t, "can", lines[0], "exec is not in the container's UTS namespace")
	require.NotEqual(t, "1", lines[1])

	r = ociCan(t, root, "delete", "tincan-test-oci")
	require.NotEqual(t, 0, r.Code, "delete of a running container must refuse")
	require.Contains(t, r.Stderr, "delete --force")

	r = ociCan(t, root, "kill", "tincan-test-oci", "KILL")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Eventually(t, func() bool {
		return ociStatus(t, root, "tincan-test-oci").Status == specs.StateStopped
	}, 5*time.Second, 10*time.Millisecond)
	r = ociCan(t, root, "delete", "tincan-test-oci")
	require.Equal(t, 0, r.Code, r.Stderr)
	requireNoOCI(t, root)
}

// Bad input to create: one line, a failure status, nothing left behind.
func TestOCICreateRefuses(t *testing.T) {
	bundle, root := ociBundle(t, func(c *specs.Spec) { c.Process.Args = []string{"/no/such/program"} })
	r := ociCan(t, root, "create", "--bundle", bundle, "tincan-test-oci")
	require.Equal(t, 127, r.Code, r.Stderr)
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
	require.Contains(t, r.Stderr, "/no/such/program")
	requireNoOCI(t, root)

	r = ociCan(t, root, "create", "--bundle", t.TempDir(), "tincan-test-oci")
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "config.json")
	r = ociCan(t, root, "state", "tincan-test-nothing")
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "does not exist")
	r = ociCan(t, root, "delete", "--force", "tincan-test-nothing")
	require.Equal(t, 0, r.Code, "delete --force of a container that is gone: "+r.Stderr)
}

// requireNoOCI checks that no state and no cgroup of the test's is left.
func requireNoOCI(t *testing.T, root string) {
	t.Helper()
	ents, _ := os.ReadDir(root)
	require.Empty(t, ents, "state left under --root")
	for _, p := range testenv.Cgroups() {
		require.NotContains(t, p, "tincan-test-oci/", "cgroup left behind")
	}
}

// ociDemoBundle is oci.ct's bundle: can spec's config.json with the edit the
// README shows (jq), and a --root of its own.
func ociDemoBundle(t *testing.T) (bundle, root string) {
	bundle, root = ociBundle(t, func(c *specs.Spec) {
		c.Process.Args = []string{"sh", "-c", "echo hello from $(hostname), pid $$"}
		c.Linux.CgroupsPath = ""
	})
	t.Cleanup(func() { exec.Command(canBin(), "--root", root, "delete", "--force", "demo").Run() })
	return bundle, root
}

// can spec --rootless gives a config that an ordinary user runs: a user
// namespace with their uid as root, the cgroup views bound, not mounted.
func TestOCIRootless(t *testing.T) {
	root := rootWithProbe(t) // a copy of the busybox root, 0755 up to it
	bundle := filepath.Dir(root)
	state := filepath.Join(bundle, "state")
	spec := exec.Command(canBin(), "spec", "--rootless", "--bundle", bundle)
	testenv.AsNobody(t, spec)
	if testenv.Root() {
		// The bundle is root's: nobody needs to write config.json and its state.
		require.NoError(t, os.Chown(bundle, testenv.Nobody, testenv.Nobody))
	}
	r := testenv.Run(t, spec)
	require.Equal(t, 0, r.Code, r.Stderr)
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var c specs.Spec
	require.NoError(t, json.Unmarshal(b, &c))
	c.Root.Path = "root"
	c.Process.Terminal = false
	c.Process.Args = []string{"sh", "-c", "id -u; cat /proc/self/uid_map; ls /sys/fs/cgroup | head -1"}
	b, err = json.Marshal(c)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))

	run := exec.Command(canBin(), "--root", state, "run", "--bundle", bundle, "tincan-test-rootless")
	r = testenv.RunAsNobody(t, run)
	require.Equal(t, 0, r.Code, r.Stderr)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 3, r.Stdout)
	require.Equal(t, "0", lines[0])
	fields := strings.Fields(lines[1])
	require.Equal(t, []string{"0", strconv.Itoa(int(testenv.Unpriv().UID)), "1"}, fields, "uid 0 inside is the user outside")
	require.NotEmpty(t, lines[2], "no cgroup view")
}
