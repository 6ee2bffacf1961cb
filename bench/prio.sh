# Sourced by bench/run.sh and bench/threads.sh.
#
# prio CMD...: CMD as it is, or with NICE set, in a session of its own (so a
# scheduler autogroup of its own, whose nice value is what counts against
# other sessions' work when autogroup is on) at nice NICE.
prio() {
    if [[ -n ${NICE:-} ]]; then
        # shellcheck disable=SC2016  # expanded by the inner bash
        setsid --wait bash -c 'echo "$1" >/proc/self/autogroup 2>/dev/null; n=$1; shift; exec nice -n "$n" "$@"' \
            prio "$NICE" "$@"
    else
        "$@"
    fi
}
