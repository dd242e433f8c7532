"""Cases on MQTT for other systems: ``envgrid/v1/cases/{township_id}/{case_id}``.

Every change the live feed hears is published at QoS 1 under the case's township, and under
each township told of it (downstream of a river case), with the feed's JSON summary as the
payload. Like the live feed it is a notice, not a log: a change made while the API process
is down is not published afterwards (the API has the state of every case); each API process
publishes what it hears, so with several of them a notice may come more than once.
"""

from __future__ import annotations

import logging
from uuid import uuid4

import orjson

from envgrid_cloud.cases.feed import CaseFeed
from envgrid_common.mqtt import BrokerAddress, PublishRefused, check_publish, connect, new_client
from envgrid_common.topics import Topics

log = logging.getLogger("envgrid.cases.topic")


class CaseTopic:
    """Publishes what the live feed hears to the cases topics, until cancelled."""

    def __init__(self, mqtt_url: str, topics: Topics) -> None:
        self._address = BrokerAddress.parse(mqtt_url)
        self._topics = topics
        # Each API process its own client: a shared id would have them kick each other off.
        self._client = new_client(f"envgrid-cases-{uuid4().hex[:8]}", self._address)

    def start(self) -> CaseTopic:
        """Connect in the background (paho reconnects by itself)."""
        connect(self._client, self._address)
        self._client.loop_start()
        return self

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    async def run(self, feed: CaseFeed) -> None:
        """Publish each case change as it comes."""
        subscriber = feed.subscribe()
        try:
            while True:
                event, data = await subscriber.queue.get()
                if event == "case":
                    self.publish(data)
        finally:
            feed.unsubscribe(subscriber)

    def publish(self, data: str) -> None:
        """One case summary, to its township and to every township notified of it."""
        summary = orjson.loads(data)
        townships = [summary["township_id"], *summary.get("notified_townships", ())]
        for township in dict.fromkeys(townships):
            topic = self._topics.case(township, str(summary["id"]))
            try:
                check_publish(self._client.publish(topic, data.encode(), qos=1))
            except PublishRefused as error:
                log.warning("case %s not published on %s: %s", summary["id"], topic, error)
