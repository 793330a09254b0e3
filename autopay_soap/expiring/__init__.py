"""Cards that will expire before their next charge (``autopay-soap bindings expiring``): the report
(:mod:`.report`) and its command (:mod:`.command`)."""

from .report import (
    REPORT_FIELDS,
    ClientSchedule,
    ExpiringCard,
    ExpiringReport,
    find_expiring,
    last_usable_day,
    read_schedule,
    renewal_order_number,
    save_card_links,
)

__all__ = ["REPORT_FIELDS", "ClientSchedule", "ExpiringCard", "ExpiringReport", "find_expiring", "last_usable_day",
           "read_schedule", "renewal_order_number", "save_card_links"]
