package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, ".") }

// run runs 06-user as root, and fails t when it cannot be started.
func run(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	testenv.NeedRoot(t)
	return testenv.RunArgs(t, "06-user", args...)
}

// runAsNobody runs 06-user as an unprivileged user (testenv.Unpriv: nobody
// when the tests run as root, yourself otherwise), and skips t when the
// kernel refuses such a user its user namespace.
func runAsNobody(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	cmd := testenv.Command("06-user", args...)
	r := testenv.RunAsNobody(t, cmd)
	return r
}

// subIDs gives the unprivileged user a range of subordinate ids, or none,
// for this test, and returns it. As root it makes /etc/subuid and
// /etc/subgid say so: a bind mount in the sandbox's own mount namespace,
// which the host never sees and newuidmap reads like the real files. Without
// root the files are the machine's: t skips, saying what to change, when
// they do not give what the test needs.
func subIDs(t *testing.T, want bool) (start, count uint32) {
	t.Helper()
	if want {
		for _, h := range []string{"newuidmap", "newgidmap"} {
			if _, err := exec.LookPath(h); err != nil {
				t.Skipf("%s is not installed (apt-get install uidmap)", h)
			}
		}
	}
	u := testenv.Unpriv()
	if !testenv.Root() {
		start, count, ok := u.SubIDs()
		switch {
		case want && !ok:
			t.Skipf("needs a range for %s in /etc/subuid and /etc/subgid: as root, usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %[1]s", u.Name)
		case want && count < 2:
			t.Skipf("needs a range of at least 2 ids for %s in /etc/subuid, not %d", u.Name, count)
		case !want && ok:
			t.Skipf("needs %s to have no range in /etc/subuid (it has %d:%d); as root the test fakes the file", u.Name, start, count)
		}
		return start, count
	}
	require.Equal(t, "1", os.Getenv("TINCAN_TEST_SANDBOX"), "refusing to mount over /etc/subuid outside the test sandbox")
	text := ""
	if want {
		start, count = 100000, 65536
		text = "nobody:100000:65536\n"
	}
	f := filepath.Join(t.TempDir(), "subid")
	require.NoError(t, os.WriteFile(f, []byte(text), 0o644))
	for _, target := range []string{"/etc/subuid", "/etc/subgid"} {
		if _, err := os.Stat(target); err != nil {
			t.Skipf("no %s to put a test file over: %v", target, err)
		}
		require.NoError(t, unix.Mount(f, target, "", unix.MS_BIND, ""))
		t.Cleanup(func() { require.NoError(t, unix.Unmount(target, 0)) })
	}
	return start, count
}

// noRangeNote is what 06-user says once when the user has no range.
func noRangeNote() string {
	return "06-user: no range for " + testenv.Unpriv().Name + " in /etc/subuid: mapping only your own uid and gid\n"
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// sharedDir is an empty directory everyone may enter, and write to when
// writable; t.TempDir's are root's alone.
func sharedDir(t *testing.T, writable bool) string {
	dir := t.TempDir()
	mode := os.FileMode(0o755)
	if writable {
		mode = 0o777
	}
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Chmod(dir, mode))
	return dir
}

// Root may write any map; Go writes it during clone, and switches the child
// to uid 0, which without that would be nobody.
func TestRootMapsARange(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Verdict(t, "user namespace: root's --map 0:100000:65536 is the namespace's uid and gid map", "")
	r := run(t, "--map", "0:100000:65536", "sh", "-c", "echo $(cat /proc/self/uid_map); echo $(cat /proc/self/gid_map); id -u; id -g")
	testenv.CheckRan(t, r, 0)
	got := strings.Split(r.Stdout, "\n")
	require.Len(t, got, 5, r.Stdout)
	testenv.Check(t, got[0] != "0 0 4294967295",
		"the command is in the host's user namespace (uid_map 0 0 4294967295): CLONE_NEWUSER in Cloneflags (user_namespaces(7))")
	testenv.Check(t, got[0] == "0 100000 65536",
		"uid_map is %q, not \"0 100000 65536\": write it to /proc/PID/uid_map (\"User and group ID mappings\" in user_namespaces(7))", got[0])
	testenv.Check(t, got[1] == "0 100000 65536",
		"gid_map is %q, not \"0 100000 65536\": write it to /proc/PID/gid_map, after setgroups (user_namespaces(7))", got[1])
	testenv.Check(t, got[2] == "0" && got[3] == "0", "the command runs as %s:%s, not root of the namespace: setresuid(0, 0, 0) once the maps exist", got[2], got[3])
}

