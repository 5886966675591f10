"""Parked deliver messages in ``<ns>.parked.deliver.<destination>`` go stale once their submission
is replayed or rejected; the workers' drain removes those copies (and extra copies of one
message) and gives the others back, so the queue holds one message per parked submission. On the
in-process broker and on RabbitMQ."""

from __future__ import annotations

from gateway.app import parked_service
from gateway.broker import MemoryBroker
from gateway.operations.parked import Operator
from gateway.store.parked import ParkedFilter
from tests.conftest import ACTIVE
from tests.eventually import eventually
from tests.helpers import bearer, gateway_of, token
from tests.integration.delivery.conftest import AMQP_URL
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_binding_policy import settled
from tests.integration.pipeline.test_pipeline import send
from tests.unit.adapters.vendor_server import Answer


async def test_the_drain_leaves_one_copy_per_parked_submission(pipeline: PipelineGateway) -> None:
    api, _, vendor = await pipeline.start()
    vendor.script(*[Answer(422, body=b"E-4711")] * 3)
    auth = bearer(await token(api))
    refs = [(await send(api, auth, HTTP_LEIKA))[0] for _ in range(3)]
    for ref in refs:
        await settled(api, ref["submissionId"], "parked")
    gateway = gateway_of(api)
    assert gateway.broker is not None and gateway.parked_copies is not None
    topology = gateway.broker.topology
    queue = topology.parked_queue(topology.deliver_queue(ACTIVE))

    async def depth() -> int:
        if isinstance(gateway.broker, MemoryBroker):
            return gateway.broker.depth(queue)
        from gateway.broker.amqp.stats import queue_stats

        (stats,) = await queue_stats(AMQP_URL, [queue])
        return stats.messages or 0

    async def depth_is(expected: int) -> bool:
        return await depth() == expected

    await eventually(lambda: depth_is(3), within=10, what="three parked copies")
    assert await gateway.parked_copies.run_once() == {queue: 0}  # all still parked: nothing removed
    assert await depth() == 3

    service, operator = parked_service(gateway), Operator("tester")
    replayed = await service.replay(operator, ParkedFilter(submission_id=refs[0]["submissionId"]), "fixed")
    assert [r.outcome for r in replayed] == ["replayed"]
    await settled(api, refs[0]["submissionId"], "delivered")
    await service.reject(operator, refs[1]["submissionId"], "refused")
    assert await depth() == 3  # the copies of the replayed and the rejected one are stale now

    removed = await gateway.parked_copies.run_once()
    assert removed[queue] == 2
    await eventually(lambda: depth_is(1), within=10, what="one copy left")
    assert [p.submission_id for p in await service.find(operator, ParkedFilter(destination_id=ACTIVE))] == [
        refs[2]["submissionId"]
    ]
    assert (await gateway.parked_copies.run_once())[queue] == 0  # the kept copy was given back
    assert await depth() == 1
