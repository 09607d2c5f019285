"""``python -m netcoach`` runs the CLI."""

import os
import sys

from netcoach.cli import main
from netcoach.distributed.setup import launched

code = main()
if launched():
    # A worker of a launched job ends without the interpreter's finalization. A gloo worker
    # thread may still be releasing the last collective's tensors, which takes the GIL; a
    # thread taking the GIL during finalization is ended by pthread_exit, which unwinds
    # through a noexcept destructor and aborts the process (a SIGABRT after a successful
    # run, now and then). Every file of the run is written and closed by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
