"""The one exception type a user ever sees from the CLI."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: the message is one line naming the problem and the fix.

    The CLI prints it without a traceback and exits with code 2. Nothing that is
    already stored is touched before such an error is raised.
    """


class StudyWarning(UserWarning):
    """Something the user should know about a stored study that does not stop the command.

    The CLI prints it as one line, ``paretomoo: warning: ...``.
    """
