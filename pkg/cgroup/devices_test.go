package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

func TestDeviceRuleString(t *testing.T) {
	require.Equal(t, "c 1:3 rwm", DeviceRule{'c', 1, 3, "rwm", true}.String())
	require.Equal(t, "b *:* m", DeviceRule{'b', Any, Any, "m", true}.String())
	require.Equal(t, "c 136:* rwm", DeviceRule{'c', 136, Any, "rwm", true}.String())
	require.Equal(t, "a", DeviceRule{Type: 'a', Access: "rwm"}.String())
	for _, bad := range []DeviceRule{{'x', 1, 3, "rwm", true}, {'c', -2, 3, "r", true}, {'c', 1, 3, "rx", true}, {'c', 1, 3, "", true}} {
		require.Error(t, Limits{Devices: []DeviceRule{bad}}.Validate(), "%v", bad)
	}
	require.NoError(t, Limits{Devices: DefaultDevices}.Validate())
}

// On v1, New denies every device, then allows each exception the rules
// leave (a later deny takes access from an earlier allow), with one write
// per line (the kernel takes one rule per write). Recorded on a fake tree,
// as the kernel would receive them.
func TestV1DevicesFakeTree(t *testing.T) {
	root := t.TempDir()
	l := &Layout{V1: map[string]string{"devices": filepath.Join(root, "devices"), "freezer": filepath.Join(root, "freezer")}}
	for _, mnt := range l.V1 {
		require.NoError(t, os.Mkdir(mnt, 0o755))
	}
	var writes []string
	oldMkdir, oldWrite := mkdirFunc, writeFunc
	t.Cleanup(func() { mkdirFunc, writeFunc = oldMkdir, oldWrite })
	mkdirFunc = func(path string) error { return os.Mkdir(path, 0o755) }
	writeFunc = func(path, value string) error {
		writes = append(writes, strings.TrimPrefix(path, root+"/")+" "+value)
		return nil
	}
	rules := append(DefaultDevices[:2:2], DeviceRule{'c', 1, 3, "rwm", true}, DeviceRule{'c', 1, 3, "w", false})
	cg, err := l.New("tincan-test-x", Limits{Devices: rules})
	require.NoError(t, err)
	require.Equal(t, []string{
		"devices/tincan/tincan-test-x/devices.deny a",
		"devices/tincan/tincan-test-x/devices.allow c *:* m",
		"devices/tincan/tincan-test-x/devices.allow b *:* m",
		"devices/tincan/tincan-test-x/devices.allow c 1:3 rm",
	}, writes)
	require.Equal(t, []string{filepath.Join(root, "freezer/tincan/tincan-test-x"), filepath.Join(root, "devices/tincan/tincan-test-x")}, cg.Paths())
}

// run interprets p, as the kernel would, for one access to one device: only
// the few instructions deviceProgram emits.
func run(t *testing.T, p []insn, typ, access, major, minor uint32) int64 {
	ctx := []uint32{access<<16 | typ, major, minor}
	var r [11]int64
	for pc := 0; pc < len(p); pc++ {
		in := p[pc]
		dst, src := in.regs&0xf, in.regs>>4
		switch in.code {
		case unix.BPF_LDX | unix.BPF_W | unix.BPF_MEM:
			require.Equal(t, uint8(r1), src, "loads only from the context")
			r[dst] = int64(ctx[in.off/4])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			r[dst] = int64(uint32(r[dst]) & uint32(in.imm))
		case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			r[dst] = int64(uint32(r[dst]) >> in.imm)
		case unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X:
			r[dst] = int64(uint32(r[src]))
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K:
			r[dst] = int64(in.imm)
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K:
			if r[dst] != int64(in.imm) {
				pc += int(in.off)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if r[dst] == int64(in.imm) {
				pc += int(in.off)
			}
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_X:
			if r[dst] != r[src] {
				pc += int(in.off)
			}
		case unix.BPF_JMP | unix.BPF_EXIT:
			return r[0]
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, in.code)
		}
	}
	t.Fatal("the program ran off its end")
	return 0
}