// The unprivileged default without a range in /etc/subuid: one line maps
// nobody to root, setgroups is denied (the price of writing it ourselves),
// and the user is told once why there is no more.
func TestRootlessOneLineMap(t *testing.T) {
	subIDs(t, false)
	u := testenv.Unpriv()
	r := runAsNobody(t, "sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, noRangeNote(), r.Stderr)
	require.Equal(t, []string{"0", "0", "0", itoa(u.UID), "1", "0", itoa(u.GID), "1", "deny"}, strings.Fields(r.Stdout))
}

// With a range in /etc/subuid and /etc/subgid, newuidmap and newgidmap map
// ids 1 to 65536 too, and the user may use groups.
func TestRootlessFullRange(t *testing.T) {
	start, count := subIDs(t, true)
	u := testenv.Unpriv()
	gstart, gcount, _ := u.SubIDs()
	if testenv.Root() {
		gstart, gcount = start, count
	}
	r := runAsNobody(t, "sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Empty(t, r.Stderr)
	want := fmt.Sprintf("0  0 %d 1 1 %d %d  0 %d 1 1 %d %d  allow", u.UID, start, count, u.GID, gstart, gcount)
	require.Equal(t, strings.Fields(want), strings.Fields(r.Stdout))
}

// --map 0:100000:65536 leaves nobody's own uid out of the map: the child must
// switch to uid 0 after newuidmap ran, and the command must start as a full
// root of the namespace, with nothing left in its inheritable or ambient sets.
func TestRootlessMapZeroToSubuid(t *testing.T) {
	start, count := subIDs(t, true)
	if _, gcount, _ := testenv.Unpriv().SubIDs(); !testenv.Root() && gcount < count {
		count = gcount // --map is for uids and gids both
	}
	r := runAsNobody(t, "--map", fmt.Sprintf("0:%d:%d", start, count), "sh", "-c", "id -u; id -g; id -G; cat /proc/self/uid_map; grep Cap /proc/self/status")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Empty(t, r.Stderr)
	out := strings.Fields(r.Stdout)
	require.Equal(t, []string{"0", "0", "0", "0", itoa(start), itoa(count)}, out[:6])
	caps := map[string]string{}
	for i := 6; i+1 < len(out); i += 2 {
		caps[out[i]] = out[i+1]
	}
	require.Equal(t, "0000000000000000", caps["CapInh:"])
	require.Equal(t, "0000000000000000", caps["CapAmb:"])
	require.Equal(t, caps["CapBnd:"], caps["CapEff:"], "root of the namespace lacks capabilities")

	other := start + count + 100000 // a range that is not the user's
	r = runAsNobody(t, "--map", fmt.Sprintf("0:%d:10", other), "id")
	require.Equal(t, 125, r.Code)
	require.Equal(t, fmt.Sprintf("06-user: newuidmap: uid range [0-10) -> [%d-%d) not allowed (exit status 1): ", other, other+10)+
		"the ranges must be yours in /etc/subuid, see subuid(5)\n", r.Stderr)
}

// No map: the process and every file it sees belong to the overflow id.
func TestNoMap(t *testing.T) {
	testenv.Verdict(t, "--no-map: every id inside is nobody (65534)",
		"--no-map: ids inside are not the overflow id: is the command in a user namespace of its own (CLONE_NEWUSER)?")
	script := "id -u; id -g; stat -c %u:%g /; wc -c </proc/self/uid_map"
	want := []string{"65534", "65534", "65534:65534", "0"}
	if testenv.Root() {
		r := run(t, "--no-map", "sh", "-c", script)
		require.Equal(t, 0, r.Code, r.Stderr)
		require.Equal(t, want, strings.Fields(r.Stdout))
	}
	r := runAsNobody(t, "--no-map", "sh", "-c", script)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Empty(t, r.Stderr)
	require.Equal(t, want, strings.Fields(r.Stdout))
}

// A file root makes inside belongs, outside, to whoever root is there: the
// caller, or the first id of the range.
func TestFilesBelongToTheCallerOutside(t *testing.T) {
	testenv.Verdict(t, "a file root makes inside belongs to the caller outside", "")
	for _, tc := range []struct {
		name    string
		run     func(*testing.T, ...string) testenv.Result
		args    []string
		outside uint32
	}{
		{"unprivileged", runAsNobody, nil, testenv.Unpriv().UID},
		{"root with a range", run, []string{"--map", "0:100000:65536"}, 100000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(sharedDir(t, true), "made-inside")
			r := tc.run(t, append(tc.args, "sh", "-c", "touch "+f+" && stat -c %u "+f)...)
			require.Equal(t, 0, r.Code, r.Stderr)
			require.Equal(t, "0\n", r.Stdout, "the file is not root's inside")
			fi, err := os.Stat(f)
			require.NoError(t, err)
			require.Equal(t, tc.outside, fi.Sys().(*syscall.Stat_t).Uid)
		})
	}
}

// Root inside has its capabilities over its namespaces, not over the host's
// files: a file only the host's root may read stays closed, unless uid 0
// inside is uid 0 outside.
func TestCannotReadRootOnlyFile(t *testing.T) {
	testenv.Verdict(t, "root inside cannot read a file only the host's root may read", "")
	secret := "/etc/shadow" // without root: a file only root may read
	if testenv.Root() {
		secret = filepath.Join(sharedDir(t, false), "secret")
		require.NoError(t, os.WriteFile(secret, []byte("tincan-test-secret\n"), 0o600))
		subIDs(t, false)
	} else if f, err := os.Open(secret); err == nil {
		f.Close()
		t.Skipf("%s is readable by %s: the test needs a file only root may read", secret, testenv.Unpriv().Name)
	}

	r := runAsNobody(t, "cat", secret)
	require.Equal(t, 1, r.Code, r.Stdout)
	require.Equal(t, "cat: "+secret+": Permission denied\n", strings.TrimPrefix(r.Stderr, noRangeNote()))

	if !testenv.Root() {
		return // the rest is root's
	}
	r = run(t, "--map", "0:100000:65536", "cat", secret)
	require.Equal(t, 1, r.Code, r.Stdout)
	require.Equal(t, "cat: "+secret+": Permission denied\n", r.Stderr)

	r = run(t, "cat", secret) // root's default map: 0 is 0
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "tincan-test-secret\n", r.Stdout)
}

