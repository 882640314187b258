package userns

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestMapCallerToRoot(t *testing.T) {
	var attr syscall.SysProcAttr
	MapCallerToRoot(&attr)
	require.NotZero(t, attr.Cloneflags&unix.CLONE_NEWUSER)
	require.Equal(t, []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}, attr.UidMappings)
	require.False(t, attr.GidMappingsEnableSetgroups)
}

func TestExplain(t *testing.T) {
	err := Explain(fmt.Errorf("clone: %w", unix.ENOSPC))
	require.ErrorIs(t, err, unix.ENOSPC)
	require.Contains(t, err.Error(), "user.max_user_namespaces")
	require.Contains(t, Explain(unix.EPERM).Error(), "run with sudo")
	require.Equal(t, unix.EINVAL, Explain(unix.EINVAL))
}
