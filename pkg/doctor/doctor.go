// Package doctor checks what the lessons need from this machine and says,
// for each need, what it found and how to fix it: make doctor prints the
// table. Every check reads the kernel's own files (/proc, /sys) under roots
// that are parameters, so the tests run them against fake trees; the only
// call that goes to the kernel directly is the nftables probe, a netlink
// question that sends no packet.
//
// An error in a lesson that names a missing kernel feature ends with "see
// make doctor" (pkg/userns, pkg/mount): this is where that sentence leads.
package doctor

import (
	"bufio"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/moby/sys/mountinfo"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/userns"
)

// Status is how a check ended.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn" // some lessons or modes will not work
	Fail Status = "FAIL" // the lessons will not work
)

// Check is one line of the table.
type Check struct {
	Name   string
	Status Status
	Found  string // what the machine has
	Fix    string // what to do about it; empty when nothing
}

// Machine is what the checks look at. Host() is this one.
type Machine struct {
	Proc, Sys string // where proc and sysfs are mounted: "/proc", "/sys"
	Etc       string // holds passwd, subuid and subgid: "/etc" ("" skips SubIDs)
	Euid      int
	GoVersion string // as runtime.Version spells it: "go1.22.2"
	LookPath  func(name string) (string, error)
	// Static reports whether the executable at path is statically linked.
	Static func(path string) (bool, error)
	// Nftables asks the kernel whether nf_tables answers; nil skips asking.
	Nftables func() error
}

// Host is the machine this program runs on.
func Host() Machine {
	return Machine{
		Proc: "/proc", Sys: "/sys", Etc: "/etc", Euid: os.Geteuid(), GoVersion: runtime.Version(),
		LookPath: exec.LookPath, Static: Static, Nftables: ProbeNftables,
	}
}

// Run runs every check, in the order the lessons need them.
func (m Machine) Run() []Check {
	return []Check{
		m.Root(), m.UserNamespaces(), m.CgroupControllers(), m.CgroupDelegation(),
		m.Overlay(), m.Nft(), m.Propagation(), m.Busybox(), m.Uidmap(), m.SubIDs(), m.Go(),
	}
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Print writes checks as a table.
func Print(w io.Writer, checks []Check) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tFOUND\tFIX")
	for _, c := range checks {
		fix := c.Fix
		if fix == "" {
			fix = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Status, c.Found, fix)
	}
	tw.Flush()
}

// Root: every step runs as root; without it they add a user namespace.
func (m Machine) Root() Check {
	c := Check{Name: "root"}
	if m.Euid == 0 {
		c.Status, c.Found = OK, "uid 0"
		return c
	}
	c.Status = Warn
	c.Found = fmt.Sprintf("uid %d: steps 01-07 run in a user namespace (06-user); cgroups, veth and NAT need root", m.Euid)
	c.Fix = "make test SUDO=1; sudo bin/NN-step ... (through sudo, what they make is named after you: pkg/owner)"
	return c
}

// UserNamespaces: the kernel's three switches that can refuse an unprivileged
// user namespace (user_namespaces(7); the last two are Debian's and Ubuntu's).
// Root may always create one, so for root a refusal is only a warning.
func (m Machine) UserNamespaces() Check {
	c := Check{Name: "user namespaces"}
	bad := Fail
	if m.Euid == 0 {
		bad = Warn // only the rootless runs are affected
	}
	max, err := userns.Sysctl(m.Proc, "user/max_user_namespaces")
	switch {
	case err != nil:
		c.Status, c.Found = Fail, "no /proc/sys/user/max_user_namespaces: the kernel has no user namespaces"
		c.Fix = "a kernel built with CONFIG_USER_NS=y"
	case max == "0":
		c.Status, c.Found = bad, "disabled: user.max_user_namespaces=0"
		c.Fix = "sudo sysctl -w user.max_user_namespaces=15000"
	default:
		c.Status, c.Found = OK, "allowed (user.max_user_namespaces="+max+")"
		if v, err := userns.Sysctl(m.Proc, "kernel/unprivileged_userns_clone"); err == nil && v == "0" {
			c.Status, c.Found = bad, "unprivileged ones disabled: kernel.unprivileged_userns_clone=0"
			c.Fix = "sudo sysctl -w kernel.unprivileged_userns_clone=1"
		} else if v, err := userns.Sysctl(m.Proc, "kernel/apparmor_restrict_unprivileged_userns"); err == nil && v == "1" {
			c.Status, c.Found = bad, "AppArmor restricts unprivileged ones: kernel.apparmor_restrict_unprivileged_userns=1"
			c.Fix = "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile with 'userns,' for bin/*)"
		}
	}
	return c
}

