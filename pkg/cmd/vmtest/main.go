// Command vmtest runs privileged tests on a cgroup v2 host: the machine most
// students have (Debian 12, Ubuntu 22.04+, Fedora: cgroup v2 only, "/" shared
// by systemd), booted in qemu from Debian's own kernel, whatever the machine
// running it is. `make vmtest` runs it from the workspace root:
//
//	go run ./pkg/cmd/vmtest [-kernel /boot/vmlinuz-VER] [-v] [-bench RE] DIR[=RUN][!SKIP]...
//
// Each DIR is a package of the workspace whose tests run in the VM, RUN and
// SKIP their -test.run and -test.skip patterns. vmtest builds, on this
// machine, the test binaries (go test -c) and the binaries the tests would
// build (testenv.Main, Probe), all static, since the VM has no Go; packs them
// into an initramfs with busybox, the workspace's files (testdata, READMEs),
// the host tools whose output the tests compare (with their libraries) and
// the kernel's network and overlay modules; and boots it with qemu (TCG: no
// KVM needed). The guest's init (init.sh, then stage2.sh) mounts only
// cgroup2, makes "/" rshared, runs each package's tests and prints "VMTEST
// PASS" or "VMTEST FAIL n" on the serial console; vmtest copies the console
// to stdout and exits 0 only on a PASS.
//
// The VM has no network device: nothing it does leaves it. On this machine
// vmtest only writes a temporary directory, removed at the end, and the only
// process it starts that outlives a command is qemu, killed with it.
package main

import (
	"bufio"
	"debug/elf"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	//go:embed init.sh
	stage1 []byte
	//go:embed stage2.sh
	stage2 []byte
)

// moduleDirs are the parts of the kernel's module tree the VM gets:
// networking (veth, bridge, nf_tables, conntrack, xfrm), the libraries and
// crypto those need (libcrc32c, crc32c), and overlayfs. As on any host, the
// kernel loads a module the moment something needs it (request_module runs
// /sbin/modprobe, busybox's here, which reads the index files).
var moduleDirs = []string{
	"kernel/net", "kernel/lib", "kernel/crypto", "kernel/fs/overlayfs", "kernel/drivers/net/veth.ko",
	"modules.dep", "modules.alias", "modules.softdep", "modules.builtin", "modules.symbols",
}

// hostTools are programs the tests and transcripts run that busybox has not,
// or has with other output or fewer features (busybox ip knows no "ip
// netns", its ps no "ps aux"). They are copied with the shared libraries
// ldd(1) lists for them; a missing one is left out, and the tests that need
// it say so.
var hostTools = []string{
	"ip", "nft", "curl", "newuidmap", "newgidmap", // iproute2, nftables, curl, uidmap
	"ps", "findmnt", "lsipc", "ipcmk", "ipcs", "ipcrm", // procps, util-linux
	// coreutils' timeout waits in the parent and kills its child; busybox's
	// execs the command and kills it from a child, which cannot end a
	// command that is PID 1 of a namespace (it ignores the signal).
	"timeout",
	"sh",        // dash, Debian's /bin/sh
	"id", "cat", // coreutils: the transcripts show their output and errors
	"hostname", // hostname: the transcripts show its error message
}