// sethostname(2) needs CAP_SYS_ADMIN in the user namespace that owns the UTS
// namespace: not in the host's, which root inside is not root of, but in one
// it makes itself.
func TestHostnameOnlyInItsOwnUTSNamespace(t *testing.T) {
	before, err := os.Hostname()
	require.NoError(t, err)

	r := runAsNobody(t, "hostname", "tincan-test-box")
	require.Equal(t, 1, r.Code)
	require.Contains(t, r.Stderr, "hostname: you must be root to change the host name\n")

	r = runAsNobody(t, "unshare", "--uts", "sh", "-c", "hostname tincan-test-box && hostname")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "tincan-test-box\n", r.Stdout)

	after, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, before, after)
}

// A real refusal: user.max_user_namespaces is a limit per user namespace, so
// root inside one may set its own to 0, and a nested 06-user then meets
// ENOSPC as on a host that disables user namespaces.
func TestRefusalNamesTheSetting(t *testing.T) {
	if testenv.Root() {
		subIDs(t, false)
	}
	runAsNobody(t, "true") // skips when the outer namespace is refused already
	cmd := testenv.Command("06-user", "sh", "-c", "echo 0 >/proc/sys/user/max_user_namespaces && exec 06-user id")
	testenv.AsNobody(t, cmd)
	r := testenv.Run(t, cmd)
	require.Equal(t, 125, r.Code, r.Stdout)
	require.Equal(t, "06-user: clone(CLONE_NEWUSER): no space left on device: user namespaces are disabled "+
		"(user.max_user_namespaces=0): run as root, or ask root for sysctl -w user.max_user_namespaces=15000 (make doctor checks what this machine allows)\n", strings.TrimPrefix(r.Stderr, noRangeNote()))
}

// -v shows the namespace being made, from clone to execve: with root
// inside someone else, the child's switch to uid 0 once the maps exist.
// (Which calls write the maps is the lesson's to choose: the maps
// themselves are checked in the kernel, by TestRootMapsARange.)
func TestTrace(t *testing.T) {
	testenv.Verdict(t, "-v traces what Go does for the user namespace during clone",
		"-v does not show clone(CLONE_NEWUSER|...) and the map writes: is CLONE_NEWUSER set?")
	truePath, err := exec.LookPath("true")
	require.NoError(t, err)
	if testenv.Root() {
		r := run(t, "-v", "--map", "0:100000:65536", "true")
		require.Equal(t, 0, r.Code, r.Stderr)
		require.Regexp(t, `^\+ clone\(CLONE_NEWUSER\|SIGCHLD\) = \d+\n`, r.Stderr)
		require.Contains(t, r.Stderr, "+ setresuid(0, 0, 0)\n")
		require.True(t, strings.HasSuffix(r.Stderr, "+ execve(\""+truePath+"\", [\"true\"], envp)\n"), r.Stderr)
	}

	start, _ := subIDs(t, true)
	r := runAsNobody(t, "-v", "--map", fmt.Sprintf("0:%d:1", start), "true")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stderr, `["newuidmap", "`)
	require.Contains(t, r.Stderr, "+ prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SETUID, 0, 0)\n")
	require.Contains(t, r.Stderr, "+ setresuid(0, 0, 0)\n")
}

// The transcripts run after the kernel-view tests: with make check's
// -failfast, a missing call is named by those, not by a transcript's diff.
func TestTranscripts(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Transcripts(t, "06-user")
}

func TestREADMEShowsTranscripts(t *testing.T) {
	testenv.DocumentedTranscripts(t, "README.md")
}
