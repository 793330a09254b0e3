#!/bin/sh
# Monthly: ask for a new card before the old one expires. On the 1st of each month, list the cards
# that cannot be charged next month (or on the client's next charge, if later) and start a card
# save for each client listed; renew-YYYY-MM.csv has the links to send.
# clients.csv: client_id,next_charge (YYYY-MM-DD, may be empty), exported by the billing system.
# crontab: 0 6 1 * *  /srv/billing/expiring-monthly.sh
# BEFORE=YYYY-MM-DD lists as of another day.
cd "$(dirname "$0")" || exit 1
month=$(date -u +%Y-%m)
before=${BEFORE:-$(date -u -d "$month-01 +2 month" +%F)}   # the first day the card is needed after next month
autopay-soap bindings expiring --before "$before" --clients clients.csv --save-card-links \
    --output "renew-$month.csv" >> expiring.log 2>&1 || {
    echo "the expiring-cards report needs a person (exit $?); see expiring.log" >&2
    exit 1
}
