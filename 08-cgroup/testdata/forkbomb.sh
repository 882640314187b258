#!/bin/sh
# A fork bomb, with a fuse: every copy starts two more copies of itself and
# waits for them, for 7 generations. That makes 255 processes if nothing
# stops it: few enough for a machine to survive without a limit (say, with
# cgroup.procs cut out by make exercise). Complaints that fork failed go to
# /dev/null. PID 1 forks just once, to start the bomb in the background, then
# becomes sleep (exec, no fork) and ends the show a second later: when PID 1
# exits, the kernel kills everything left in its PID namespace.
bomb() {
	[ "$1" = 0 ] && exec sleep 10
	bomb $(($1 - 1)) &
	bomb $(($1 - 1)) &
	wait
}
bomb 7 2>/dev/null &
exec sleep 1