// mount is one line of mountinfo (proc(5)): what Propagation needs of it.
type mountEntry struct {
	point    string
	optional []string // shared:N, master:N
}

func (m Machine) mounts() ([]mountEntry, error) {
	f, err := os.Open(filepath.Join(m.Proc, "self/mountinfo"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
	infos, err := mountinfo.GetMountsFromReader(f, nil)
	var out []mountEntry
	for _, i := range infos {
		out = append(out, mountEntry{point: i.Mountpoint, optional: strings.Fields(i.Optional)})
	}
	return out, err
}

// sysPath places an absolute path under /sys in m's sysfs tree.
func (m Machine) sysPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/sys/"); ok {
		return filepath.Join(m.Sys, rest)
	}
	return p
}

// cgroups finds the v1 controllers (by hierarchy) and the v2 mount, read
// as pkg/cgroup reads them, so that doctor sees what the lessons will.
func (m Machine) cgroups() (v1 map[string]string, v2 string, err error) {
	f, err := os.Open(filepath.Join(m.Proc, "self/mountinfo"))
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	l, err := cgroup.ParseMountinfo(f)
	if err != nil {
		return nil, "", err
	}
	return l.V1, l.Unified, nil
}

// The controllers 08-cgroup and can use.
var needed = []string{"memory", "cpu", "pids"}

// CgroupControllers: which cgroup versions are mounted, and where memory,
// cpu and pids are. On a hybrid host a controller lives in exactly one of
// the two (cgroups(7), "Cgroups version 1 and version 2").
func (m Machine) CgroupControllers() Check {
	c := Check{Name: "cgroups"}
	v1, v2, err := m.cgroups()
	if err != nil {
		c.Status, c.Found, c.Fix = Fail, err.Error(), "mount proc on "+m.Proc
		return c
	}
	var v2ctl []string
	if v2 != "" {
		b, _ := os.ReadFile(filepath.Join(m.sysPath(v2), "cgroup.controllers"))
		v2ctl = strings.Fields(string(b))
	}
	var parts []string
	switch {
	case len(v1) > 0 && v2 != "":
		parts = append(parts, "hybrid")
	case v2 != "":
		parts = append(parts, "v2")
	case len(v1) > 0:
		parts = append(parts, "v1")
	default:
		c.Status, c.Found = Fail, "no cgroup filesystem mounted"
		c.Fix = "mount -t cgroup2 none /sys/fs/cgroup"
		return c
	}
	if len(v1) > 0 {
		names := make([]string, 0, len(v1))
		for n := range v1 {
			names = append(names, n)
		}
		sort.Strings(names)
		parts = append(parts, "v1 "+strings.Join(names, " "))
	}
	if v2 != "" {
		ctl := strings.Join(v2ctl, " ")
		if ctl == "" {
			ctl = "(no controllers)"
		}
		parts = append(parts, "v2 "+ctl)
	}
	if parts[0] != "hybrid" { // "v1: memory ...", not "v1: v1 memory ..."
		parts[1] = strings.TrimPrefix(parts[1], parts[0]+" ")
	}
	c.Found = parts[0] + ": " + strings.Join(parts[1:], "; ")
	var missing []string
	for _, n := range needed {
		if v1[n] == "" && !contains(v2ctl, n) {
			missing = append(missing, n)
		}
	}
	c.Status = OK
	if len(missing) > 0 {
		c.Status = Fail
		c.Found += "; missing " + strings.Join(missing, ", ")
		c.Fix = "enable the controller: boot with cgroup_enable=" + missing[0] + ", or mount it (mount -t cgroup -o " + missing[0] + " none /sys/fs/cgroup/" + missing[0] + ")"
	}
	return c
}

