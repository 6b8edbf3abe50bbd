"""The benchmark scenarios, one module per subject. Importing a module registers its scenarios.

Adding a scenario:

1. Write ``devtools/bench/scenarios/<subject>.py`` with a function ``(BenchContext) -> ScenarioResult``
   decorated with ``@scenario("sync-1k", "…", params={…}, quick={…})`` (stack the decorator to register
   ``sync-100k`` with other params). Time only the measured part with ``ctx.stopwatch()``; seed every
   random choice with ``ctx.seed``; count SuperOffice calls with ``client.calls`` or the simulator's
   ``control.counts()``, DynamoDB calls with ``devtools.bench.count_aws_calls()``, and give the lower
   bound so the ratio is meaningful.
2. Add the module's name to ``SCENARIO_MODULES`` below (the order here is the run order).

A planned name that no module registers yet goes in ``devtools.bench.registry.PLANNED``
(empty now: every scenario of the issue is registered). The modules that run the real handlers on the
local stack (``import_members``, ``sync``, ``gate``, ``freshness``) share ``_stack.py``.
"""

#: Scenario modules, imported in this order by ``devtools.bench.registry.load()``.
SCENARIO_MODULES: tuple[str, ...] = (
    "simulator",
    "client",
    "cold_import",
    "import_members",  # import-50k
    "sync",  # sync-1k, sync-100k
    "gate",  # gate-10k, gate-100k
    "freshness",  # freshness
)
