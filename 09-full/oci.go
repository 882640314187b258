package main

// can's second command line: runc's, which containerd's shim, podman's
// conmon and Docker use to drive a low-level runtime (the OCI runtime spec's
// "Operations", with runc's flags), so that
//
//	podman --runtime /path/to/can run ...
//	ctr run --runc-binary /path/to/can ...
//	docker run --runtime can ...
//
// run their containers with can. The engines add runc's global flags first
// (--root DIR --log FILE --log-format json); then one of these commands.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/container"
	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/step"
	"tincan.dev/pkg/trace"
	"tincan.dev/pkg/tty"
)

// version is can's; the engines print it (podman info, docker info).
const version = "0.2.0"

// global are runc's global flags.
type global struct {
	root, log, logFormat string
}

// ociCommands are runc's commands that can answers.
var ociCommands = map[string]func(g global, args []string) error{
	"create": ociCreate, "state": ociState, "kill": ociKill,
	"delete": ociDelete, "run": ociRun, "exec": ociExec, "ps": ociPs,
	"list": ociList, "spec": ociSpec, "features": ociFeatures,
	"start":  onContainer("start", (*container.Container).Start),
	"pause":  onContainer("pause", (*container.Container).Pause),
	"resume": onContainer("resume", (*container.Container).Resume),
}

// onContainer is a command whose only argument is the container's ID.
func onContainer(name string, do func(*container.Container) error) func(global, []string) error {
	return func(g global, args []string) error {
		c, _, err := load(g, name, "can "+name+" ID", args, func(*flag.FlagSet) {})
		if err != nil {
			return err
		}
		return do(c)
	}
}

// ociMain runs runc's command line when args are one of its commands, and
// reports whether they were. `can ps aux` stays can's own (run ps in a
// container): ps and kill are runc's only with global flags, a --format,
// or a container of that name.
func ociMain(args []string) bool {
	var g global
	i := 0
	for ; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") {
			break
		}
		switch name {
		case "root", "log", "log-format", "criu", "rootless":
			if !hasValue {
				if i+1 >= len(args) {
					return false
				}
				i++
				value = args[i]
			}
			switch name {
			case "root":
				g.root = value
			case "log":
				g.log = value
			case "log-format":
				g.logFormat = value
			}
		case "debug", "systemd-cgroup":
			if name == "systemd-cgroup" {
				ociExit(g, errors.New("--systemd-cgroup: can places cgroups itself (cgroupfs): use the engine's cgroupfs manager"))
			}
		case "version":
			fmt.Printf("can version %s\nspec: %s\n", version, specs.Version)
			os.Exit(0)
		default:
			if i == 0 {
				return false // can's own flags
			}
			ociExit(g, fmt.Errorf("unknown global flag %s", args[i]))
		}
	}
	if i >= len(args) {
		return false
	}
	cmd, ok := ociCommands[args[i]]
	if !ok {
		return false
	}
	rest := args[i+1:]
	if i == 0 && (args[i] == "ps" || args[i] == "kill") && !looksOCI(g, rest) {
		return false
	}
	ociExit(g, cmd(g, rest))
	return true
}

// looksOCI tells runc's ps and kill from a command to run in a container.
func looksOCI(g global, args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			if strings.HasPrefix(strings.TrimLeft(a, "-"), "f") || strings.HasPrefix(strings.TrimLeft(a, "-"), "a") {
				return true
			}
			continue
		}
		_, err := container.Load(g.root, a)
		return err == nil
	}
	return false
}

// ociExit ends a runc-style command: one line on stderr, and the same as a
// JSON line in --log when --log-format json (the shims read it from there).
func ociExit(g global, err error) {
	if err == nil {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "can: %v\n", err)
	if g.log != "" {
		line := fmt.Sprintf("time=%q level=error msg=%q\n", time.Now().Format(time.RFC3339Nano), err.Error())
		if g.logFormat == "json" {
			b, _ := json.Marshal(map[string]string{"level": "error", "msg": err.Error(), "time": time.Now().Format(time.RFC3339Nano)})
			line = string(b) + "\n"
		}
		if f, ferr := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); ferr == nil {
			f.WriteString(line)
			f.Close()
		}
	}
	var e *reexec.Error
	if errors.As(err, &e) {
		os.Exit(e.Code)
	}
	os.Exit(1)
}

