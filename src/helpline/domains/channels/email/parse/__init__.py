"""Raw MIME bytes → :class:`ParsedMail`, with the standard library's ``email`` package.

Real mail is often broken: wrong or missing charsets, undecodable RFC 2047 words, RFC 2231 filenames,
raw 8-bit header text. Every read here falls back instead of raising; what cannot be read at all, or
breaks a limit, raises :class:`Rejected` with a reason a person can act on.

The message is parsed with the ``compat32`` policy, which keeps header values as the raw strings the
message carried; this module decodes them itself (raw 8-bit text, RFC 2047 words, display names after
the address list is split). The modern policy parses every header into objects on each read, which
cost about three quarters of the parsing time, for nothing we use.

Text whose bytes do not fit its label (UTF-8 or Windows-1252 under ``us-ascii`` or no label, bytes
invalid in an encoded word's charset) is read as UTF-8 when it is UTF-8, else in the charset
``charset_normalizer`` finds (``_headers.decode_bytes``); a label the bytes fit is always kept.

- ``_model``: ``ParsedMail``, ``Part``, ``Limits``, ``Rejected``
- ``_message``: ``parse``
- ``_headers``: header text and charsets (``header_text``, ``message_ids``)
- ``_parts``: the MIME parts, the bodies and the files
- ``_dsn``: delivery status notifications
"""

from helpline.domains.channels.email.parse._headers import header_text, message_ids
from helpline.domains.channels.email.parse._message import parse
from helpline.domains.channels.email.parse._model import Limits, ParsedMail, Part, Rejected

__all__ = ["Limits", "ParsedMail", "Part", "Rejected", "header_text", "message_ids", "parse"]
