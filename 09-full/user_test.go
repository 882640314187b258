package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// --user: the ids, the groups of /etc/group, and no
// capabilities left for a user that is not root.
func TestUser(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	f, err := os.OpenFile(filepath.Join(root, "etc/group"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("staff:x:50:nobody\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	const show = `echo $(id -u) $(id -g); grep -e Groups -e CapPrm -e CapEff /proc/self/status`
	for _, tc := range []struct {
		args []string
		want string
	}{
		// nobody's groups are exactly its /etc/group ones: root's are gone.
		{[]string{"--user", "nobody"}, "65534 65534\nGroups:\t50 \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "1000:1000"}, "1000 1000\nGroups:\t \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "1000"}, "1000 0\nGroups:\t \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "nobody:staff", "--init"}, "65534 50\nGroups:\t50 \nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"},
		{[]string{"--user", "0"}, "0 0\nGroups:\t \nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n"},
	} {
		r := can(t, append(append([]string{"--chroot", root}, tc.args...), "--", "sh", "-c", show)...)
		require.Equal(t, 0, r.Code, "%v: %s", tc.args, r.Stderr)
		require.Equal(t, tc.want, r.Stdout, "%v", tc.args)
	}
	r := can(t, "--chroot", root, "--user", "nosuch", "true")
	require.Equal(t, 125, r.Code)
	require.Equal(t, "can: --user nosuch: no user \"nosuch\" in the container's /etc/passwd: give a number, or add the user to the image\n", r.Stderr)

}
