"""Every page of a window's order list, read within bounds a hostile or broken gateway cannot stretch.

The first page's ``totalCount`` fixes how many pages are asked for (at most ``max_pages``). The
walk stops, and says why, when a page cannot be read, when the total changes under it, or when a
page brings nothing new (a page repeated for ever). Memory holds one page at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable, Iterator, List, Optional, Union

from ..errors import AutopayError
from ..gateways.order_list import MAX_PAGE_SIZE, OrderListGateway, OrderPage, UnreadableOrder
from ..models import OrderDetails

__all__ = ["Listing"]

log = logging.getLogger(__name__)
Entry = Union[OrderDetails, UnreadableOrder]


class Listing:
    """The orders of ``[since, until)``, page by page (iterate once: a list per page).

    After the walk, ``complete`` says whether every page was read and ``problem`` why not.
    """

    def __init__(self, gateway: OrderListGateway, since: dt.datetime, until: dt.datetime, *,
                 page_size: int = MAX_PAGE_SIZE, max_pages: int = 50_000) -> None:
        self.gateway, self.since, self.until = gateway, since, until
        self.page_size, self.max_pages = page_size, max_pages
        self.complete = False
        self.problem: Optional[str] = None
        self.pages = 0
        self.listed = 0

    def _stop(self, problem: str) -> None:
        self.problem = problem
        log.warning("order list of %s..%s: %s", self.since.isoformat(), self.until.isoformat(), problem)

    def pages_of_orders(self, is_new: Callable[[List[Entry]], bool]) -> Iterator[List[Entry]]:
        """Each page's orders, in order; ``is_new(page)``: how many of its order numbers are new."""
        total: Optional[int] = None
        number = 0
        while True:
            try:
                page: OrderPage = self.gateway.order_page(self.since, self.until, page=number, size=self.page_size)
            except AutopayError as exc:
                return self._stop(f"page {number} could not be read ({type(exc).__name__}: {exc})")
            self.pages += 1
            if total is None:
                total = page.total_count
                pages_needed = -(-total // page.page_size) if total else 0
                if pages_needed > self.max_pages:
                    return self._stop(f"the gateway counts {total} orders, more than {self.max_pages} pages of "
                                      f"{page.page_size}; reconcile a shorter window")
            elif page.total_count != total:
                return self._stop(f"the total changed from {total} to {page.total_count} at page {number} "
                                  "(orders added in the window while it was read?); run again")
            if not page.orders and not page.last:
                return self._stop(f"page {number} is empty before the {total} orders counted were listed")
            self.listed += len(page.orders)
            yield list(page.orders)
            if page.orders and not is_new(list(page.orders)):
                return self._stop(f"page {number} listed only orders already listed (a page repeated?)")
            if page.last:
                self.complete = True
                return
            number += 1

