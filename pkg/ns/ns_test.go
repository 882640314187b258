package ns

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckHostname(t *testing.T) {
	for _, ok := range []string{"box", "tincan-test-box", "a.b.c", "Web01", "9x", strings.Repeat("a", 63),
		strings.Repeat("a", 32) + "." + strings.Repeat("b", 31)} {
		require.NoError(t, CheckHostname(ok), ok)
	}
	require.ErrorContains(t, CheckHostname(""), "hostname is empty")
	require.ErrorContains(t, CheckHostname(strings.Repeat("a", 65)), "is 65 bytes: the kernel takes at most 64")
	for bad, why := range map[string]string{
		"box\n6.6.6.6 bank":     `'\n' is not allowed`, // a second line in /etc/hosts
		"a b":                   `' ' is not allowed`,
		"box\x00":               `'\x00' is not allowed`,
		"b_x":                   `'_' is not allowed`,
		"bøx":                   `'ø' is not allowed`,
		"-box":                  `label "-box" starts or ends with '-'`,
		"box-":                  `label "box-" starts or ends with '-'`,
		"a..b":                  "empty label",
		".box":                  "empty label",
		"box.":                  "empty label",
		strings.Repeat("a", 64): "more than 63",
	} {
		err := CheckHostname(bad)
		require.ErrorContains(t, err, why, "%q", bad)
		require.ErrorContains(t, err, "(RFC 1123)", "%q", bad)
		require.NotContains(t, err.Error(), "\n", "%q: the error is one line", bad)
	}
}

func TestInodeSelf(t *testing.T) {
	a, err := Inode(0, "uts")
	require.NoError(t, err)
	require.NotZero(t, a)
	_, err = Inode(0, "nosuch")
	require.Error(t, err)
}