func main() {
	kernel := flag.String("kernel", "", "the kernel to boot (default: the last /boot/vmlinuz-*); its modules come from /lib/modules/VER")
	mem := flag.Int("m", 2048, "the VM's memory in MiB (the initramfs, about 300 MiB, stays in it)")
	cpus := flag.Int("smp", 2, "the VM's CPUs")
	timeout := flag.Duration("timeout", 8*time.Minute, "kill the VM after this long")
	verbose := flag.Bool("v", false, "run the tests with -test.v")
	testTimeout := flag.Duration("testtimeout", 5*time.Minute, "each package's -test.timeout, after which it panics with every goroutine's stack")
	keep := flag.Bool("keep", false, "keep the temporary directory (the initramfs and its tree) and print its path")
	bench := flag.String("bench", "", "also run the benchmarks that match this regexp (-test.bench), 50 times each; DIR=^$ runs no test")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: vmtest [flags] DIR[=RUN][!SKIP]...   (from the workspace root)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	// ^C or SIGTERM must not skip run's cleanup: boot kills qemu on it (a
	// go build started from a terminal gets the ^C itself and fails), then
	// the temporary directory is removed.
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	testFlags := fmt.Sprintf("-test.timeout=%v -test.v=%v", *testTimeout, *verbose)
	if *bench != "" {
		if strings.ContainsAny(*bench, " \t*?[") {
			fmt.Fprintln(os.Stderr, "vmtest: -bench: a regexp without spaces or glob characters (the guest's shell splits the flags)")
			os.Exit(2)
		}
		testFlags += " -test.bench=" + *bench + " -test.benchtime=50x"
	}
	err := run(config{kernel: *kernel, mem: *mem, cpus: *cpus, timeout: *timeout, keep: *keep,
		testFlags: testFlags}, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		os.Exit(1)
	}
}

// stop receives the signals that end vmtest.
var stop = make(chan os.Signal, 1)

type config struct {
	kernel    string
	mem       int
	cpus      int
	timeout   time.Duration
	testFlags string // given to each test binary
	keep      bool
}

// target is one package to test, with its -test.run and -test.skip patterns.
type target struct{ dir, run, skip string }

// parseTargets reads DIR[=RUN][!SKIP] arguments. The guest reads the
// patterns as words, so they stand for "all" and "none" when not given.
func parseTargets(args []string) ([]target, error) {
	var ts []target
	for _, a := range args {
		rest, skip, _ := strings.Cut(a, "!")
		dir, run, _ := strings.Cut(rest, "=")
		dir = filepath.Clean(dir)
		if filepath.IsAbs(dir) || strings.HasPrefix(dir, "..") {
			return nil, fmt.Errorf("%s: name a package directory inside the workspace, such as pkg/cgroup", a)
		}
		if run == "" {
			run = "."
		}
		if skip == "" {
			skip = "^$"
		}
		for _, re := range []string{run, skip} {
			if _, err := regexp.Compile(re); err != nil || strings.ContainsAny(re, " \t") {
				return nil, fmt.Errorf("%s: %q is not a pattern without spaces: %v", a, re, err)
			}
		}
		ts = append(ts, target{dir, run, skip})
	}
	return ts, nil
}

