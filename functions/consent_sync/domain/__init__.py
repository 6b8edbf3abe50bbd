"""Pure domain code: consent states and rules, contacts, linking, verdicts, settings, jobs. No I/O."""