// The program answers as the rules say, a later rule winning over an
// earlier one, and denies what no rule matches. (The real tests check that
// the kernel loads it and agrees.)
func TestDeviceProgram(t *testing.T) {
	const c, b = unix.BPF_DEVCG_DEV_CHAR, unix.BPF_DEVCG_DEV_BLOCK
	const m, r, w = unix.BPF_DEVCG_ACC_MKNOD, unix.BPF_DEVCG_ACC_READ, unix.BPF_DEVCG_ACC_WRITE
	p := deviceProgram(mustPolicy(t, DefaultDevices))
	for _, tc := range []struct {
		name                      string
		typ, access, major, minor uint32
		want                      int64
	}{
		{"open /dev/null", c, r | w, 1, 3, 1},
		{"open /dev/urandom", c, r, 1, 9, 1},
		{"open /dev/pts/7", c, r | w, 136, 7, 1},
		{"mknod /dev/kvm", c, m, 10, 232, 1},
		{"open /dev/kvm", c, r | w, 10, 232, 0},
		{"open /dev/kmsg to write", c, w, 1, 11, 0},
		{"mknod a disk", b, m, 8, 0, 1},
		{"read a disk", b, r, 8, 0, 0},
		{"open a block device 1:3", b, r, 1, 3, 0},
		{"mknod and open /dev/mem", c, m | r, 1, 1, 0},
	} {
		require.Equal(t, tc.want, run(t, p, tc.typ, tc.access, tc.major, tc.minor), tc.name)
	}
	// A later deny wins, over any of the access it names; no rule, no access.
	p = deviceProgram(mustPolicy(t, []DeviceRule{{'c', 1, 3, "rwm", true}, {'c', 1, 3, "w", false}}))
	require.Equal(t, int64(1), run(t, p, c, r, 1, 3))
	require.Equal(t, int64(0), run(t, p, c, w, 1, 3))
	require.Equal(t, int64(0), run(t, p, c, r|w, 1, 3))
	require.Equal(t, int64(0), run(t, deviceProgram(mustPolicy(t, nil)), c, r, 1, 3))
	require.Equal(t, int64(1), run(t, deviceProgram(mustPolicy(t, []DeviceRule{{Type: 'a', Access: "rwm", Allow: true}})), b, r|w, 8, 0))

	// Allow everything, as OCI's privileged configs do, then deny the
	// disks: a deny exception refuses any of the access it names.
	p = deviceProgram(mustPolicy(t, []DeviceRule{{Type: 'a', Allow: true}, {'b', 8, Any, "w", false}}))
	require.Equal(t, int64(1), run(t, p, b, r, 8, 0))
	require.Equal(t, int64(0), run(t, p, b, r|w, 8, 1))
	require.Equal(t, int64(1), run(t, p, c, w, 8, 1))
	// A later 'a' starts over.
	p = deviceProgram(mustPolicy(t, []DeviceRule{{'c', 1, 3, "rwm", true}, {Type: 'a', Access: "rwm"}}))
	require.Equal(t, int64(0), run(t, p, c, r, 1, 3))
}

func mustPolicy(t *testing.T, rules []DeviceRule) policy {
	t.Helper()
	p, err := normalize(rules)
	require.NoError(t, err)
	return p
}

// Rules come to what the v1 controller would keep: a default and the
// exceptions to it, each access merged; a rule that only a hole in a
// wildcard exception could honour is refused (v1 would ignore it).
func TestNormalize(t *testing.T) {
	p := mustPolicy(t, []DeviceRule{
		{'c', 1, 3, "r", true}, {'c', 1, 3, "w", true}, {'c', 1, 5, "rwm", true}, {'c', 1, 5, "rwm", false}, {'c', 9, 9, "r", false},
	})
	require.Equal(t, policy{exceptions: []DeviceRule{{'c', 1, 3, "rw", true}}}, p)
	p = mustPolicy(t, []DeviceRule{{Type: 'a', Allow: true}, {'b', Any, Any, "rw", false}, {'b', Any, Any, "r", true}})
	require.Equal(t, policy{allow: true, exceptions: []DeviceRule{{'b', Any, Any, "w", false}}}, p)

	_, err := normalize([]DeviceRule{{'c', Any, Any, "rwm", true}, {'c', 1, 3, "w", false}})
	require.EqualError(t, err, `device rule "c 1:3 w" (deny) punches a hole in the earlier "c *:* rwm": the v1 devices controller would ignore it; list the devices one by one instead`)
	require.Error(t, Limits{Devices: []DeviceRule{{'c', 1, Any, "rw", true}, {'c', 1, 3, "r", false}}}.Validate())
	require.NoError(t, Limits{Devices: []DeviceRule{{'c', 1, Any, "m", true}, {'c', 1, 3, "r", false}}}.Validate(), "no access in common")
}

// attackScript makes a node for /dev/kmsg (c 1:11) and for the first loop
// device (b 7:0), both on this host, and opens them: the kernel must refuse
// both opens. /dev/null must still work.
const attackScript = `cd "$1"
mknod kmsg c 1 11 || exit 3
mknod loop b 7 0 || exit 3
echo null works >/dev/null || exit 4
(exec 3>kmsg) 2>&1 && echo OPENED kmsg
(exec 3<loop) 2>&1 && echo OPENED loop
exit 0`

