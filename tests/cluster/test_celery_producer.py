"""The cluster producer's own decisions, without servers: what it says of the broker, and what a
stop in the middle of a chunk of queued rows leaves behind."""

import pytest

pytest.importorskip("celery")

from autopay_soap.batch.executors import RunTracker, ThreadExecutor  # noqa: E402
from autopay_soap.celery import CeleryExecutor, _broker_host  # noqa: E402


def test_the_broker_is_named_without_its_password():
    assert _broker_host("redis://:s3cret@broker.internal:6380/2") == "redis://broker.internal:6380"
    assert _broker_host("amqp://user:s3cret@mq/vhost") == "amqp://mq"
    assert "s3cret" not in _broker_host("rediss://user:s3cret@[::1]:6379/0")


class QueueingJournal:
    """A cluster journal that queues whatever it is given."""

    merchant, batch = "shop", "b1"

    def __init__(self):
        self.queued, self.stopped = [], []

    def counts(self):
        return {}

    def set_stopped(self, stopped, reason=None):
        self.stopped.append(stopped)

    def queue_many(self, rows):
        self.queued += [row.order_number for row in rows]
        return [row.order_number for row in rows]


def test_a_stop_in_the_middle_of_a_chunk_sends_no_more_tasks_and_leaves_the_rest_queued(monkeypatch):
    from autopay_soap import Money
    from autopay_soap.batch.rows import ChargeRow

    rows = [ChargeRow(line=i + 2, order_number=f"ST-{i}", amount=Money.of("1.00", "RUB"), client_id="c",
                      binding_id="b-1") for i in range(7)]
    tracker, journal, sent = RunTracker(ThreadExecutor.gate()), QueueingJournal(), []

    class Job:
        events = tracker

        def __init__(self):
            self.journal = journal

        def rows(self, _states):
            return iter(rows)

    def send(_self, _journal, numbers, _connection):
        sent.append(list(numbers))
        if len(sent) == 2:
            tracker.request_stop("SIGINT")  # Ctrl-C after the second task of the first chunk

    executor = CeleryExecutor("redis://127.0.0.1:9/0", chunk_size=5)
    monkeypatch.setattr(CeleryExecutor, "_send", send)
    monkeypatch.setattr(CeleryExecutor, "_follow", lambda self, journal, events: None)
    assert executor.charge(Job()) == 2
    assert sent == [["ST-0"], ["ST-1"]]  # a small pass: a task a row
    assert journal.queued == ["ST-0", "ST-1", "ST-2", "ST-3", "ST-4"]  # the chunk's rest stays queued
    assert journal.stopped == [False, True]  # the run's stop marked the batch stopped for the workers
