package main

import (
	"errors"
	"flag"
	"fmt"
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
	"github.com/google/nftables/userdata"
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
			testenv.CheckRan(t, can(t, args...), 0)
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

	testenv.CheckRan(t, testenv.Run(t, exec.Command(canBin(), "cleanup")), 0)

	// What is left is named, so that make check (and CI's log) says which
	// resource a kill at some instant leaks, not only that a check failed.
	var left []string
	leave := func(what string, names []string) {
		if len(names) > 0 {
			left = append(left, what+": "+strings.Join(names, " "))
		}
	}
	var ids []string
	for id := range stateIDs() {
		ids = append(ids, id)
	}
	leave("state directories", ids)
	allocs, _ := filepath.Glob("/run/tincan/ipam/*/[0-9]*")
	leave("address allocations", allocs)
	var rules []string
	for _, r := range portRules(t) {
		comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		rules = append(rules, strconv.Quote(comment))
	}
	leave("port rules", rules)
	works, _ := filepath.Glob(filepath.Join(dir, ".work-*"))
	leave("overlay work dirs", works)
	links, err := network.Links()
	require.NoError(t, err)
	var names []string
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, "tincan-") {
			names = append(names, name)
		}
	}
	leave("links", names)
	count := map[string]int{}
	for _, m := range mountsBefore {
		count[m]--
	}
	for _, m := range mountPoints(t) {
		count[m]++
	}
	var mounts []string
	for m, n := range count {
		if n != 0 {
			mounts = append(mounts, fmt.Sprintf("%s (%+d)", m, n))
		}
	}
	leave("mounts", mounts)
	var cgroups []string
	for id := range seen {
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/tincan/" + id)
		cgroups = append(cgroups, cgs...)
	}
	leave("cgroups", cgroups)
	testenv.Check(t, len(left) == 0, "killed cans left what can cleanup did not remove: %s", strings.Join(left, "; "))
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
	testenv.Check(t, len(left) == 0, "processes left after can cleanup: %s", strings.Join(left, "; "))
}
