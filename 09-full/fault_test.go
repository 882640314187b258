package main

import (
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/network"
	"tincan.dev/pkg/testenv"
)

var (
	faultN      = flag.Int("fault.n", 24, "TestFault: how many cans to kill during start-up (the audit's run: 600)")
	faultWindow = flag.Duration("fault.window", 0, "TestFault: kill within this time of the start (0: one whole run of can, measured)")
)

// TestFault kills can at random points of its start-up, with SIGKILL and
// SIGTERM, while it makes every kind of resource (state, overlay work dir,
// cgroup, address, veth, DNAT rule), then runs can cleanup and checks that
// nothing is left: no state dir, cgroup, address allocation, nft rule,
// mount, link or process. The delays are a fixed pseudo-random sequence, so
// a failure can be replayed. go test -run TestFault -fault.n=600 is the
// audit's long run.
func TestFault(t *testing.T) {
	testenv.NeedRoot(t)
	cleanupAll(t)
	dir := demoLayers(t)
	mountsBefore := mountPoints(t)
	args := []string{"--net", "bridge", "-p", "18080:80", "--memory", "64M", "--fs", dir, "--stop-timeout", "100ms", "--", "true"}
	window := *faultWindow
	if window == 0 {
		// A run to the end spans the whole start-up and teardown; the
		// first one also makes the bridge, so the shortest of three.
		for i := 0; i < 3; i++ {
			start := time.Now()
			r := can(t, args...)
			require.Equal(t, 0, r.Code, r.Stderr)
			if d := time.Since(start); window == 0 || d < window {
				window = d
			}
		}
	}
	rng := rand.New(rand.NewPCG(10, 7)) // the same delays every run
	seen := map[string]bool{}           // container IDs found in /run/tincan after a kill
	outcomes := map[string]int{}
	for i := 0; i < *faultN; i++ {
		sig := syscall.SIGKILL
		if i%2 == 1 {
			sig = syscall.SIGTERM
		}
		delay := time.Duration(rng.Int64N(int64(window)))
		cmd := exec.Command(canBin(), args...)
		require.NoError(t, cmd.Start())
		time.Sleep(delay)
		cmd.Process.Signal(sig)
		cmd.Wait()
		outcomes[cmd.ProcessState.String()]++
		for id := range stateIDs() {
			seen[id] = true
		}
	}
	t.Logf("%d cans signalled within %v of their start: %v; %d left a state directory for the next can or can cleanup", *faultN, window.Round(time.Millisecond), outcomes, len(seen))

	r := testenv.Run(t, exec.Command(canBin(), "cleanup"))
	require.Equal(t, 0, r.Code, r.Stderr)

	assert.Empty(t, stateIDs(), "state directories left")
	allocs, _ := filepath.Glob("/run/tincan/ipam/*/[0-9]*")
	assert.Empty(t, allocs, "address allocations left")
	assert.Empty(t, portRules(t), "port rules left")
	works, _ := filepath.Glob(filepath.Join(dir, ".work-*"))
	assert.Empty(t, works, "overlay work dirs left")
	links, err := network.Links()
	require.NoError(t, err)
	for _, l := range links {
		name := l.Attrs().Name
		assert.False(t, strings.HasPrefix(name, "tincan-"), "link %s left", name)
	}
	assert.Equal(t, mountsBefore, mountPoints(t), "mounts left")
	for id := range seen {
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/tincan/" + id)
		assert.Empty(t, cgs, "cgroups left")
	}
	requireNoProcesses(t)
}

var idName = regexp.MustCompile(`(^|-)([0-9a-f]{12})$`)

// stateIDs lists the IDs of the state directories in /run/tincan, those
// being born (.new-PID-START-ID) included.
func stateIDs() map[string]bool {
	ids := map[string]bool{}
	ents, _ := os.ReadDir("/run/tincan")
	for _, e := range ents {
		if m := idName.FindStringSubmatch(e.Name()); m != nil {
			ids[m[2]] = true
		}
	}
	return ids
}

// portRules lists the rules of can's port chain (ip tincan ports).
func portRules(t *testing.T) []*nftables.Rule {
	c, err := nftables.New()
	require.NoError(t, err)
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "tincan"}
	rules, err := c.GetRules(table, &nftables.Chain{Name: "ports", Table: table})
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	require.NoError(t, err)
	return rules
}

// mountPoints lists this namespace's mount points.
func mountPoints(t *testing.T) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		out = append(out, strings.Fields(l)[4])
	}
	return out
}

// requireNoProcesses checks that, in the sandbox's PID namespace, only the
// test itself runs: every can and container is gone (a dying one is given
// two seconds). No other command of the test may run meanwhile: it reaps.
func requireNoProcesses(t *testing.T) {
	t.Helper()
	self := strconv.Itoa(os.Getpid())
	var left []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// The test is PID 1 of the sandbox: the children of killed cans are
		// reparented to it, and it must reap them, as init would.
		for {
			var ws syscall.WaitStatus
			if pid, _ := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 {
				break
			}
		}
		left = left[:0]
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			if filepath.Base(p) == self {
				continue
			}
			stat, err := os.ReadFile(filepath.Join(p, "stat"))
			if err == nil {
				left = append(left, string(stat))
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	require.Empty(t, left, "processes left")
}
