package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTAP(t *testing.T) {
	r := parseTAP(`TAP version 13
ok 1 - state MUST generate an error
  ---
  {"reference": "x"}
  ...
not ok 2 - memory kernel is set correctly
# expect: 50593792, actual: 9223372036854771712
ok 3 # SKIP linux.sysctl not set
ok 4 - okay, not a failure
1..4
`)
	require.Equal(t, 3, r.passed, "a skip passes")
	require.Equal(t, 1, r.skipped)
	require.Equal(t, []string{"not ok 2 - memory kernel is set correctly\n# expect: 50593792, actual: 9223372036854771712"}, r.failed)
}

func TestCommand(t *testing.T) {
	for _, c := range []struct {
		args            []string
		cmd, bundle, id string
	}{
		{[]string{"create", "--pid-file", "/p", "--bundle", "/b", "c1"}, "create", "/b", "c1"},
		{[]string{"run", "-b", "/b", "c2"}, "run", "/b", "c2"},
		{[]string{"create", "--bundle=/b", "c3"}, "create", "/b", "c3"},
		{[]string{"create", "c4"}, "create", ".", "c4"},
		{[]string{"delete", "--force", "c5"}, "delete", ".", "c5"},
	} {
		cmd, bundle, id := command(c.args)
		require.Equal(t, []string{c.cmd, c.bundle, c.id}, []string{cmd, bundle, id}, "%v", c.args)
	}
}

// The three cgroupsPath cases: empty and relative ones move under
// /tincan-conformance/<id>, an absolute one stays; other fields are kept.
func TestFixConfig(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "/tincan-conformance/c1"},
		{"testdir/cgrouptest/container", "/tincan-conformance/c1/testdir/cgrouptest/container"},
		{"/cgrouptest", "/cgrouptest"},
	} {
		path := filepath.Join(t.TempDir(), "config.json")
		in := map[string]any{"ociVersion": "1.3.0", "hostname": "h", "linux": map[string]any{"cgroupsPath": c.in}}
		b, err := json.Marshal(in)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		require.NoError(t, fixConfig(path, "c1", "runc"))
		var out struct {
			OCIVersion string `json:"ociVersion"`
			Hostname   string `json:"hostname"`
			Linux      struct {
				CgroupsPath string `json:"cgroupsPath"`
			} `json:"linux"`
		}
		b, err = os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &out))
		require.Equal(t, c.want, out.Linux.CgroupsPath)
		require.Equal(t, "h", out.Hostname)
		require.Equal(t, "1.3.0", out.OCIVersion, "only crun's is rewritten")
	}
}