func run(c config, args []string) error {
	targets, err := parseTargets(args)
	if err != nil {
		return err
	}
	if _, err := os.Stat("go.work"); err != nil {
		return fmt.Errorf("run me from the workspace root (where go.work is): %w", err)
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return fmt.Errorf("%w: apt-get install qemu-system-x86", err)
	}
	if c.kernel == "" {
		ks, _ := filepath.Glob("/boot/vmlinuz-*")
		if len(ks) == 0 {
			return errors.New("no kernel in /boot: apt-get install linux-image-amd64, or give -kernel")
		}
		sort.Strings(ks)
		c.kernel = ks[len(ks)-1]
	}
	version := strings.TrimPrefix(filepath.Base(c.kernel), "vmlinuz-")

	tmp, err := os.MkdirTemp("", "tincan-vmtest-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Println("vmtest: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	root := filepath.Join(tmp, "root")

	t0 := time.Now()
	if err := build(root, targets); err != nil {
		return err
	}
	t1 := time.Now()
	if err := populate(root, version, targets, c.testFlags); err != nil {
		return err
	}
	initrd := filepath.Join(tmp, "initrd.cpio")
	if err := pack(root, initrd); err != nil {
		return err
	}
	fi, _ := os.Stat(initrd)
	fmt.Printf("vmtest: built in %.0fs, packed %d MiB in %.0fs; booting %s (%d CPUs, TCG)\n",
		t1.Sub(t0).Seconds(), fi.Size()>>20, time.Since(t1).Seconds(), c.kernel, c.cpus)

	t2 := time.Now()
	err = boot(qemu, c, initrd)
	fmt.Printf("vmtest: the VM ran %.0fs\n", time.Since(t2).Seconds())
	return err
}

// build compiles, static and for this machine's architecture, the test
// binaries of the targets into root/tincan/test (NAME.test, NAME the
// package directory's base) and, into root/tincan/bin, every binary testenv
// would build for them: the steps (09-full as can), 07-pivotroot's escape,
// and the probe.
func build(root string, targets []target) error {
	bin, test := filepath.Join(root, "tincan/bin")+"/", filepath.Join(root, "tincan/test")+"/"
	steps, _ := filepath.Glob("[0-9][0-9]-*")
	var mains []string
	for _, s := range steps {
		mains = append(mains, "./"+s)
	}
	mains = append(mains, "./07-pivotroot/escape", "./pkg/cmd/probe")
	if err := goCmd(append([]string{"build", "-o", bin}, mains...)...); err != nil {
		return err
	}
	if err := os.Rename(bin+"09-full", bin+"can"); err != nil {
		return err
	}
	seen := map[string]bool{}
	var pkgs []string
	for _, t := range targets {
		if name := filepath.Base(t.dir); seen[name] {
			continue
		} else {
			seen[name] = true
		}
		pkgs = append(pkgs, "./"+t.dir)
	}
	return goCmd(append([]string{"test", "-c", "-o", test}, pkgs...)...)
}

func goCmd(args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Println("vmtest: CGO_ENABLED=0 go", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", args[0], err)
	}
	return nil
}

// populate lays out the rest of the guest's tree in root.
func populate(root, version string, targets []target, testFlags string) error {
	// The workspace's files, for the tests that read testdata or a README.
	if err := copyTree(".", filepath.Join(root, "tincan/src")); err != nil {
		return err
	}
	if err := checkStatic("/bin/busybox"); err != nil {
		return fmt.Errorf("%w: apt-get install busybox-static", err)
	}
	if err := copyFile("/bin/busybox", filepath.Join(root, "bin/busybox")); err != nil {
		return err
	}
	for _, t := range hostTools {
		if err := copyTool(t, root); err != nil {
			fmt.Printf("vmtest: %v: tests that run %s will fail or skip\n", err, t)
		}
	}
	for _, m := range moduleDirs {
		if err := copyTree(filepath.Join("/lib/modules", version, m), root); err != nil {
			return fmt.Errorf("%w: the kernel's modules come with it (apt-get install linux-image-amd64)", err)
		}
	}
	var plan strings.Builder
	for _, t := range targets {
		fmt.Fprintf(&plan, "%s %s.test %s %s\n", t.dir, filepath.Base(t.dir), t.run, t.skip)
	}
	files := []struct {
		path string
		mode fs.FileMode
		data string
	}{
		{"init", 0o755, string(stage1)},
		{"vmtest/stage2.sh", 0o755, string(stage2)},
		{"vmtest/plan", 0o644, plan.String()},
		{"vmtest/testflags", 0o644, testFlags + "\n"},
		{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", 0o644, "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"},
		{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n"},
		{"etc/hostname", 0o644, "tincan-vm\n"},
		{"etc/shadow", 0o640, "root:*:19000:0:99999:7:::\n"}, // 06-user shows root in a userns cannot read it
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(root, f.path), f.mode, f.data); err != nil {
			return err
		}
	}
	for _, d := range []string{"proc", "sys", "run", "tmp", "root", "mnt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// copyTool copies the program name, found in $PATH, to root/usr/local/bin,
// and each shared library ldd(1) says it loads to the same path in root.
func copyTool(name, root string) error {
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	if err := copyFile(path, filepath.Join(root, "usr/local/bin", name)); err != nil {
		return err
	}
	out, err := exec.Command("ldd", path).Output()
	if err != nil {
		return nil // ldd says "not a dynamic executable" with status 1
	}
	// "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
	// "\t/lib64/ld-linux-x86-64.so.2 (0x...)"
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		var lib string
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0]
		default:
			continue
		}
		if err := copyFile(lib, filepath.Join(root, lib)); err != nil {
			return err
		}
	}
	return nil
}

// checkStatic refuses a binary that needs a dynamic loader: the guest's
// busybox has no /lib to load from.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

// copyTree copies the files below src (a file or a directory) to the same
// path below dst, leaving out what is not the project's in the workspace:
// dot directories (.git), and what make builds in ./bin and ./rootfs.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		top := filepath.Dir(p) == src
		if d.IsDir() && p != src && (strings.HasPrefix(name, ".") || top && (name == "bin" || name == "rootfs")) {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(p, filepath.Join(dst, p))
	})
}

