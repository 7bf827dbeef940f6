#!/usr/bin/env python3
"""DELIBERATELY BROKEN variant of destination.py, for destsim to reject.

Bug: on HTTP 429 it retries at once — it ignores Retry-After (and any backoff
for 429). Certification must fail it on I1 (Retry-After holds every request).
Everything else is destination.py unchanged.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import destination  # noqa: E402


class IgnoresRetryAfter(destination.Destination):
    def rate_limit_delay(self, retry_after, rate_limited):
        return 0.0  # DELIBERATE BUG: no wait after a 429, whatever Retry-After says


if __name__ == "__main__":
    sys.exit(destination.main(destination_class=IgnoresRetryAfter))
