"""Credentials out of URLs before they are shown: one rule for every face.

An operator may configure a URL with credentials in it (`https://user:secret@host/v1`, or a
key in the query string, `...?api_key=...`). Wherever such a URL is displayed (the API, the
admin's read-only views, the model-call log, messages, log lines), it goes through
`mask_url`, or `mask_urls` for free text that may quote one (an SDK's error message).
Forms that edit the URL keep the real value: that is where operators change it.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Query parameters whose values are secrets, compared lower-case with "-" read as "_".
# A name counts when it is one of these or ends with "_" and one of them (x_api_key).
SECRET_PARAMS = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "authorization",
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "signature",
        "sig",
        "credential",
        "credentials",
        "session",
        "sessionid",
        "code",
    }
)
# Amazon and Google signed URLs name their signature parameters this way.
SECRET_PARAM_PREFIXES = ("x_amz_", "x_goog_")

# A URL with a scheme, up to the first character that cannot be part of it in prose.
_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>\"'`]+")


def is_secret_param(name: str) -> bool:
    name = name.lower().replace("-", "_")
    return (
        name in SECRET_PARAMS
        or any(name.endswith("_" + secret) for secret in SECRET_PARAMS)
        or name.startswith(SECRET_PARAM_PREFIXES)
    )


def mask_url(url: str) -> str:
    """The URL with its user information and secret-looking query values replaced by ***.

    `https://user:secret@host/v1?api_key=k&x=1` becomes `https://***@host/v1?api_key=***&x=1`.
    Anything that does not parse as a URL is returned unchanged when it has no `@`, and with
    everything before the last `@` masked when it has one: a malformed URL is shown, never its
    credentials.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return _mask_before_at(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_param(name) for name, _ in pairs):
            query = urlencode(
                [(name, MASK if is_secret_param(name) else value) for name, value in pairs],
                safe="*",
            )
    fragment = parts.fragment
    if fragment and "=" in fragment:  # OAuth implicit flow puts tokens here
        fragment = MASK
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def url_secrets(url: str) -> list[str]:
    """The secret parts of a URL as written: user, password and secret-looking query values.

    For scrubbing text that may quote them without the URL around them (a server echoing the
    request's path in its error). Parts shorter than 4 characters are left out: replacing
    them everywhere would garble the text more than it would protect.
    """
    try:
        parts = urlsplit(url)
        found = [parts.username or "", parts.password or ""]
    except ValueError:
        return []
    found += [
        value
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if is_secret_param(name)
    ]
    return sorted({part for part in found if len(part) >= 4}, key=lambda part: (-len(part), part))


def mask_urls(text: str) -> str:
    """Free text with every URL in it masked (mask_url): error messages, log lines."""
    if not text or "://" not in text:
        return text
    return _URL_RE.sub(lambda match: _mask_match(match.group(0)), text)


def _mask_match(url: str) -> str:
    # Prose punctuation right after a URL ("at http://host/v1.") is not part of it.
    stripped = url.rstrip(".,;:!?)]}")
    return mask_url(stripped) + url[len(stripped) :]


def _mask_before_at(url: str) -> str:
    if "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return f"{MASK}@{url.rpartition('@')[2]}"
    return f"{scheme}://{MASK}@{rest.rpartition('@')[2]}"


class MaskURLsFilter(logging.Filter):
    """Masks URL credentials in a logger's records: HTTP clients log every request's URL
    (`HTTP Request: POST http://user:secret@host/v1/...`) at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_urls(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
