#!/bin/sh
# The memory hog of the "Linux Containers" guide (docs/ARCHITECTURE.md,
# Sources): the shell keeps everything dd reads from /dev/urandom in a
# variable. The guide's dd reads forever; this one stops at
# 64 MB (3200 blocks of 20000 bytes), so that without a limit (say, with
# cgroup.procs cut out by make exercise) it ends instead of eating the machine.
random="$(dd if=/dev/urandom ibs=20000 count=3200)"
