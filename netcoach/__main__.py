"""``python -m netcoach`` runs the CLI."""

import os
import sys

from netcoach.cli import main
from netcoach.distributed.setup import launched


def exit_status(exc: BaseException) -> int:
    """Print what the interpreter prints when ``exc`` ends the program and return the exit
    status it gives: ``SystemExit``'s code (its text printed and 1 when it is not a number),
    else the traceback and 1."""
    if isinstance(exc, SystemExit):
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    sys.excepthook(type(exc), exc, exc.__traceback__)
    return 1


if not launched():
    raise SystemExit(main())
# A worker of a launched job ends without the interpreter's finalization, after a failure
# too. A gloo worker thread may still be releasing the last collective's tensors, which
# takes the GIL; a thread taking the GIL during finalization is ended by pthread_exit,
# which unwinds through a noexcept destructor and aborts the process (a SIGABRT that
# replaces the exit status, now and then). Every file of the run is written and closed by
# now, and a failure is already in the launcher's error file (``recorded``); only its
# printout remains. KeyboardInterrupt is left to the interpreter, which ends the process
# with SIGINT rather than an exit status.
try:
    code = main()
except (Exception, SystemExit) as exc:
    code = exit_status(exc)
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