// CgroupDelegation: may this user make cgroups? Root may, in every
// hierarchy. Anyone else needs a v2 subtree of their own, which systemd hands
// out (cgroups(7), "Cgroups v2 delegation"); v1 has no safe delegation.
func (m Machine) CgroupDelegation() Check {
	c := Check{Name: "cgroup delegation"}
	v1, v2, err := m.cgroups()
	if err != nil {
		c.Status, c.Found = Fail, err.Error()
		return c
	}
	if m.Euid == 0 {
		c.Status, c.Found = OK, "root: may create cgroups in every hierarchy"
		if v2 != "" {
			b, _ := os.ReadFile(filepath.Join(m.sysPath(v2), "cgroup.subtree_control"))
			if s := strings.TrimSpace(string(b)); s != "" {
				c.Found += "; v2 delegates " + s + " to children"
			}
		}
		return c
	}
	c.Status, c.Fix = Warn, "run 08-cgroup and can with sudo, or: systemd-run --user --scope -p Delegate=yes make test"
	if v2 == "" {
		c.Found = "cgroup v1 only: no delegation to users"
		return c
	}
	own := m.ownCgroup()
	dir := filepath.Join(m.sysPath(v2), own)
	fi, err := os.Stat(dir)
	if err != nil || own == "" {
		c.Found = "cannot find this process's v2 cgroup"
		return c
	}
	if uid, ok := ownerUID(fi); !ok || uid != m.Euid {
		c.Found = fmt.Sprintf("%s is not yours: not delegated", own)
		return c
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	ctl := strings.Fields(string(b))
	var missing []string
	for _, n := range needed {
		if !contains(ctl, n) && v1[n] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		c.Found = fmt.Sprintf("%s is yours, without %s", own, strings.Join(missing, ", "))
		return c
	}
	c.Status, c.Fix = OK, ""
	c.Found = fmt.Sprintf("%s is yours, with %s", own, strings.Join(ctl, " "))
	return c
}

// ownCgroup is this process's v2 cgroup, from the "0::" line of
// /proc/self/cgroup.
func (m Machine) ownCgroup() string {
	b, _ := os.ReadFile(filepath.Join(m.Proc, "self/cgroup"))
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

// Overlay: 07-pivotroot and can stack image layers with overlayfs.
func (m Machine) Overlay() Check {
	c := Check{Name: "overlayfs"}
	if m.filesystem("overlay") {
		c.Status, c.Found = OK, "overlay in /proc/filesystems"
		return c
	}
	c.Status, c.Found = Warn, "overlay is not in /proc/filesystems (a module not loaded yet?)"
	c.Fix = "sudo modprobe overlay"
	return c
}

func (m Machine) filesystem(name string) bool {
	b, _ := os.ReadFile(filepath.Join(m.Proc, "filesystems"))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// Nft: can's NAT and published ports are nftables rules. Ask the kernel
// first; without the rights to ask, look for the module or the kernel config.
func (m Machine) Nft() Check {
	c := Check{Name: "nftables"}
	var probeErr error
	if m.Nftables != nil {
		if probeErr = m.Nftables(); probeErr == nil {
			c.Status, c.Found = OK, "nf_tables answers on netlink"
			return c
		}
	}
	if _, err := os.Stat(filepath.Join(m.Sys, "module/nf_tables")); err == nil {
		c.Status, c.Found = OK, "nf_tables module loaded"
		return c
	}
	switch m.kconfig("CONFIG_NF_TABLES") {
	case "y":
		c.Status, c.Found = OK, "nf_tables built into the kernel (CONFIG_NF_TABLES=y)"
		return c
	case "m":
		c.Status, c.Found = OK, "nf_tables is a module; it loads on first use"
		return c
	}
	c.Status, c.Found = Warn, "nf_tables not found"
	if probeErr != nil {
		c.Found += " (netlink: " + probeErr.Error() + ")"
	}
	c.Fix = "sudo modprobe nf_tables; the nftables package has nft to look at the rules"
	return c
}

// kconfig reads a kernel build option from /proc/config.gz, "" when unknown.
func (m Machine) kconfig(name string) string {
	f, err := os.Open(filepath.Join(m.Proc, "config.gz"))
	if err != nil {
		return ""
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+"="); ok {
			return v
		}
	}
	return ""
}

// Propagation: on systemd hosts "/" is shared, and a mount namespace's copy
// of it would pass mounts back to the host; every step makes its copy
// private first (mount_namespaces(7), "Shared subtrees"). Both are fine:
// this says which the lessons will meet.
func (m Machine) Propagation() Check {
	c := Check{Name: "/ propagation", Status: OK}
	mounts, err := m.mounts()
	if err != nil {
		c.Status, c.Found = Fail, err.Error()
		return c
	}
	var root *mountEntry
	for i := range mounts {
		if mounts[i].point == "/" {
			root = &mounts[i] // the last one is on top
		}
	}
	if root == nil {
		c.Status, c.Found = Fail, "no / in mountinfo"
		return c
	}
	c.Found = "private: mounts here never reach another namespace"
	for _, o := range root.optional {
		switch {
		case strings.HasPrefix(o, "shared:"):
			c.Found = "shared (" + o + ", as systemd sets it): each step makes its copy private first"
		case strings.HasPrefix(o, "master:"):
			c.Found = "slave (" + o + "): mounts arrive from the host, none go back"
		}
	}
	return c
}

// Busybox: the test root filesystem (make rootfs) is one static busybox; a
// dynamic one would need its libraries inside.
func (m Machine) Busybox() Check {
	c := Check{Name: "busybox-static", Fix: "sudo apt-get install busybox-static"}
	p, err := m.LookPath("busybox")
	if err != nil {
		c.Status, c.Found = Fail, "no busybox in $PATH: make rootfs needs it"
		return c
	}
	static, err := m.Static(p)
	switch {
	case err != nil:
		c.Status, c.Found = Fail, err.Error()
	case !static:
		c.Status, c.Found = Fail, p+" is dynamically linked: it cannot run alone in a root filesystem"
	default:
		c.Status, c.Found, c.Fix = OK, p+", static", ""
	}
	return c
}

// Uidmap: newuidmap and newgidmap let a user map more than their own id
// (06-user, rootless can).
func (m Machine) Uidmap() Check {
	c := Check{Name: "newuidmap"}
	p, err := m.LookPath("newuidmap")
	if err != nil {
		c.Status, c.Found = Warn, "not installed: rootless containers map only your own id"
		c.Fix = "sudo apt-get install uidmap"
		return c
	}
	c.Status, c.Found = OK, p
	return c
}

// SubIDs: a user whom /etc/subuid and /etc/subgid give a range gets the ids
// of a whole root filesystem in their user namespace (06-user, rootless
// can); without one, only their own. Run by a student, it checks theirs;
// run by root (a teacher setting up a class server), every login user's
// (uid 1000 to 59999 in /etc/passwd), and that no two ranges overlap:
// students who share subordinate ids could reach each other's files.
func (m Machine) SubIDs() Check {
	c := Check{Name: "subuid ranges"}
	if m.Etc == "" {
		c.Status, c.Found = OK, "not checked"
		return c
	}
	type user struct {
		name string
		uid  uint32
	}
	var users []user
	if m.Euid != 0 {
		name := strconv.Itoa(m.Euid)
		if u, err := lookupUID(filepath.Join(m.Etc, "passwd"), m.Euid); err == nil {
			name = u
		}
		users = []user{{name, uint32(m.Euid)}}
	} else {
		b, _ := os.ReadFile(filepath.Join(m.Etc, "passwd"))
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Split(l, ":")
			if len(f) < 7 || strings.HasSuffix(f[6], "nologin") || strings.HasSuffix(f[6], "false") {
				continue
			}
			if uid, err := strconv.Atoi(f[2]); err == nil && uid >= 1000 && uid < 60000 {
				users = append(users, user{f[0], uint32(uid)})
			}
		}
	}
	var missing []string
	type owned struct {
		userns.Range
		who string
	}
	var ranges []owned
	for _, u := range users {
		r, err1 := userns.SubIDs(filepath.Join(m.Etc, "subuid"), u.name, u.uid)
		_, err2 := userns.SubIDs(filepath.Join(m.Etc, "subgid"), u.name, u.uid)
		if err1 != nil || err2 != nil {
			missing = append(missing, u.name)
			continue
		}
		ranges = append(ranges, owned{r, u.name})
	}
	for i, a := range ranges {
		for _, b := range ranges[i+1:] {
			if uint64(a.Start) < uint64(b.Start)+uint64(b.Count) && uint64(b.Start) < uint64(a.Start)+uint64(a.Count) {
				c.Status = Fail
				c.Found = fmt.Sprintf("%s and %s share subordinate ids (%d and %d in /etc/subuid)", a.who, b.who, a.Start, b.Start)
				c.Fix = "give each user a range of their own in /etc/subuid and /etc/subgid, see subuid(5)"
				return c
			}
		}
	}
	switch {
	case len(users) == 0:
		c.Status, c.Found = OK, "no login users to check"
	case len(missing) > 0:
		c.Status = Warn
		c.Found = "no range for " + strings.Join(missing, ", ") + ": they map only their own id"
		c.Fix = "sudo usermod --add-subuids FIRST-LAST --add-subgids FIRST-LAST USER, a range of 65536 each that no other user has (useradd gives one)"
	default:
		c.Status, c.Found = OK, fmt.Sprintf("%d user(s), each a range of their own", len(users))
	}
	return c
}

// lookupUID finds uid's name in a passwd(5) file.
func lookupUID(passwd string, uid int) (string, error) {
	b, err := os.ReadFile(passwd)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Split(l, ":"); len(f) > 2 && f[2] == strconv.Itoa(uid) {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("uid %d not in %s", uid, passwd)
}

// Go: the modules say go 1.22.
func (m Machine) Go() Check {
	c := Check{Name: "go", Found: m.GoVersion, Status: OK}
	major, minor, ok := goVersion(m.GoVersion)
	if !ok {
		c.Status, c.Fix = Warn, "a Go release, 1.22 or newer (https://go.dev/dl/)"
	} else if major < 1 || major == 1 && minor < 22 {
		c.Status, c.Fix = Fail, "Go 1.22 or newer (https://go.dev/dl/, or your distribution's golang-1.22)"
	}
	return c
}

// goVersion parses "go1.22.2" (also "go1.23rc1", "go1.22.2 X:foo").
func goVersion(v string) (major, minor int, ok bool) {
	f := strings.Fields(v)
	if len(f) == 0 || !strings.HasPrefix(f[0], "go") {
		return 0, 0, false
	}
	maj, rest, _ := strings.Cut(strings.TrimPrefix(f[0], "go"), ".")
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		rest = rest[:i]
	}
	major, err1 := strconv.Atoi(maj)
	minor, err2 := strconv.Atoi(rest)
	return major, minor, err1 == nil && err2 == nil
}

// Static reports whether the ELF executable at path has no program
// interpreter (PT_INTERP), that is, needs no dynamic loader.
func Static(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

func ownerUID(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
