"""`make chaos`: the fault-injection scenario on the local stack and the SuperOffice simulator.

`run_chaos(contacts=N, changes=M, seed=S)` builds an account with sync on and N linked contacts in step
with SuperOffice, then, with faults on (5xx, 429 with `Retry-After` from a rate limit, held requests
past the client's request timeout, one outage window), makes M consent changes on both sides
interleaved with runs (`Sync Requested` and the schedule) and `Contact Consent Changed` events. On
the way it duplicates reconcile messages (a copy with a new message id, and the same message
delivered again), sends poison messages on purpose, and **kills the reconcile worker mid-chunk**
once. Then the faults go off, runs go on until nothing is pending, and the checks run:

- every contact's `STORE` and `EMARKETING` are equal on both sides and equal to what `rules.decide`
  says about the last change made on each side;
- no withdrawal was revived (neither in the final states nor in any decision of the log);
- every change made is in the contact's decision log (or was equal to the other side already);
- the dead-letter queues hold exactly the poison messages sent on purpose, each with its reason;
- duplicated messages changed no job's counts.

`world` sets up the stack, simulator, account and contacts and makes the changes; `crash` holds the
faults and the killed worker; `checks` the convergence checks; `report` what was found and how it is
printed (each failing contact's story); `scenario` runs it all; `__main__` is `make chaos`. More in
docs/architecture.md, "Fault injection".
"""

from devtools.chaos.checks import ECHO_CHECK, IN_FLIGHT_CHECK
from devtools.chaos.crash import CrashReport
from devtools.chaos.report import ChaosReport, print_report
from devtools.chaos.scenario import run_chaos
from devtools.chaos.world import Change

__all__ = [
    "ECHO_CHECK",
    "IN_FLIGHT_CHECK",
    "Change",
    "ChaosReport",
    "CrashReport",
    "print_report",
    "run_chaos",
]
