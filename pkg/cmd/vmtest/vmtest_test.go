package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type cpioFile struct {
	mode, rdevMajor, rdevMinor uint64
	data                       string
}

// readCpio parses a newc archive the way the kernel does, checking the
// alignment of every header and file.
func readCpio(t *testing.T, b []byte) map[string]cpioFile {
	files := map[string]cpioFile{}
	for off := 0; ; {
		require.Zero(t, off%4, "header at %d is not 4-byte aligned", off)
		require.Equal(t, "070701", string(b[off:off+6]))
		field := func(i int) uint64 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			require.NoError(t, err)
			return v
		}
		mode, size, rdevMajor, rdevMinor, namesize := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+namesize-1])
		require.Equal(t, byte(0), b[off+110+namesize-1], "name not NUL-terminated")
		off += 110 + namesize
		off += (4 - off%4) % 4
		if name == "TRAILER!!!" {
			require.Equal(t, len(b), off, "bytes after the trailer")
			return files
		}
		files[name] = cpioFile{mode, rdevMajor, rdevMinor, string(b[off : off+size])}
		off += size
		off += (4 - off%4) % 4
	}
}

func TestPack(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	require.NoError(t, writeFile(filepath.Join(root, "bin/busybox"), 0o755, "ELF..."))
	require.NoError(t, writeFile(filepath.Join(root, "usr/bin/newuidmap"), fs.ModeSetuid|0o755, "setuid"))
	require.NoError(t, os.Symlink("busybox", filepath.Join(root, "bin/sh")))
	initrd := filepath.Join(t.TempDir(), "initrd")
	require.NoError(t, pack(root, initrd))
	b, err := os.ReadFile(initrd)
	require.NoError(t, err)
	require.Equal(t, map[string]cpioFile{
		"dev":               {mode: 0o040755},
		"dev/console":       {mode: 0o020600, rdevMajor: 5, rdevMinor: 1},
		"bin":               {mode: 0o040755},
		"bin/busybox":       {mode: 0o100755, data: "ELF..."},
		"bin/sh":            {mode: 0o120777, data: "busybox"},
		"usr":               {mode: 0o040755},
		"usr/bin":           {mode: 0o040755},
		"usr/bin/newuidmap": {mode: 0o104755, data: "setuid"},
	}, readCpio(t, b))
}

func TestReadConsole(t *testing.T) {
	for _, tc := range []struct {
		console string
		want    verdict
	}{
		{"boot\r\nvmtest: 3 passed, 0 failed\r\nVMTEST PASS\r\n[ 9.1] reboot: Power down\r\n", verdict{done: true}},
		{"VMTEST FAIL 2\r\n", verdict{done: true, failed: 2}},
		{"VMTEST FAIL x\n", verdict{done: true, failed: 1}},
		{"Kernel panic - not syncing: Attempted to kill init!\r\n", verdict{}},
		{"a test printed VMTEST PASS in its output\n", verdict{}},
	} {
		var out bytes.Buffer
		require.Equal(t, tc.want, readConsole(strings.NewReader(tc.console), &out), tc.console)
		require.Equal(t, strings.ReplaceAll(tc.console, "\r", ""), out.String())
	}
}

func TestParseTargets(t *testing.T) {
	ts, err := parseTargets([]string{"pkg/cgroup", "09-full=TestRun|TestLimits$", "./05-pid/!^TestTranscripts$", "01-net=Veth!Transcripts"})
	require.NoError(t, err)
	require.Equal(t, []target{
		{"pkg/cgroup", ".", "^$"},
		{"09-full", "TestRun|TestLimits$", "^$"},
		{"05-pid", ".", "^TestTranscripts$"},
		{"01-net", "Veth", "Transcripts"},
	}, ts)
	for _, bad := range []string{"/abs", "../out", "x=(", "x!a b"} {
		_, err := parseTargets([]string{bad})
		require.Error(t, err, bad)
	}
}
