#!/bin/sh
# Nightly dunning: retry the soft declines that are due, after the night's charges.
# Keeps every input file (subs-*.csv, retries-*.csv) beside one journal, subs.sqlite.
# crontab: 30 5 * * *  /srv/billing/dunning-nightly.sh
# DUE=YYYY-MM-DD plans as of another day (to catch up after an outage).
cd "$(dirname "$0")" || exit 1
today=$(date -u +%F)
set --
for f in subs-*.csv retries-*.csv; do
    [ -f "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] || exit 0
autopay-soap dunning "$@" --journal subs.sqlite --output "retries-$today.csv" \
    --rebind-links "rebind-$today.csv" ${DUE:+--due "$DUE"} >> dunning.log 2>&1 || {
    echo "dunning needs a person (exit $?); see dunning.log" >&2
    exit 1
}
[ -f "retries-$today.csv" ] || exit 0   # nothing due today
autopay-soap charge "retries-$today.csv" --journal subs.sqlite --report "retries-$today-report.csv" \
    --quiet >> dunning.log 2>&1
code=$?
case $code in
    0|3) exit 0 ;;   # finished; new declines are scheduled in the journal
    4|130|143) echo "retries unfinished (exit $code): run this script again" >&2; exit 1 ;;
    *) echo "retries need a person (exit $code); see dunning.log" >&2; exit 1 ;;
esac
