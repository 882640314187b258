package course

// Verdicts says what each step's tests check, in a student's words: OK when
// the test passes, Fail (what is wrong: what the kernel needs) when it fails;
// make check prints the failing test's own message under it. The "*" table
// holds the tests every step has; STEP in a text is the step's name. A test
// not listed is named after itself (TestPIDNamespace: "PID namespace"), and
// its failure message is the test's own: a new step needs no entry here
// unless its test names or messages do not read well on their own.
var Verdicts = map[string]map[string]Verdict{
	"*": {
		"TestTranscripts": {
			OK:   "the README's transcripts",
			Fail: "a transcript's output differs: make test STEP=STEP shows how"},
		"TestREADMEShowsTranscripts": {
			OK:   "the README shows every testdata/*.ct",
			Fail: "a transcript is missing from the README: run .tools/embed.py STEP/README.md"},
		"TestRootless": {
			OK:   "works without root, in a user namespace",
			Fail: "fails without root, in a user namespace"},
	},
	"01-net": {
		"TestOnlyLoopback": {
			OK:   "network namespace: only lo, and it is up",
			Fail: "the command has no network stack of its own with lo up: CLONE_NEWNET, then set lo up in the child (network_namespaces(7))"},
		"TestVeth": {
			OK:   "--veth: the command reaches the host's end; the pair is gone afterwards",
			Fail: "--veth: no working cable from the command to the host: make the peer directly in the child's network namespace"},
		"TestVethHostEnd": {
			OK:   "--veth: tincan-veth0 has 10.201.0.1/24 on the host while the command runs",
			Fail: "--veth: tincan-veth0 is missing or wrong on the host while the command runs"},
		"TestVethNameTaken": {
			OK: "--veth refuses a link name already taken, and leaves that link alone"},
	},
	"02-mnt": {
		"TestTmpfsInvisibleOutside": {
			OK:   "mount namespace: each --tmpfs is seen inside, never outside",
			Fail: "the tmpfs is missing inside or seen outside: CLONE_NEWNS, make / private (MS_REC|MS_PRIVATE), then mount it (mount_namespaces(7))"},
		"TestMissingDirRefused": {
			OK: "--tmpfs of a missing directory is refused in one line"},
	},
	"03-uts": {
		"TestHostnameInOwnUTSNamespace": {
			OK:   "UTS namespace: the command has its own hostname, the host keeps its own",
			Fail: "the hostname is not the container's own: CLONE_NEWUTS, then sethostname(2) in the child (uts_namespaces(7))"},
		"TestBadHostnameRefused": {
			OK: "a bad --hostname is refused in one line, before any namespace exists"},
	},
	"04-ipc": {
		"TestQueueInvisibleInside": {
			OK:   "IPC namespace: the host's shared memory is out of sight",
			Fail: "the command sees the host's System V IPC objects: CLONE_NEWIPC (ipc_namespaces(7))"},
	},
	"05-pid": {
		"TestPIDNamespace": {
			OK:   "PID namespace: the command is PID 1, and /proc is its own",
			Fail: "the command is not PID 1 of a new PID namespace: CLONE_NEWPID, then mount /proc in the child (pid_namespaces(7))"},
		"TestPsAuxShowsOnlyPID1": {
			OK:   "ps aux lists only PID 1",
			Fail: "/proc shows the host's processes: mount /proc inside the new namespace"},
		"TestProcMountStaysInside": {
			OK:   "the new /proc stays inside: the host's mount table is unchanged",
			Fail: "the /proc mount leaked to the host: CLONE_NEWNS, and make / private (MS_REC|MS_PRIVATE) before mounting"},
		"TestCannotSignalOutside": {
			OK:   "a host process cannot be signalled from inside",
			Fail: "the command can signal a host process: it is not in a PID namespace of its own (CLONE_NEWPID)"},
		"TestPID1ExitKillsTheRest": {
			OK:   "when PID 1 exits, the kernel kills the rest of its namespace",
			Fail: "processes outlive the command: they are not in a PID namespace of their own (CLONE_NEWPID)"},
	},
	"06-user": {
		"TestRootMapsARange": {
			OK:   "user namespace: root's --map 0:100000:65536 is the namespace's uid and gid map",
			Fail: "the maps are not the ones asked for: CLONE_NEWUSER, with UidMappings and GidMappings (user_namespaces(7))"},
		"TestNoMap": {
			OK:   "--no-map: every id inside is nobody (65534)",
			Fail: "--no-map: ids inside are not the overflow id: is the command in a user namespace of its own (CLONE_NEWUSER)?"},
		"TestFilesBelongToTheCallerOutside": {
			OK: "a file root makes inside belongs to the caller outside"},
		"TestCannotReadRootOnlyFile": {
			OK: "root inside cannot read a file only the host's root may read"},
		"TestTrace": {
			OK:   "-v traces what Go does for the user namespace during clone",
			Fail: "-v does not show clone(CLONE_NEWUSER|...) and the map writes: is CLONE_NEWUSER set?"},
	},
	"09-full": {
		"TestLayersAndCommit": {
			OK:   "--fs: writes land in DIR/container; commit makes it image/N+1, deletions included",
			Fail: "the container layer is not committed: rename DIR/container to the next image/N under an exclusive flock(2), then make an empty container layer"},
		"TestCommitRefusedWhileRunning": {
			OK:   "commit is refused while a container uses the layers",
			Fail: "commit goes ahead while a container uses the layers: take the exclusive flock(2) first, without blocking"},
		"TestHardening": {
			OK:   "Docker's 14 capabilities, no_new_privs, seccomp, masked and read-only paths",
			Fail: "the container is not hardened as Docker's are"},
		"TestOOMKillReported": {
			OK:   "an OOM kill under --memory is reported in words, exit 137",
			Fail: "an OOM kill under --memory is not reported in words"},
	},
	"08-cgroup": {
		"TestJoinedBeforeExec": {
			OK:   "CMD is in the cgroup from its first instruction, on every hierarchy it limits",
			Fail: "CMD is not in the cgroup: write the waiting child's PID to cgroup.procs before letting it go (cgroups(7))"},
		"TestForkBombContained": {
			OK:   "--pids 16 holds a fork bomb at 16 processes; the host still forks",
			Fail: "the fork bomb is not held at --pids 16: is the child in the cgroup before CMD starts?"},
		"TestCPUQuota": {
			OK:   "--cpus 0.2 throttles a busy loop to a fifth of one CPU",
			Fail: "--cpus 0.2 does not throttle a busy loop: is the child in the cgroup?"},
		"TestKilledFromOutside": {
			OK: "a container killed from the host, by its PID in cgroup.procs, leaves no cgroup"},
		"TestCgroupRemoved": {
			OK: "the cgroup is removed after a normal exit, a failed start and a killed child"},
	},
	"07-pivotroot": {
		"TestSmoke": {
			OK:   "the command sees the rootfs as /, with its own /proc and /dev, and nothing of the host",
			Fail: "the command does not live in the rootfs: bind it onto itself, then pivot_root(\".\", \".\") and detach the old root (pivot_root(2))"},
		"TestChrootEscape": {
			OK:   "the chroot escape reaches the host under --chroot, and nothing under pivot_root",
			Fail: "the chroot escape test fails: --chroot must chroot(2), the default pivot_root(2)"},
		"TestOrderOfCalls": {
			OK:   "the kernel calls come in the order runc makes them (docs/ARCHITECTURE.md, rules 1 to 3)",
			Fail: "a kernel call is missing or out of order: private /, bind the rootfs, proc, dev, pivot_root, detach"},
	},
}
