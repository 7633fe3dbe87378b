"""The one exception type dlzoo raises for a user's mistake: the command-line tools print its
message alone, without a traceback, and exit with status 2."""


class DlzooError(Exception):
    """A bad config, missing data, unreadable checkpoint or diverged run, explained for the user."""
