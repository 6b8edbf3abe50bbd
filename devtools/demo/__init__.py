"""`make run` (`consent-sync demo`): the local stack and the SuperOffice simulator, a scripted story, a summary.

1. start the simulator (a seeded CRM of 3,000 persons) and the local stack from template.yaml;
2. configure the account (credentials into Secrets Manager, settings through the bus, baseline run);
3. import a selection (only e-marketing consented) and a project (all members);
4. change consents on both sides: a SuperOffice user withdraws person A, contact B unsubscribes on
   the platform, and contact C is edited on both sides 2 s apart (within the 5 s skew window);
5. fire the 30-minute schedule and follow its run;
6. check the newsletter at Checklist (e-mail), an SMS reminder at Checklist, and send the scheduled
   partner-event invitation (the Sending stage);
7. print the summary.

`story` holds the steps and the check each makes of its outcome (the demo exits 1 naming what
failed), `summary` the tables printed at the end, `run` the starting and stopping around them.
"""

from devtools.demo.run import run_demo
from devtools.demo.summary import SECTIONS

__all__ = ["SECTIONS", "run_demo"]