// ociFlags parses a command's flags; runc's take one dash or two.
func ociFlags(name, usage string, args []string, define func(fs *flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet("can "+name, flag.ContinueOnError)
	define(fs)
	if err := parseFlags(fs, args, usage); err != nil {
		return nil, err
	}
	return fs, nil
}

// oneID is the single container ID a command takes.
func oneID(fs *flag.FlagSet) (string, error) {
	if fs.NArg() < 1 {
		return "", fmt.Errorf("%s: give the container's ID", fs.Name())
	}
	return fs.Arg(0), nil
}

func ociCreate(g global, args []string) error {
	_, err := create(g, "create", args, false)
	return err
}

// create is create's and run's common part.
func create(g global, name string, args []string, foreground bool) (*createResult, error) {
	var opts container.CreateOpts
	var detach bool
	var preserve int
	fs, err := ociFlags(name, "can "+name+" [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID", args, func(fs *flag.FlagSet) {
		fs.StringVar(&opts.Bundle, "bundle", ".", "the bundle `DIR`: config.json and the root filesystem")
		fs.StringVar(&opts.Bundle, "b", ".", "short for --bundle")
		fs.StringVar(&opts.PidFile, "pid-file", "", "write the container's PID to `FILE`")
		fs.StringVar(&opts.ConsoleSocket, "console-socket", "", "send the terminal's master to the unix socket `PATH`")
		fs.BoolVar(&opts.NoPivot, "no-pivot", false, "chroot(2) instead of pivot_root(2), for a root on ramfs")
		fs.Bool("no-new-keyring", false, "accepted for runc's sake: can makes no session keyring")
		fs.IntVar(&preserve, "preserve-fds", 0, "pass `N` more fds (3...) to the container: not supported")
		if name == "run" {
			fs.BoolVar(&detach, "detach", false, "do not wait for the container")
			fs.BoolVar(&detach, "d", false, "short for --detach")
		}
		fs.BoolVar(new(bool), "v", false, "trace each kernel call")
	})
	if err != nil {
		return nil, err
	}
	if preserve > 0 {
		return nil, errors.New("--preserve-fds: can passes no fds beyond stdio to a container")
	}
	if fs.Lookup("v").Value.String() == "true" {
		trace.Enable()
	}
	id, err := oneID(fs)
	if err != nil {
		return nil, err
	}
	opts.Root = g.root
	config, err := container.LoadBundle(opts.Bundle)
	if err != nil {
		return nil, err
	}
	spec, err := container.FromOCI(id, opts.Bundle, config)
	if err != nil {
		return nil, err
	}
	opts.Foreground = foreground && !detach
	cmd, terminal, err := container.Create(spec, opts)
	return &createResult{cmd: cmd, terminal: terminal, id: id}, err
}

type createResult struct {
	cmd      *reexec.Cmd
	terminal *os.File
	id       string
}

// load parses a command's flags (define adds its own) and finds the
// container its ID names; fs has the arguments after the ID.
func load(g global, name, usage string, args []string, define func(*flag.FlagSet)) (c *container.Container, fs *flag.FlagSet, err error) {
	if fs, err = ociFlags(name, usage, args, define); err != nil {
		return nil, nil, err
	}
	id, err := oneID(fs)
	if err != nil {
		return nil, nil, err
	}
	c, err = container.Load(g.root, id)
	return c, fs, err
}

func ociState(g global, args []string) error {
	c, _, err := load(g, "state", "can state ID", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	b, err := c.StateJSON()
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

func ociKill(g global, args []string) error {
	var all bool
	c, fs, err := load(g, "kill", "can kill [--all] ID [SIGNAL]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&all, "all", false, "signal every process in the container")
		fs.BoolVar(&all, "a", false, "short for --all")
	})
	if err != nil {
		return err
	}
	sig := unix.SIGTERM
	if fs.NArg() > 1 {
		if sig, err = parseSignal(fs.Arg(1)); err != nil {
			return err
		}
	}
	return c.Kill(sig, all)
}

// parseSignal reads 9, KILL or SIGKILL.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("signal %q: give a number or a name such as TERM or SIGKILL", s)
}

func ociDelete(g global, args []string) error {
	var force bool
	c, _, err := load(g, "delete", "can delete [--force] ID", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "kill the container first if it runs")
		fs.BoolVar(&force, "f", false, "short for --force")
	})
	if err != nil {
		if force && reexec.Code(err) == 1 {
			return nil // gone already: what --force asks for
		}
		return err
	}
	return c.Delete(force)
}

