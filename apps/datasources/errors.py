"""How a failed query is told: to the user who ran it, and to the operators.

Two kinds of failure, told differently:
- what the user's SQL caused (a syntax error, no such column, division by zero, a
  timeout, a refused write): the database's own words help the user fix the SQL, so
  they are shown as they are, once scrubbed of anything that looks like a connection
  string or the source's password;
- what the operator's set-up caused (connection refused, authentication failed, no such
  database, SSL, a privileged role refused, a missing file): the driver's text names the
  host, port and role, which are none of the user's business. The user gets plain words
  and a short reference; the driver's text (`detail`) is logged with that reference and
  kept for staff (the admin's run log, staff on the artifact page and API).
"""

from __future__ import annotations

import logging
import re
import secrets
from urllib.parse import urlsplit

from django.utils.translation import gettext

logger = logging.getLogger(__name__)


class Outcome:
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    REJECTED = "rejected"


class QueryFailed(Exception):
    """The query did not run to the end; `outcome` is rejected, error or timeout.

    `message` is safe to show anyone. `detail` is for operators only: the driver's own
    text for a failure of the set-up (empty when the message says everything), with the
    `reference` the message gives the user.
    """

    def __init__(self, outcome: str, message: str, *, detail: str = "", reference: str = ""):
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.detail = detail
        self.reference = reference

    def message_for(self, user) -> str:
        """The message, with the operator detail appended for staff."""
        return with_detail(self.message, self.detail, user)


def with_detail(message: str, detail: str, user) -> str:
    """`message` for anyone; for staff, followed by the operator detail when there is one."""
    if detail and getattr(user, "is_staff", False):
        return f"{message} Operator detail: {detail}"
    return message


def new_reference() -> str:
    """Six hex digits: short enough to read out, enough to find one line in the logs."""
    return secrets.token_hex(3).upper()


def setup_failure(source_name: str, detail: str, *, safe: bool = True) -> QueryFailed:
    """A failure of the operator's set-up: plain words and a reference for the user; the
    detail (already masked of passwords) is logged at ERROR with the reference."""
    reference = new_reference()
    logger.error("Data source %r failed (reference %s): %s", source_name, reference, detail)
    values = {"source": repr(source_name), "reference": reference}
    if safe:
        message = gettext(
            "The data source %(source)s is not reachable right now. Reference: %(reference)s. "
            "Ask an operator if this keeps happening."
        )
    else:
        message = gettext(
            "The data source %(source)s is not set up safely for queries, so it does not run "
            "them. Reference: %(reference)s. Ask an operator if this keeps happening."
        )
    return QueryFailed(
        Outcome.ERROR,
        message % values,
        detail=f"Reference {reference}: {detail}",
        reference=reference,
    )


# scheme://user:password@host, or scheme://user@host: the credentials part is masked.
URL_CREDENTIALS_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s/@'\"]+@", re.IGNORECASE)
# libpq keyword strings: password=secret, password='se cret'.
PASSWORD_KEYWORD_RE = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def mask_secrets(text: str, location: str = "") -> str:
    """`text` with credentials in URLs and keyword strings masked, and with the password
    of `location` (a data source's URL) replaced wherever it appears."""
    password = urlsplit(location).password if "://" in location else None
    if password:
        text = text.replace(password, "***")
    text = URL_CREDENTIALS_RE.sub(r"\1***@", text)
    return PASSWORD_KEYWORD_RE.sub(r"\1***", text)


def looks_like_setup(text: str, location: str) -> bool:
    """Whether an error text names where the source lives: its host, or its URL."""
    if not location:
        return False
    if location in text:
        return True
    parts = urlsplit(location) if "://" in location else None
    host = parts.hostname if parts else None
    return bool(host) and f'"{host}"' in text
