// Command probe reports what the kernel shows the process it runs in, in
// lines a test can split on spaces. Tests copy it (static: built with
// CGO_ENABLED=0, see testenv.Probe) into a container's root file system and
// run it there, so they read the container's own view without depending on
// the output format of busybox or procps.
//
//	probe mypid          pid 1 / ppid 0
//	probe ns             one line per namespace: net 4026531840
//	probe caps           CapInh ... CapAmb as hex, NoNewPrivs, Seccomp (/proc/self/status)
//	probe mounts         mount point and file system type, one mount per line
//	probe uid            uid, gid, and the lines of uid_map and gid_map
//	probe hostname       the UTS namespace's host name
//	probe syscall NAME   ok, or the errno name (EPERM, ENOSYS, ...) the call got
//	probe syscall NR     the same for call number NR, made with six zero arguments
//	probe syn MAC IP:PORT  a raw TCP SYN out of eth0 to MAC: syn-ack, rst or none
//	probe tiocsti        types "echo INJECTED" into the terminal on fds 0, 1, 2
//	                     with ioctl(TIOCSTI): one line per fd, "fd0 ok" or the errno
//
// Every subcommand exits 0 once it has printed its answer; a probe that
// cannot read what it was asked exits 1, a bad command line exits 2.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "mypid":
		fmt.Printf("pid %d\nppid %d\n", os.Getpid(), os.Getppid())
	case "ns":
		err = namespaces()
	case "caps":
		err = status("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
	case "mounts":
		err = mounts()
	case "uid":
		err = ids()
	case "hostname":
		var u unix.Utsname
		if err = unix.Uname(&u); err == nil {
			fmt.Println(unix.ByteSliceToString(u.Nodename[:]))
		}
	case "syscall":
		if len(os.Args) != 3 {
			usage()
		}
		call := calls[os.Args[2]]
		if nr, err := strconv.ParseUint(os.Args[2], 10, 32); err == nil {
			call = func() error { return raw(uintptr(nr)) }
		}
		if call == nil {
			usage()
		}
		fmt.Println(result(call()))
	case "syn":
		if len(os.Args) != 4 {
			usage()
		}
		err = syn(os.Args[2], os.Args[3])
	case "tiocsti":
		tiocsti()
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe mypid|ns|caps|mounts|uid|hostname|syscall NAME|syn MAC IP:PORT|tiocsti")
	fmt.Fprintln(os.Stderr, "       syscall NAME: clone clone3 fork keyctl listmount mount name_to_handle_at personality statmount")
	fmt.Fprintln(os.Stderr, "                     unshare unshare-user vsock, or a number")
	os.Exit(2)
}

// namespaces prints the inode of each of this process's namespaces: two
// processes share a namespace when the numbers are equal (namespaces(7)).
func namespaces() error {
	for _, kind := range []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"} {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/"+kind, &st); err != nil {
			if os.IsNotExist(err) {
				continue // a kernel without this kind of namespace
			}
			return err
		}
		fmt.Println(kind, st.Ino)
	}
	return nil
}

// status prints the named fields of /proc/self/status (proc(5)).
func status(keys ...string) error {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return err
	}
	defer f.Close()
	found := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			found[k] = strings.TrimSpace(v)
		}
	}
	for _, k := range keys {
		v, ok := found[k]
		if !ok {
			return fmt.Errorf("/proc/self/status has no %s", k)
		}
		fmt.Println(k, v)
	}
	return sc.Err()
}

// mounts prints field 5 (the mount point) and the file system type, which
// follows the " - " separator, of each line of /proc/self/mountinfo (proc(5)).
func mounts() error {
	mounts, err := mountinfo.GetMounts(nil)
	for _, m := range mounts {
		fmt.Println(m.Mountpoint, m.FSType)
	}
	return err
}

// ids prints the real uid and gid, then each line of the user namespace's
// maps (user_namespaces(7)): "uid_map 0 1000 1" maps id 0 here to 1000 in
// the parent namespace, one id long.
func ids() error {
	fmt.Printf("uid %d\ngid %d\n", os.Getuid(), os.Getgid())
	for _, m := range []string{"uid_map", "gid_map"} {
		b, err := os.ReadFile("/proc/self/" + m)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			fmt.Println(m, strings.Join(strings.Fields(line), " "))
		}
	}
	return nil
}

