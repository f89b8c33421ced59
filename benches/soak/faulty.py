# Handler of the soak's fault and SIGTERM scenarios (benches/soak.rs): the event says what to do.
#   {"do": "crash"}               the worker process exits at once (os._exit(1))
#   {"do": "hang"}                sleeps far past any deadline
#   {"do": "sleep", "seconds": S} sleeps S seconds, then echoes the event
#   anything else                 echoes the event
import os
import time


def handler(event, context):
    what = event.get("do") if isinstance(event, dict) else None
    if what == "crash":
        os._exit(1)
    if what == "hang":
        time.sleep(600)
    if what == "sleep":
        time.sleep(event["seconds"])
    return event
