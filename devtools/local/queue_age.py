"""`ApproximateAgeOfOldestMessage` for the local stack's queues, which moto does not publish.

On AWS, SQS reports a queue's oldest message age only as a CloudWatch metric (``AWS/SQS``, dimension
``QueueName``), never as a queue attribute. Moto publishes no SQS metrics, so the runtime, which
runs in the same process as the moto server, samples each queue of the template: the age of its oldest
message not yet deleted (visible, in flight or delayed), from the messages' ``SentTimestamp``, put
as that metric into moto's CloudWatch. `consent-sync status` then reads it as it does on AWS.

The approximation: a sample every few seconds (``up`` takes one every
:data:`SAMPLE_PERIOD_S`), where AWS publishes one a minute; and in-flight messages count, where AWS
leaves out a message received three times or more.
"""

from __future__ import annotations

import time
from typing import Any

from moto.backends import get_backend

from devtools.local.template import Template

METRIC_NAMESPACE = "AWS/SQS"
METRIC_NAME = "ApproximateAgeOfOldestMessage"
SAMPLE_PERIOD_S = 5.0


def oldest_ages(template: Template, *, now_ms: int | None = None) -> dict[str, float]:
    """Queue name → seconds its oldest message has waited (0 when empty), for the template's queues."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    backend = get_backend("sqs")[template.account_id][template.region]
    ages: dict[str, float] = {}
    for logical_id in template.resources:
        if template.resource_type(logical_id) != "AWS::SQS::Queue":
            continue
        name = template.physical_name(logical_id)
        queue = backend.queues.get(name)
        if queue is None:
            continue
        sent = [
            int(str(message.sent_timestamp)) for message in list(queue._messages) if message.sent_timestamp
        ]
        ages[name] = max(0.0, (now_ms - min(sent)) / 1000) if sent else 0.0
    return ages


def publish_oldest_ages(template: Template, cloudwatch: Any) -> dict[str, float]:
    """Sample :func:`oldest_ages` and put each as the ``AWS/SQS`` metric; returns the sample."""
    ages = oldest_ages(template)
    data = [
        {
            "MetricName": METRIC_NAME,
            "Dimensions": [{"Name": "QueueName", "Value": name}],
            "Value": age,
            "Unit": "Seconds",
        }
        for name, age in ages.items()
    ]
    for start in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=data[start : start + 20])
    return ages