// calls try one system call each, chosen to change nothing that outlives the
// probe, and return its errno (0 when it worked). EPERM can come from the
// seccomp filter or from a missing capability: ask with and without the
// filter to tell which.
var calls = map[string]func() error{
	// unshare(CLONE_NEWUTS): this thread gets a UTS namespace of its own.
	"unshare": func() error { return unix.Unshare(unix.CLONE_NEWUTS) },
	// fork: start this probe again, as any program starts another (Go
	// forks with clone(CLONE_VM|CLONE_VFORK|...), then execve).
	"fork": func() error { return exec.Command("/proc/self/exe", "hostname").Run() },
	// clone(CLONE_NEWUTS): the same, in a new UTS namespace.
	"clone": func() error {
		cmd := exec.Command("/proc/self/exe", "hostname")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUTS}
		return cmd.Run()
	},
	// clone3(NULL, 0): the kernel refuses a zero size with EINVAL, so no
	// process is made; a seccomp filter answers first.
	"clone3": func() error {
		_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
		return errnoOrNil(e)
	},
	// mount of a file system type that does not exist: ENODEV when mount
	// itself is allowed, and nothing is mounted.
	"mount": func() error { return unix.Mount("none", "/", "tincan-probe-nosuchfs", 0, "") },
	// keyctl(KEYCTL_GET_KEYRING_ID, session keyring, create=0): only reads.
	"keyctl": func() error {
		_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
		return err
	},
	// personality(PER_BSD): an emulation Docker's profile refuses.
	"personality": func() error {
		_, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0x6, 0, 0)
		return errnoOrNil(e)
	},
	// unshare(CLONE_NEWUSER): a user namespace needs no capability, so only
	// seccomp refuses it. The kernel refuses a threaded caller (this Go
	// program) with EINVAL: the namespace is never made.
	"unshare-user": func() error { return unix.Unshare(unix.CLONE_NEWUSER) },
	// name_to_handle_at(AT_FDCWD, "/"): the handle open_by_handle_at takes.
	"name_to_handle_at": func() error {
		_, _, err := unix.NameToHandleAt(unix.AT_FDCWD, "/", 0)
		return err
	},
	// socket(AF_VSOCK): EAFNOSUPPORT where the kernel has no vsock.
	"vsock": func() error {
		fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	},
	// statmount and listmount (Linux 6.8) with no request: EFAULT when the
	// kernel has them, ENOSYS when not.
	"statmount": func() error { return raw(unix.SYS_STATMOUNT) },
	"listmount": func() error { return raw(unix.SYS_LISTMOUNT) },
}

// raw makes call nr with six zero arguments.
func raw(nr uintptr) error {
	_, _, e := unix.Syscall6(nr, 0, 0, 0, 0, 0, 0)
	return errnoOrNil(e)
}

func errnoOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// result spells an error as its errno name, EPERM rather than "operation not
// permitted", so tests compare stable words.
func result(err error) string {
	if err == nil {
		return "ok"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		if name := unix.ErrnoName(e); name != "" {
			return name
		}
		return fmt.Sprintf("errno %d", int(e))
	}
	return err.Error()
}

// tiocsti tries bubblewrap's CVE-2017-5226: ioctl(fd, TIOCSTI, &c) pushes c
// into the terminal's input as if typed, so a process sharing the user's
// terminal can have the user's shell run a command once it exits
// (ioctl_tty(2)). The kernel allows it on the caller's controlling terminal,
// or with CAP_SYS_ADMIN.
func tiocsti() {
	for fd := 0; fd <= 2; fd++ {
		var err error
		line := []byte("echo INJECTED\n")
		for i := range line {
			_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&line[i])))
			if err = errnoOrNil(e); err != nil {
				break
			}
		}
		fmt.Printf("fd%d %s\n", fd, result(err))
	}
}
