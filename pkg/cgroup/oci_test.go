package cgroup

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

// Every resource FromOCI reads lands in its field; OCI's -1 (unlimited)
// reads as no limit, or as -1 where Limits has one (swap, quota).
func TestFromOCI(t *testing.T) {
	l, err := FromOCI(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Reservation: ptr[int64](32 << 20), Swap: ptr[int64](-1),
			DisableOOMKiller: ptr(true), UseHierarchy: ptr(true)},
		CPU: &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](200000), Cpus: "0", Mems: "0",
			Burst: ptr[uint64](0)},
		Pids:    &specs.LinuxPids{Limit: 32},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](300)},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rwm"},
			{Allow: true, Type: "b", Major: ptr[int64](8), Access: "m"},
			{Allow: false, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "w"},
		},
		Unified: map[string]string{"memory.high": "48M"},
	})
	require.NoError(t, err)
	require.Equal(t, Limits{
		Memory: 64 << 20, MemoryReservation: 32 << 20, MemorySwap: -1, DisableOOMKiller: true,
		CPUShares: 512, CPUQuota: 50000, CPUPeriod: 200000, CPUSetCPUs: "0", CPUSetMems: "0",
		Pids: 32, BlkioWeight: 300,
		Devices: []DeviceRule{{'a', Any, Any, "rwm", false}, {'c', 1, 3, "rwm", true}, {'b', 8, Any, "m", true}, {'c', 1, 3, "w", false}},
		Unified: map[string]string{"memory.high": "48M"},
	}, l)
	require.True(t, l.Resources())

	//lint:ignore SA1019 the test asks for the deprecated limit that FromOCI ignores
	for _, r := range []*specs.LinuxResources{nil, {}, {Memory: &specs.LinuxMemory{Limit: ptr[int64](-1), Kernel: ptr[int64](0)}, Pids: &specs.LinuxPids{Limit: -1}}} {
		l, err = FromOCI(r)
		require.NoError(t, err)
		require.Equal(t, Limits{}, l, "%+v", r)
	}
	l, err = FromOCI(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{}})
	require.NoError(t, err)
	require.NotNil(t, l.Devices, "an empty list allows no device: not the same as none given")
}

// Kernel memory limits, gone from Linux 6.1 and deprecated in the runtime
// spec, are ignored, as runc does; swappiness is kept, 0 included.
func TestFromOCIKernelMemoryAndSwappiness(t *testing.T) {
	//lint:ignore SA1019 the test asks for the deprecated limit that FromOCI ignores
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: ptr[int64](1 << 20), KernelTCP: ptr[int64](1 << 20), Swappiness: ptr[uint64](0)}}
	l, err := FromOCI(r)
	require.NoError(t, err)
	require.True(t, KernelMemoryIgnored(r))
	require.NotNil(t, l.Swappiness)
	require.Equal(t, uint64(0), *l.Swappiness)
	require.True(t, l.Resources(), "a swappiness alone still needs a memory cgroup")
}

// A resource tincan does not set is refused in one line naming its field;
// so is a value Validate refuses.
func TestFromOCIRefuses(t *testing.T) {
	for _, tc := range []struct {
		r    specs.LinuxResources
		want string
	}{
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr[uint64](101)}}, "linux.resources.memory.swappiness 101: give 0 to 100"},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](950000)}}, "linux.resources.cpu.realtimeRuntime is set"},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: ptr[int64](1)}}, "linux.resources.cpu.idle is set"},
		{specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{Rate: 1}}}}, "linux.resources.blockIO.throttleReadBpsDevice is set"},
		{specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}}, "linux.resources.hugepageLimits is set"},
		{specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr[uint32](7)}}, "linux.resources.network is set"},
		{specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5_1": {}}}, "linux.resources.rdma is set"},
		{specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "p"}}}, `linux.resources.devices[0]: type "p": must be a, b or c`},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](1)}}, "linux.resources: CPU shares 1: the kernel takes 2 to 262144"},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](32 << 20)}}, "linux.resources: memory+swap limit 33554432: must be at least the memory limit"},
		{specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, `linux.resources: unified "cgroup.procs": that file moves`},
	} {
		_, err := FromOCI(&tc.r)
		require.Error(t, err, tc.want)
		require.True(t, strings.HasPrefix(err.Error(), tc.want), "got %q, want %q", err, tc.want)
		require.NotContains(t, err.Error(), "\n")
	}
}

func TestValidateNewLimits(t *testing.T) {
	for _, l := range []Limits{
		{MemoryReservation: -1}, {MemorySwap: -2}, {MemorySwap: 1 << 30}, {CPUShares: 300000},
		{CPUQuota: 999}, {CPUPeriod: 999}, {CPUPeriod: 1000001}, {BlkioWeight: 9}, {BlkioWeight: 1001},
		{Unified: map[string]string{"../memory.max": "1"}}, {Unified: map[string]string{"cgroup.kill": "1"}},
	} {
		require.Error(t, l.Validate(), "%+v", l)
	}
	for _, l := range []Limits{
		{Memory: 1 << 30, MemorySwap: 1 << 30}, {MemorySwap: -1}, {CPUQuota: -1}, {CPUQuota: 1000, CPUPeriod: 1000000},
		{CPUShares: 2}, {BlkioWeight: 10}, {Unified: map[string]string{"memory.high": "1M"}},
	} {
		require.NoError(t, l.Validate(), "%+v", l)
	}
	require.Equal(t, uint64(1), CPUWeight(2))
	require.Equal(t, uint64(39), CPUWeight(1024))
	require.Equal(t, uint64(10000), CPUWeight(262144))
}

// A cgroupsPath is absolute and stays in the hierarchy; runc's relative
// paths and systemd's slice form are refused, each with what to do.
func TestPlace(t *testing.T) {
	for path, want := range map[string]string{
		"":                           "tincan/abc",
		"/tincan-test-x/abc":         "tincan-test-x/abc",
		"/default/abc/":              "default/abc",
		"//libpod_parent//libpod-ab": "libpod_parent/libpod-ab",
	} {
		rel, err := place(path, "abc")
		require.NoError(t, err, path)
		require.Equal(t, want, rel, path)
	}
	for path, want := range map[string]string{
		"tincan-test-x/abc":          `cgroupsPath "tincan-test-x/abc" is relative: runc would put it under its caller's own cgroup, tincan never does; give an absolute path such as /tincan/abc`,
		"/a/../../etc":               `cgroupsPath "/a/../../etc" has a ".."`,
		"system.slice:docker:abc":    `cgroupsPath "system.slice:docker:abc" is systemd's slice:prefix:name form: tincan makes cgroups itself (cgroupfs), give an absolute path (podman: --cgroup-manager cgroupfs)`,
		"/":                          `cgroupsPath "/" is the root of the hierarchy`,
		"/machine.slice:libpod:abc/": `cgroupsPath "/machine.slice:libpod:abc/" is systemd's`,
	} {
		_, err := place(path, "abc")
		require.Error(t, err, path)
		require.True(t, strings.HasPrefix(err.Error(), want), "got %q", err)
	}
	_, err := place("", "a/b")
	require.EqualError(t, err, `cgroup id "a/b": must be a plain directory name`)
}