func ociPs(g global, args []string) error {
	var format string
	c, _, err := load(g, "ps", "can ps [--format table|json] ID", args, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "table", "table or json")
		fs.StringVar(&format, "f", "table", "short for --format")
	})
	if err != nil {
		return err
	}
	pids, err := c.Pids()
	if err != nil {
		return err
	}
	if format == "json" {
		if pids == nil {
			pids = []int{}
		}
		b, _ := json.Marshal(pids)
		fmt.Println(string(b))
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tCMD")
	for _, pid := range pids {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		fmt.Fprintf(w, "%d\t%s\n", pid, strings.TrimSpace(string(comm)))
	}
	return w.Flush()
}

func ociList(g global, args []string) error {
	var format string
	var quiet bool
	_, err := ociFlags("list", "can list [--format table|json] [--quiet]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "table", "table or json")
		fs.StringVar(&format, "f", "table", "short for --format")
		fs.BoolVar(&quiet, "quiet", false, "IDs only")
		fs.BoolVar(&quiet, "q", false, "short for --quiet")
	})
	if err != nil {
		return err
	}
	list, err := container.List(g.root)
	if err != nil {
		return err
	}
	type entry struct {
		*specs.State
		Created time.Time `json:"created"`
	}
	var out []entry
	for _, c := range list {
		out = append(out, entry{c.State(), c.Created()})
	}
	switch {
	case quiet:
		for _, e := range out {
			fmt.Println(e.ID)
		}
	case format == "json":
		if out == nil {
			out = []entry{}
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	default:
		w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
		for _, e := range out {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", e.ID, e.Pid, e.Status, e.Bundle, e.Created.Format(time.RFC3339Nano))
		}
		return w.Flush()
	}
	return nil
}

func ociSpec(g global, args []string) error {
	var bundle string
	var rootless bool
	_, err := ociFlags("spec", "can spec [--bundle DIR] [--rootless]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&bundle, "bundle", ".", "write config.json in `DIR`")
		fs.StringVar(&bundle, "b", ".", "short for --bundle")
		fs.BoolVar(&rootless, "rootless", false, "a config for a user without root: a user namespace, no cgroup limits")
	})
	if err != nil {
		return err
	}
	path := filepath.Join(bundle, "config.json")
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: remove it first", path)
	}
	b, _ := json.MarshalIndent(container.DefaultOCI(rootless), "", "\t")
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func ociFeatures(g global, args []string) error {
	b, _ := json.MarshalIndent(container.Features(), "", "    ")
	fmt.Println(string(b))
	return nil
}

// ociRun is create, start and wait: the container stays can's child, its
// terminal relayed to can's, its exit status can's; then delete.
func ociRun(g global, args []string) error {
	r, err := create(g, "run", args, true)
	if err != nil {
		return err
	}
	c, err := container.Load(g.root, r.id)
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil || r.cmd == nil {
		return err // --detach: the container runs on
	}
	var relay *tty.Relay
	if r.terminal != nil {
		if relay, err = tty.Start(r.terminal, os.Stdin, os.Stdout); err != nil {
			r.cmd.Signal(unix.SIGKILL)
		}
	}
	code, werr := r.cmd.Wait()
	if relay != nil {
		relay.Close()
	}
	if err := c.Delete(true); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return werr
	}
	os.Exit(code)
	return nil
}

