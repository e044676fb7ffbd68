"""Container health probe: exit 0 when the URL answers 2xx within the timeout.

Sends ``Authorization: Bearer $MONITORING_METRICS_TOKEN`` when that variable
is set (the metrics exporters of the worker and stream consumer ask for it).
The image has no curl; this uses only the standard library (about 50 ms).
"""

import os
import sys
import urllib.request

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/health/live"
request = urllib.request.Request(url)  # noqa: S310 - a loopback address
token = os.environ.get("MONITORING_METRICS_TOKEN", "")
if token:
    request.add_header("Authorization", f"Bearer {token}")
try:
    with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
        sys.exit(0 if 200 <= response.status < 300 else 1)
except Exception as exc:
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
