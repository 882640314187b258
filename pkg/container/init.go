package container

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/trace"
)

// stage2Env carries CMD to the second stage of --init; stage2Mark, the
// inode of the error pipe it gets as fd 3, tells a real stage 2 from a
// caller that happens to have _TINCAN_STAGE2 set.
const (
	stage2Env  = "_TINCAN_STAGE2"
	stage2Mark = "_TINCAN_STAGE2_PIPE"
)

// The error pipe is fd 3 of stage 2. With a pids limit, the cgroup's
// pids.max is fd 5 of the child (the first of reexec's ExtraFiles, see
// cgroupFiles) and fd 4 of stage 2.
const (
	stage2ErrFD          = 3
	pidsFD, stage2PidsFD = 5, 4
)

type stage2Config struct {
	Args       []string
	Env        []string
	Privileged bool
	Pids       int64
	User       string
}

func isStage2() bool {
	mark := os.Getenv(stage2Mark)
	return mark != "" && os.Getenv(stage2Env) != "" && mark == reexec.Inode(stage2ErrFD)
}

// runInit makes can itself PID 1 of the container (--init), as tini or
// docker run --init do. PID 1 has two duties a shell or a server does not
// expect: it adopts every orphan, and must reap it, or zombies pile up; and the
// kernel delivers it only the signals it has handlers for, so a plain CMD as
// PID 1 ignores SIGTERM. Here can handles every signal and passes it on.
//
// CMD is started by re-executing can once more ("stage 2"), which hardens
// itself and execs CMD: hardening is per thread and must happen between fork
// and exec, where Go cannot run code. PID 1 keeps its capabilities, so CMD,
// with fewer, cannot ptrace it or open /proc/1/exe (ptrace(2), "Ptrace access
// mode checking"), the path of runc's CVE-2019-5736.
func runInit(spec Spec, env []string) error {
	// Handlers first: a signal that reaches PID 1 before it listens is
	// dropped by the kernel (PID 1 gets only the signals it handles), and
	// stage 2 may already be CMD by then.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, initSignals...)
	cfg, _ := json.Marshal(stage2Config{Args: spec.Args, Env: env, Privileged: spec.Privileged, Pids: spec.Limits.Pids, User: spec.User})
	errs := reexec.ErrorPipe()
	files := []uintptr{0, 1, 2, errs.Fd()} // the error pipe is stage 2's fd 3
	if spec.Limits.Pids > 0 {
		// Stage 2 writes the pids limit before it execs CMD. This process
		// stays, and its threads count against the limit too (as tini's one
		// process does under docker run --init --pids-limit).
		files = append(files, pidsFD) // its fd 4
	}
	trace.Call("clone() + setsid() + execve(\"/proc/self/exe\", [\"can-init\"], envp)")
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"can-init"}, &syscall.ProcAttr{
		Env: []string{
			stage2Env + "=" + string(cfg),
			stage2Mark + "=" + reexec.Inode(int(errs.Fd())),
			trace.Env + "=" + os.Getenv(trace.Env),
		},
		Files: files,
		// CMD leads a session of its own, with the container's terminal
		// (fd 0, if it has one) as its controlling terminal: a ^C's SIGINT
		// goes to CMD's foreground, not to us as well.
		Sys: &syscall.SysProcAttr{Setsid: true, Setctty: spec.Terminal, Ctty: 0},
	})
	if err != nil {
		return fmt.Errorf("--init: start CMD: %w", err)
	}
	// Our copy of the error pipe closes now; stage 2's closes when it execs
	// CMD, and then the parent knows the container runs.
	reexec.Detach()
	if spec.Limits.Pids > 0 {
		unix.Close(pidsFD)
	}
	// A pidfd names stage 2 for good: we reap every orphan of the container,
	// so CMD's PID could be reused by the time a signal is passed on. Opened
	// before any wait4 below, the PID is still CMD's.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		pidfd = -1 // before Linux 5.3: kill(2) by PID
	}
	go func() {
		for s := range sigs {
			if pidfd >= 0 {
				unix.PidfdSendSignal(pidfd, s.(unix.Signal), nil, 0)
			} else {
				unix.Kill(pid, s.(unix.Signal))
			}
		}
	}()
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			os.Exit(reexec.CodeFailed)
		}
		if wpid == pid { // CMD is done; exiting kills whatever is left
			if ws.Signaled() {
				os.Exit(128 + int(ws.Signal()))
			}
			os.Exit(ws.ExitStatus())
		}
	}
}

// initSignals are the signals PID 1 passes on to CMD: those a user or a
// supervisor sends to a program (tini's choice). Not SIGCHLD, which is ours;
// not SIGPIPE, SIGTTIN, SIGTTOU or SIGURG (the Go runtime's preemption
// signal), which the kernel raises for a process's own doing; not the
// synchronous faults (SIGSEGV, ...). SIGKILL and SIGSTOP cannot be caught.
var initSignals = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1,
	unix.SIGUSR2, unix.SIGALRM, unix.SIGCONT, unix.SIGWINCH,
}

// stage2 hardens this process and becomes CMD; errors go to the error pipe.
func stage2() {
	var cfg stage2Config
	err := json.Unmarshal([]byte(os.Getenv(stage2Env)), &cfg)
	if err == nil {
		spec := Spec{Privileged: cfg.Privileged, User: cfg.User, Limits: cgroup.Limits{Pids: cfg.Pids}}
		err = execHardened(spec, cfg.Args, cfg.Env, stage2PidsFD)
	}
	code := reexec.Code(err)
	fmt.Fprintf(os.NewFile(stage2ErrFD, "errors"), "%d %v", code, err)
	os.Exit(code)
}

// execHardened sets CMD's environment, applies the hardening unless
// privileged, writes the pids limit to the pids.max open as fd pids, and
// execs CMD. It returns only on failure.
func execHardened(spec Spec, args, env []string, pids int) error {
	os.Clearenv()
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			os.Setenv(k, v)
		}
	}
	if err := switchUser(spec.User); err != nil {
		return err
	}
	if err := applyHardening(spec); err != nil {
		return err
	}
	if spec.Limits.Pids > 0 {
		// Last, so that this Go process's threads have all been made: from
		// here until execve ends them, it may not make another.
		if err := cgroup.SetPids(os.NewFile(uintptr(pids), "the cgroup's pids.max"), spec.Limits.Pids); err != nil {
			return err
		}
	}
	return reexec.Exec(args)
}
