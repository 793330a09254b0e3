"""GatewaySession: the environment (proxies, CA bundle) read once per host; .netrc never read."""

import pytest
import requests
import responses

from autopay_soap.errors import ValidationError
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.http import USER_AGENT, GatewaySession, Timeouts, make_session


def test_environment_proxies_apply_and_are_read_once_per_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.test:3128")
    monkeypatch.setenv("NO_PROXY", "direct.test")
    reads = []
    real = requests.utils.get_environ_proxies
    monkeypatch.setattr(requests.utils, "get_environ_proxies", lambda url, no_proxy=None: reads.append(url) or
                        real(url, no_proxy))
    session = make_session()
    for _ in range(5):
        settings = session.merge_environment_settings("https://gw.test/payment/rest/register.do", {}, None, None,
                                                      None)
        assert settings["proxies"]["https"] == "http://proxy.corp.test:3128"
    assert len(reads) == 1  # one walk over the environment for this host, not one per request
    direct = session.merge_environment_settings("https://direct.test/x", {}, None, None, None)
    assert "https" not in direct["proxies"]  # NO_PROXY is honoured
    assert len(reads) == 2


def test_same_settings_as_plain_requests(monkeypatch):
    """Only when the environment is read changes: every merge gives what plain requests gives."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.test:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp.test:3129")
    monkeypatch.setenv("NO_PROXY", "direct.test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    for session_proxies in ({}, {"https": "http://mine.test:8080"}):
        for url in ("https://gw.test/x", "http://gw.test/x", "https://direct.test/x"):
            for given in (None, {}, {"http": "http://given.test:1"}, {"no_proxy": "gw.test"}):
                for verify in (None, True, "/etc/gw-ca.pem"):
                    ours, plain = make_session(), requests.Session()
                    ours.proxies = dict(session_proxies)
                    plain.proxies = dict(session_proxies)
                    # requests.Session.request passes ``proxies or {}``: the reference is called that way,
                    # ours also with None (which requests 2.32 cannot take and 2.33+ takes as "no env")
                    reference = plain.merge_environment_settings(url, dict(given or {}), None, verify, None)
                    mine = ours.merge_environment_settings(url, None if given is None else dict(given), None,
                                                           verify, None)
                    assert mine == reference, (url, given, verify)


def test_ca_bundle_variable_replaces_verify_true_but_a_given_bundle_stays(monkeypatch, tmp_path):
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    default = make_session()
    assert default.merge_environment_settings("https://gw.test/x", {}, None, None, None)["verify"] == str(bundle)
    explicit = make_session()
    assert explicit.merge_environment_settings("https://gw.test/x", {}, None, "/etc/gw-ca.pem", None)["verify"] \
        == "/etc/gw-ca.pem"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert make_session().merge_environment_settings("https://gw.test/x", {}, None, None, None)["verify"] is True


def test_netrc_is_never_read(monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine gw.test login someone password elsewhere\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, "https://gw.test/payment/rest/register.do", json={"errorCode": "0"})
        make_session().post("https://gw.test/payment/rest/register.do", data={"a": "1"}, timeout=5)
        sent = rs.calls[0].request
    assert "Authorization" not in sent.headers
    assert sent.headers["User-Agent"] == USER_AGENT
    # plain requests would have sent the .netrc login: the test is not vacuous
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, "https://gw.test/payment/rest/register.do", json={"errorCode": "0"})
        requests.Session().post("https://gw.test/payment/rest/register.do", data={"a": "1"}, timeout=5)
        assert "Authorization" in rs.calls[0].request.headers


def test_make_session_verifies_tls_by_default():
    session = make_session()
    assert isinstance(session, GatewaySession)
    assert session.verify is True
    assert make_session("/etc/gw-ca.pem").verify == "/etc/gw-ca.pem"


def test_the_call_context_is_one_value_each_scope_replaces_and_restores():
    import threading

    from autopay_soap.http import (
        CallContext,
        GatewayCall,
        current_context,
        deadline_scope,
        gateway_call,
        read_only,
        request_sent,
        stop_requested,
        stop_scope,
        was_sent,
    )

    outside = current_context()
    assert outside == CallContext() and not stop_requested() and not was_sent()
    stop, seen_elsewhere = threading.Event(), []
    with deadline_scope(60), stop_scope(stop):
        stop.set()
        inner = current_context()
        assert inner.stop is stop and inner.deadline is not None and stop_requested()
        with deadline_scope(3600):  # an inner scope never extends the outer one
            assert current_context().deadline == inner.deadline
        with read_only():  # look-ups go on after a stop
            assert not stop_requested() and current_context().read_only
        assert stop_requested()
        other = threading.Thread(target=lambda: seen_elsewhere.append((current_context(), stop_requested())))
        other.start()
        other.join()
        call = GatewayCall()
        with gateway_call(call):
            assert not was_sent()
            request_sent()
            assert was_sent() and call.sent
        assert not was_sent()  # the call's flag is the call's, not the thread's
    assert seen_elsewhere == [(CallContext(), False)]  # another thread runs in a context of its own
    assert current_context() == outside
    with pytest.raises(KeyError), gateway_call(GatewayCall()):  # left by an exception: restored too
        with read_only():
            assert current_context().call is not None and current_context().read_only
            raise KeyError("a reply that could not be read")
    assert current_context() is outside
    with deadline_scope(60), stop_scope(stop), read_only(), gateway_call(call):  # a scope keeps the others
        every = current_context()
        assert every.deadline is not None and every.stop is stop and every.read_only and every.call is call


def test_asyncio_tasks_each_run_in_a_copy_of_the_call_context_they_were_started_in():
    """A task sees the scopes it was started in; a scope one task enters is not another's, though
    both run on one thread (a thread-local would leak the look-up's read-only into the charge)."""
    import asyncio

    from autopay_soap.http import current_context, deadline_scope, read_only

    async def look_up(entered, seen):
        with read_only():
            entered.set()
            await seen.wait()
            return current_context()

    async def charge(entered, seen):
        await entered.wait()  # the look-up is inside its read-only scope now
        context = current_context()
        seen.set()
        return context

    async def scenario():
        entered, seen = asyncio.Event(), asyncio.Event()
        with deadline_scope(60):
            started = current_context()
            looked, charged = await asyncio.gather(look_up(entered, seen), charge(entered, seen))
        return started, looked, charged, current_context()

    started, looked, charged, after = asyncio.run(scenario())
    assert looked.read_only and looked.deadline == started.deadline is not None
    assert charged == started and not charged.read_only
    assert after == current_context() and after.deadline is None


@pytest.mark.parametrize("binding", [RbsSoapGateway, RbsRestGateway])
def test_both_rbs_bindings_take_the_same_connection_keywords_checked_once(binding):
    """The connection keywords (:class:`Connection`) are written once and both bindings apply them
    alike; a misspelt one is a TypeError, a missing login a ValidationError naming the field."""
    url = "https://gw.test/payment/webservices/merchant-ws"
    session = make_session()
    gateway = binding(url, "api-user", "pw", timeouts=Timeouts(connect=2, read=7), session=session,
                      default_currency="EUR", max_reply_bytes=4096)
    assert (gateway.timeouts.read, gateway.session, gateway.default_currency.alpha, gateway.max_reply_bytes) == (
        7, session, "EUR", 4096)
    assert "pw" not in repr(gateway) and gateway.username == "api-user"
    with pytest.raises(TypeError):
        binding(url, "api-user", "pw", timeout=5)
    for username, password, field in (("", "pw", "username"), ("api-user", "", "password")):
        with pytest.raises(ValidationError) as refused:
            binding(url, username, password)
        assert refused.value.field == field
    with pytest.raises(ValidationError) as refused:
        binding(url, "api-user", "pw", default_currency="XXQ")
    assert refused.value.field == "default_currency"
