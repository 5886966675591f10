"""The testing kit's harness runs an adapter through the real gateway and reports its outcome:
delivered with the accept event, retried then delivered, parked with the vendor's code."""

from __future__ import annotations

import pytest

from gateway.adapters import Adapter, ConfigError, NoOptions, PermanentDeliveryError, Receipt, Submission
from gateway.adapters.fake_vendor import FakeVendor
from gateway.store.attempts import AttemptOutcome
from gateway.testing.harness import AdapterHarness
from gateway.testing.sender import SampleSubmission


class RefusingAdapter(Adapter[NoOptions]):
    """Refuses everything with the vendor code E-417."""

    async def deliver(self, submission: Submission) -> Receipt:
        raise PermanentDeliveryError("Bauantrag unvollständig", code="E-417")


async def test_a_delivered_submission_has_its_accept_event_and_the_vendors_reference(
    xgw_harness: AdapterHarness, xgw_vendor: FakeVendor
) -> None:
    outcome = await xgw_harness.deliver("http", {"url": xgw_vendor.url})
    outcome.assert_delivered(retries=0)
    assert outcome.events == ("create-submission", "submit-submission", "accept-submission")
    assert outcome.attempts[0].reference == "DMS-00001"


async def test_a_vendor_failing_twice_is_retried_twice_then_delivered(
    xgw_harness: AdapterHarness, xgw_vendor: FakeVendor
) -> None:
    xgw_vendor.fail(503, times=2)
    outcome = await xgw_harness.deliver("http", {"url": xgw_vendor.url})
    outcome.assert_delivered(retries=2)
    assert [r.status for r in xgw_vendor.posts()] == [503, 503, 201]


async def test_a_hanging_vendor_times_out_into_a_retry(
    xgw_harness: AdapterHarness, xgw_vendor: FakeVendor
) -> None:
    xgw_vendor.hang(5)
    outcome = await xgw_harness.deliver("http", {"url": xgw_vendor.url}, retry={"timeout_seconds": 0.3})
    outcome.assert_delivered(retries=1)
    assert (outcome.attempts[0].outcome, outcome.attempts[0].error_class) == (
        AttemptOutcome.TRANSIENT,
        "TimeoutError",
    )


async def test_a_refused_submission_is_parked_with_the_vendors_code_without_retry(
    xgw_harness: AdapterHarness,
) -> None:
    outcome = await xgw_harness.deliver(RefusingAdapter, name="refusing")
    outcome.assert_parked(code="E-417")
    assert outcome.retries == 0 and outcome.attempts[0].adapter == "refusing"
    assert "accept-submission" not in outcome.events
    with pytest.raises(AssertionError, match=r"not delivered: submission .* parked; .*#1 permanent"):
        outcome.assert_delivered()


async def test_several_submissions_through_one_running_gateway(
    xgw_harness: AdapterHarness, xgw_vendor: FakeVendor, xgw_submission: SampleSubmission
) -> None:
    async with xgw_harness.running("http", {"url": xgw_vendor.url}) as gateway:
        first, second = await gateway.submit(xgw_submission), await gateway.submit()
        for sent in (first, second):
            (await gateway.outcome(sent)).assert_delivered()
    assert len(xgw_vendor.effects) == 2


async def test_bad_options_fail_at_start_with_their_key_path(xgw_harness: AdapterHarness) -> None:
    with pytest.raises(ConfigError, match=r"adapter\.nope: Extra inputs are not permitted"):
        await xgw_harness.deliver("http", {"url": "http://127.0.0.1:9/", "nope": 1})