// runIn runs sh -c script with args in cg, joined before script starts,
// and returns what it printed.
func runIn(t *testing.T, cg *Cgroup, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", "read go; " + script, "sh"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	require.NoError(t, cg.Join(cmd.Process.Pid))
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	require.NoError(t, cmd.Wait(), out.String())
	return out.String()
}

// runAttack runs attackScript in cg and checks that both opens were refused
// with EPERM, the device cgroup's answer (without it, they succeed).
func runAttack(t *testing.T, cg *Cgroup) {
	t.Helper()
	if _, err := os.Stat("/dev/loop0"); err != nil {
		t.Skip("no /dev/loop0 on this machine to attack (modprobe loop)")
	}
	out := runIn(t, cg, attackScript, t.TempDir())
	require.NotContains(t, out, "OPENED")
	require.Equal(t, 2, strings.Count(out, "Operation not permitted"), out)
}

// On cgroup2 (here, the controller-less unified tree of a hybrid machine)
// the BPF program is attached, refuses the host's devices, and goes with the
// cgroup.
func TestDeviceFilterV2(t *testing.T) {
	l := unifiedOnly(t)
	cg, err := l.New(testID(), Limits{Devices: DefaultDevices})
	require.NoError(t, err)
	t.Cleanup(func() { cg.Destroy() })
	d, _ := cg.v2()
	ids := attachedDevicePrograms(t, d.path)
	require.Len(t, ids, 1, "no device program attached to %s", d.path)

	runAttack(t, cg)

	require.NoError(t, cg.Destroy())
	// The kernel frees the program once the cgroup is gone, from a work
	// queue: a moment later.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		fd, err := programByID(ids[0])
		if errors.Is(err, unix.ENOENT) {
			break
		}
		if err == nil {
			unix.Close(fd)
		}
		require.True(t, time.Now().Before(deadline), "device program %d still loaded after its cgroup was removed (%v)", ids[0], err)
	}
}

// The kernel's verifier takes a program with a deny rule too, and the
// kernel applies it: /dev/null readable, not writable.
func TestDeviceFilterV2Deny(t *testing.T) {
	rules := append(DefaultDevices[:len(DefaultDevices):len(DefaultDevices)], DeviceRule{'c', 1, 3, "w", false})
	cg := newCgroup(t, unifiedOnly(t), Limits{Devices: rules})
	out := runIn(t, cg, "cat /dev/null && echo read ok; (echo x >/dev/null) 2>&1; exit 0")
	require.Regexp(t, "^read ok\n.*/dev/null: Operation not permitted\n$", out)
}

// Without cgroup2, the v1 devices controller enforces the same rules.
func TestDevicesV1(t *testing.T) {
	l := realLayout(t, "devices", "freezer")
	cg := newCgroup(t, &Layout{V1: l.V1}, Limits{Devices: DefaultDevices})
	d, ok := cg.find("devices")
	require.True(t, ok)
	require.Equal(t, "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm\n",
		readFile(t, filepath.Join(d.path, "devices.list")))
	runAttack(t, cg)
}

// attachedDevicePrograms asks the kernel which device programs are attached
// to the cgroup at path: bpf(BPF_PROG_QUERY).
func attachedDevicePrograms(t *testing.T, path string) []uint32 {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	ids := make([]uint32, 8)
	attr := struct {
		targetFD, attachType, queryFlags, attachFlags uint32
		progIDs                                       uint64
		progCnt                                       uint32
		_                                             uint32
	}{targetFD: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE, progIDs: uint64(uintptr(unsafe.Pointer(&ids[0]))), progCnt: uint32(len(ids))}
	_, err = bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	require.NoError(t, err)
	return ids[:attr.progCnt]
}

// programByID opens a loaded BPF program by its id: ENOENT once it is freed.
func programByID(id uint32) (int, error) {
	attr := struct{ id, nextID, openFlags uint32 }{id: id}
	return bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// What the device allowlist adds to a container's start: making the cgroup
// with its filter (load, verify and attach the program, or the v1 writes),
// and removing it.
func BenchmarkNewWithDevices(b *testing.B) {
	l, err := Detect()
	require.NoError(b, err)
	layouts := map[string]*Layout{}
	if l.Unified != "" {
		layouts["cgroup2 BPF"] = &Layout{Unified: l.Unified}
	}
	if l.V1["devices"] != "" {
		layouts["v1 devices"] = &Layout{V1: l.V1}
	}
	for name, l := range layouts {
		for _, devices := range [][]DeviceRule{nil, DefaultDevices} {
			b.Run(fmt.Sprintf("%s/%d rules", name, len(devices)), func(b *testing.B) {
				testenv.NeedRoot(b)
				for i := 0; i < b.N; i++ {
					cg, err := l.New(testID(), Limits{Devices: devices})
					require.NoError(b, err)
					require.NoError(b, cg.Destroy())
				}
			})
		}
	}
}
