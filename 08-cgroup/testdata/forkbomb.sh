#!/bin/sh
# A fork bomb: every copy starts two more copies of itself, forever. Its
# complaints that fork failed go to /dev/null. The shell itself, PID 1, forks
# just once, to start it in the background, and then becomes sleep (exec, no
# fork) to end the show a second later: when PID 1 exits, the kernel kills
# everything left in its PID namespace.
bomb() { bomb | bomb & }
bomb 2>/dev/null &
exec sleep 1
