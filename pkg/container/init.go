package container

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/trace"
)

// stage2Env carries CMD to the second stage of --init.
const stage2Env = "_TINCAN_STAGE2"

// The error pipe, as fd 4 of the child (pkg/reexec) and fd 3 of stage 2.
const errFD, stage2ErrFD = 4, 3

type stage2Config struct {
	Args       []string
	Env        []string
	Privileged bool
	User       string
}

func isStage2() bool { return os.Getenv(stage2Env) != "" }

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
	cfg, _ := json.Marshal(stage2Config{Args: spec.Args, Env: env, Privileged: spec.Privileged, User: spec.User})
	trace.Call("clone() + execve(\"/proc/self/exe\", [\"can-init\"], envp)")
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"can-init"}, &syscall.ProcAttr{
		Env:   []string{stage2Env + "=" + string(cfg), trace.Env + "=" + os.Getenv(trace.Env)},
		Files: []uintptr{0, 1, 2, errFD}, // the error pipe is stage 2's fd 3
	})
	if err != nil {
		return fmt.Errorf("--init: start CMD: %w", err)
	}
	// Our copy of the error pipe closes now; stage 2's closes when it execs
	// CMD, and then the parent knows the container runs.
	unix.Close(errFD)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs)
	go func() {
		for s := range sigs {
			if s != unix.SIGCHLD {
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

// stage2 hardens this process and becomes CMD; errors go to the error pipe.
func stage2() {
	var cfg stage2Config
	err := json.Unmarshal([]byte(os.Getenv(stage2Env)), &cfg)
	if err == nil {
		err = execHardened(Spec{Privileged: cfg.Privileged, User: cfg.User}, cfg.Args, cfg.Env)
	}
	code := reexec.Code(err)
	fmt.Fprintf(os.NewFile(stage2ErrFD, "errors"), "%d %v", code, err)
	os.Exit(code)
}

// execHardened sets CMD's environment, applies the hardening unless
// privileged, and execs CMD. It returns only on failure.
func execHardened(spec Spec, args, env []string) error {
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
	return reexec.Exec(args)
}
