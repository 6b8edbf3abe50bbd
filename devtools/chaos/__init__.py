"""`make chaos`: the fault-injection scenario on the local stack and the SuperOffice simulator.

`run_chaos(contacts=N, changes=M, seed=S)` builds an account with sync on and N linked contacts in step
with SuperOffice, then, with faults on (5xx, 429 with `Retry-After` from a rate limit, held requests
past the client's request timeout, one outage window), makes M consent changes on both sides
interleaved with runs (`Sync Requested` and the schedule) and `Contact Consent Changed` events. On
the way it duplicates reconcile messages (a copy with a new message id, and the same message
delivered again), sends poison messages on purpose, and half-way **kills the reconcile worker at each
crash point** in turn (`crash.POINTS`: after a SuperOffice PUT, after a contact's write, after the
decision log write, which is the same transaction, after `try_complete`, after publishing the
completion), lets the message come back and, where the completion is the sweep's to publish, fires
the schedule. Then the faults go off, runs go on until nothing is pending, and the checks run:

- every contact's `STORE` and `EMARKETING` are equal on both sides and equal to what `rules.decide`
  says about the last change made on each side;
- no withdrawal was revived (neither in the final states nor in any decision of the log);
- every change made is in the contact's decision log (or was equal to the other side already), and
  no decision is logged twice;
- every job has exactly one completion event (two only in the documented at-least-once window of a
  kill between `PutEvents` and `mark_announced`, named with the job id);
- the dead-letter queues hold exactly the poison messages sent on purpose, each with its reason;
- duplicated messages changed no job's counts;
- per crash point: killed at the point, redelivered and processed, no decision record lost or
  doubled, every owed push in SuperOffice once, one completion event, the chunk counted once, the
  chunk's contacts converged.

`world` sets up the stack, simulator, account and contacts, makes the changes and sees the completion
events, SuperOffice's PUTs and the jobs; `crash` holds the faults and the crash points; `child` is the
killed worker's script (run by path in its own process); `checks` the convergence checks; `report`
what was found and how it is printed (each failing contact's story); `scenario` runs it all;
`__main__` is `make chaos`. More in docs/architecture.md, "Fault injection".
"""

from devtools.chaos.checks import ECHO_CHECK, IN_FLIGHT_CHECK
from devtools.chaos.crash import POINTS, CrashPoint, CrashReport
from devtools.chaos.report import ChaosReport, print_report
from devtools.chaos.scenario import run_chaos
from devtools.chaos.world import Change

__all__ = [
    "ECHO_CHECK",
    "IN_FLIGHT_CHECK",
    "POINTS",
    "Change",
    "ChaosReport",
    "CrashPoint",
    "CrashReport",
    "print_report",
    "run_chaos",
]