// copyFile copies src's contents (following symlinks) and permissions.
func copyFile(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFile(dst, fi.Mode(), string(b))
}

func writeFile(path string, mode fs.FileMode, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(data), mode.Perm()); err != nil {
		return err
	}
	return os.Chmod(path, mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
}

// pack writes root as a newc cpio archive, uncompressed: the kernel unpacks
// it faster than it could inflate it, and qemu only reads a file.
func pack(root, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	c := &cpioWriter{w: w}
	// /dev/console, so that init has a stdin, stdout and stderr before it
	// mounts devtmpfs: the kernel opens it for PID 1.
	c.entry("dev", unixS_IFDIR|0o755, nil, 0, 0)
	c.entry("dev/console", unixS_IFCHR|0o600, nil, 5, 1)
	if err := writeTree(c, root); err != nil {
		f.Close()
		return err
	}
	err = c.close()
	if err == nil {
		err = w.Flush()
	}
	return errors.Join(err, f.Close())
}

// boot runs qemu on initrd, copies its console to stdout and returns nil
// only when the guest said VMTEST PASS.
func boot(qemu string, c config, initrd string) error {
	cmd := exec.Command(qemu,
		"-accel", "tcg", "-cpu", "max", "-smp", strconv.Itoa(c.cpus), "-m", strconv.Itoa(c.mem),
		// No default devices (no network card, no VGA): one serial console.
		"-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", c.kernel, "-initrd", initrd,
		// panic=-1: reboot at once on a panic, which -no-reboot turns into
		// qemu's exit. mitigations=off: no Spectre/Meltdown defences, which
		// cost TCG much time and guard nothing in a throwaway VM.
		"-append", "console=ttyS0 panic=-1 quiet mitigations=off")
	cmd.Stderr = os.Stderr
	// qemu dies with vmtest, even on SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var timedOut, stopped atomic.Bool
	timer := time.AfterFunc(c.timeout, func() {
		timedOut.Store(true)
		cmd.Process.Kill()
	})
	done := make(chan bool)
	go func() {
		select {
		case <-stop:
			stopped.Store(true)
			cmd.Process.Kill()
		case <-done:
		}
	}()
	v := readConsole(out, os.Stdout)
	timer.Stop()
	close(done)
	werr := cmd.Wait()
	switch {
	case stopped.Load():
		return errors.New("stopped by a signal")
	case timedOut.Load():
		return fmt.Errorf("no verdict after %v: the VM was killed (give -timeout more, or run fewer tests)", c.timeout)
	case v.failed > 0:
		return fmt.Errorf("%d test packages failed in the VM (see above)", v.failed)
	case !v.done:
		return fmt.Errorf("the VM stopped without a verdict (%v): see its console above", werr)
	}
	return nil
}

type verdict struct {
	done   bool
	failed int
}

// readConsole copies the guest's console to w, line by line without the
// serial line's \r, and returns the verdict its last VMTEST line gave.
func readConsole(r io.Reader, w io.Writer) verdict {
	var v verdict
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintln(w, line)
		if line == "VMTEST PASS" {
			v = verdict{done: true}
		} else if n, ok := strings.CutPrefix(line, "VMTEST FAIL "); ok {
			v = verdict{done: true, failed: 1}
			if i, err := strconv.Atoi(n); err == nil && i > 0 {
				v.failed = i
			}
		}
	}
	return v
}
