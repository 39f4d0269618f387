"""Log records without patient data: an exception's message (which may quote SQL parameters, identifiers or
values of a request) is never written, only its type, where it was raised and the request id."""

from __future__ import annotations

import logging
import traceback


class NoExceptionText(logging.Filter):
    """Replace the exception of a record (a traceback uvicorn or a library logs) by its type and frames."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = "".join(traceback.format_tb(exc.__traceback__))
            record.msg = f"{record.getMessage()} [{type(exc).__name__}; message withheld]\n{frames}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
