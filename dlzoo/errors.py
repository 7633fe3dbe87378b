"""The one exception type dlzoo raises for a user's mistake: the command-line tools print its
message alone, without a traceback, and exit with status 2."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class DlzooError(Exception):
    """A bad config, missing data, unreadable checkpoint or diverged run, explained for the user."""


@contextmanager
def exit_on_error(program: str) -> Iterator[None]:
    """For a command-line tool's body: a DlzooError ends the program with ``<program>: error: <message>``
    on stderr and exit status 2."""
    try:
        yield
    except DlzooError as err:
        print(f"{program}: error: {err}", file=sys.stderr)
        sys.exit(2)


# What the data modules' errors say when a dataset is not on the machine (course files, torchvision
# sets, a user's folder): how the smoke tests and scripts/gpu_check.py tell "absent" from "broken".
MISSING_DATA = ("data file not found", "not found under", "image folder not found", "needs a value for 'root'")


def is_missing_data(err: Exception) -> bool:
    """Whether ``err`` is a DlzooError saying that a dataset is absent."""
    return isinstance(err, DlzooError) and any(text in str(err) for text in MISSING_DATA)