// ociExec runs a process in a running container: described by --process
// FILE (the engines' way), or by CMD and flags (a person's).
func ociExec(g global, args []string) error {
	var opts container.ExecOpts
	var processFile, cwd, user string
	var terminal, noNewPrivs bool
	var env, caps step.List
	c, fs, err := load(g, "exec", "can exec [--process FILE | [-t] [-e K=V] [--cwd DIR] [--user UID[:GID]] ID CMD [ARG...]]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&processFile, "process", "", "the process to run, as config.json's process in `FILE`")
		fs.StringVar(&processFile, "p", "", "short for --process")
		fs.BoolVar(&opts.Detach, "detach", false, "do not wait for the process")
		fs.BoolVar(&opts.Detach, "d", false, "short for --detach")
		fs.StringVar(&opts.PidFile, "pid-file", "", "write the process's PID to `FILE`")
		fs.StringVar(&opts.ConsoleSocket, "console-socket", "", "send the terminal's master to the unix socket `PATH`")
		fs.BoolVar(&terminal, "tty", false, "a terminal for the process")
		fs.BoolVar(&terminal, "t", false, "short for --tty")
		fs.StringVar(&cwd, "cwd", "", "working `DIR` inside")
		fs.Var(&env, "env", "set `KEY=VALUE` (repeatable)")
		fs.Var(&env, "e", "short for --env")
		fs.StringVar(&user, "user", "", "`UID[:GID]` to run as")
		fs.StringVar(&user, "u", "", "short for --user")
		fs.Var(&caps, "cap", "add capability `CAP` (repeatable)")
		fs.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privs")
	})
	if err != nil {
		return err
	}
	var p *specs.Process
	if processFile != "" {
		b, err := os.ReadFile(processFile)
		if err != nil {
			return fmt.Errorf("--process: %w", err)
		}
		p = new(specs.Process)
		if err := json.Unmarshal(b, p); err != nil {
			return fmt.Errorf("--process %s: %w", processFile, err)
		}
	} else {
		if fs.NArg() < 2 {
			return errors.New("exec: give --process FILE, or the command to run after the container's ID")
		}
		cfg, err := c.Config()
		if err != nil {
			return err
		}
		q := *cfg.Process // the container's process, with what the flags change
		p = &q
		p.Args, p.Terminal = fs.Args()[1:], terminal
		p.Env = append(append([]string(nil), p.Env...), env...)
		if cwd != "" {
			p.Cwd = cwd
		}
		if noNewPrivs {
			p.NoNewPrivileges = true
		}
		if user != "" {
			u, g, _ := strings.Cut(user, ":")
			uid, err := strconv.ParseUint(u, 10, 32)
			if err != nil {
				return fmt.Errorf("--user %q: give UID[:GID] as numbers", user)
			}
			p.User = specs.User{UID: uint32(uid)}
			if g != "" {
				gid, err := strconv.ParseUint(g, 10, 32)
				if err != nil {
					return fmt.Errorf("--user %q: give UID[:GID] as numbers", user)
				}
				p.User.GID = uint32(gid)
			}
		}
		if len(caps) > 0 && p.Capabilities != nil {
			pc := *p.Capabilities
			pc.Bounding = append(append([]string(nil), pc.Bounding...), caps...)
			pc.Effective = append(append([]string(nil), pc.Effective...), caps...)
			pc.Permitted = append(append([]string(nil), pc.Permitted...), caps...)
			p.Capabilities = &pc
		}
	}
	code, err := c.Exec(p, opts)
	if err != nil {
		return err
	}
	os.Exit(code)
	return nil
}
