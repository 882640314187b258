#!/bin/sh
# The seed article's memory hog: the shell keeps everything dd reads from
# /dev/urandom in a variable, and never stops.
random="$(dd if=/dev/urandom ibs=20000)"
