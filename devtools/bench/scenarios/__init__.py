"""The benchmark scenarios, one module per subject. Importing a module registers its scenarios.

Adding a scenario (e.g. ``sync-1k`` once the scheduled sync exists):

1. Write ``devtools/bench/scenarios/<subject>.py`` with a function ``(BenchContext) -> ScenarioResult``
   decorated with ``@scenario("sync-1k", "…", params={…}, quick={…})`` (stack the decorator to register
   ``sync-100k`` with other params). Time only the measured part with ``ctx.stopwatch()``; seed every
   random choice with ``ctx.seed``; count SuperOffice calls with ``client.calls`` or the simulator's
   ``control.counts()``, DynamoDB calls with ``devtools.bench.count_aws_calls()``, and give the lower
   bound so the ratio is meaningful.
2. Add the module's name to ``SCENARIO_MODULES`` below (the order here is the run order).

The names issue #7 reserves (``import-50k``, ``sync-1k``, ``sync-100k``, ``gate-10k``, ``gate-100k``)
are in ``devtools.bench.registry.PLANNED`` until a module registers them.
"""

#: Scenario modules, imported in this order by ``devtools.bench.registry.load()``.
SCENARIO_MODULES: tuple[str, ...] = (
    "simulator",
    "client",
    "cold_import",
    # "import_members",  # import-50k (issue #4)
    # "sync",            # sync-1k, sync-100k (issue #5)
    # "gate",            # gate-10k, gate-100k
)
