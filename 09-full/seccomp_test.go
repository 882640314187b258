package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// The seccomp filter is an allowlist (pkg/harden): inside a default
// container the calls it leaves out fail with EPERM, the calls newer than
// its list and clone3 with ENOSYS (so the C library falls back to the older
// call), and ordinary programs still run: a shell, ls, a web server and a
// client over the container's loopback, a Go program that forks.
//
// With the denylist can once had, name_to_handle_at and socket(AF_VSOCK)
// answered ok and statmount and listmount reached the kernel (EFAULT).
func TestSeccompAllowlist(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	script := `for c in name_to_handle_at vsock statmount listmount 1000 clone3 unshare-user keyctl fork; do
		echo "$c $(/probe syscall $c)"
	done
	ls / > /dev/null && echo ls ok
	mkdir -p /tmp/www && echo hello > /tmp/www/index.html
	httpd -p 127.0.0.1:8080 -h /tmp/www && echo "wget $(wget -q -O - http://127.0.0.1:8080/)"`
	r := can(t, "--chroot", root, "--", "sh", "-c", script)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, strings.Join([]string{
		"name_to_handle_at EPERM", // the file-handle calls need CAP_DAC_READ_SEARCH
		"vsock EPERM",             // no path to a hypervisor
		"statmount ENOSYS",        // newer than the list (Linux 6.8)
		"listmount ENOSYS",
		"1000 ENOSYS",        // no kernel has it: ENOSYS, not EPERM
		"clone3 ENOSYS",      // glibc falls back to clone, whose flags the filter reads
		"unshare-user EPERM", // a user namespace needs no capability: only the filter stops it
		"keyctl EPERM",
		"fork ok",
		"ls ok",
		"wget hello",
	}, "\n")+"\n", r.Stdout)
}
