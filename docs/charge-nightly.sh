#!/bin/sh
# Nightly autopayments: charge today.csv exactly once; the journal makes a re-run safe.
# crontab: 30 2 * * *  /srv/billing/charge-nightly.sh
cd "$(dirname "$0")" || exit 1
autopay-soap charge today.csv --profile sber-prod --return-url https://shop.example/paid \
    --report today-report.csv --quiet >> charge.log 2>&1
code=$?
case $code in
    0|3)
        exit 0 ;;  # finished; declined rows are in today-report.csv
    4|130|143)
        echo "autopayments unfinished (exit $code): run this script again later, same journal" >&2
        exit 1 ;;
    *)
        echo "autopayments need a person (exit $code: 2 a setting, 5 the file, 6 a second runner," \
             "7 a reused order number); see charge.log and today-report.csv" >&2
        exit 1 ;;
esac
