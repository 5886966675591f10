"""The demo adapters: one that succeeds, one that rejects, one that crashes."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.demo import DemoCrashAdapter, DemoOkAdapter, DemoRejectAdapter
from gateway.adapters import Adapter, PermanentDeliveryError, Submission
from gateway.adapters.host import AdapterRegistry
from gateway.adapters.testing import AdapterContractTests, make_submission
from gateway.errors import PermanentError, TransientError


class TestDemoOkContract(AdapterContractTests):
    survives_restart = False  # it remembers deliveries in memory only

    @pytest.fixture
    def adapter(self, registry: AdapterRegistry) -> Adapter[Any]:
        return registry.create("demo-ok", {})

    async def count_effects(self, adapter: Adapter[Any], submission: Submission) -> int:
        assert isinstance(adapter, DemoOkAdapter)
        return int(submission.submission_id in adapter.delivered)


async def test_demo_ok_reference_is_demo_and_the_short_id(registry: AdapterRegistry) -> None:
    submission = make_submission(submission_id="f39ab143-d91a-474a-b69f-b00f1a1873c2")
    receipt = await registry.create("demo-ok").deliver(submission)
    assert receipt.reference == "demo-f39ab143"


async def test_demo_reject_always_rejects_permanently(registry: AdapterRegistry) -> None:
    adapter = registry.create("demo-reject", {"detail": "Bauamt nimmt nichts an"})
    with pytest.raises(PermanentDeliveryError, match="Bauamt nimmt nichts an") as caught:
        await adapter.deliver(make_submission())
    assert isinstance(caught.value, PermanentError) and not isinstance(caught.value, TransientError)
    assert caught.value.code == "demo-rejected"


async def test_demo_crash_raises_a_bare_runtime_error(registry: AdapterRegistry) -> None:
    adapter = registry.create("demo-crash")
    with pytest.raises(RuntimeError, match="demo-crash crashed") as caught:
        await adapter.deliver(make_submission())
    assert type(caught.value) is RuntimeError


@pytest.mark.parametrize("adapter_class", [DemoOkAdapter, DemoRejectAdapter, DemoCrashAdapter])
async def test_demo_adapters_pass_check(adapter_class: type[Adapter[Any]]) -> None:
    await adapter_class.from_config({}).check()
