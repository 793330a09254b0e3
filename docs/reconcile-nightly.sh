#!/bin/sh
# Nightly reconciliation: yesterday's orders at the gateway against the journal, day by Moscow time.
# Keeps the journal subs.sqlite beside this script; writes reconcile-DAY.csv when it finds differences.
# crontab: 0 6 * * *  /srv/billing/reconcile-nightly.sh
# DAY=YYYY-MM-DD reconciles another day. Needs GNU date.
cd "$(dirname "$0")" || exit 1
day=${DAY:-$(date -u -d '-21 hours' +%F)}   # Moscow is UTC+3: yesterday there
next=$(date -u -d "$day +1 day" +%F) || exit 1
# WEB-*: the website's first payments, the gateway's orders but not the batch's
autopay-soap reconcile --journal subs.sqlite --from "$day" --to "$next" --report "reconcile-$day.csv" \
    --ignore 'WEB-*' >> reconcile.log 2>&1
code=$?
case $code in
    0) rm -f "reconcile-$day.csv"; exit 0 ;;   # the books agree
    10) echo "differences on $day: see reconcile-$day.csv" >&2; exit 1 ;;
    11) echo "the gateway's list could not be read in full (exit 11): run again; see reconcile.log" >&2; exit 1 ;;
    6) echo "a charge run holds the journal: run again once it has ended" >&2; exit 1 ;;
    *) echo "reconciliation needs a person (exit $code); see reconcile.log" >&2; exit 1 ;;
esac
