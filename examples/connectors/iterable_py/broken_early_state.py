#!/usr/bin/env python3
"""DELIBERATELY BROKEN variant of destination.py, for destsim to reject.

Bug: it echoes each STATE as soon as it reads it, before flushing the records
buffered before it — so a state can claim records the API never accepted (a
crash or a failed flush right after loses them). Certification must fail it on
E2. Everything else is destination.py unchanged.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import destination  # noqa: E402


class EarlyState(destination.Destination):
    def on_state(self, state):
        self.echo_state(state)  # DELIBERATE BUG: echoed before the records before it are sent
        self.flush()


if __name__ == "__main__":
    sys.exit(destination.main(destination_class=EarlyState))
