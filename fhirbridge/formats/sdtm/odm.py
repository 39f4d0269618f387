"""What Define-XML, Dataset-XML and Dataset-JSON share: namespaces, object identifiers, the creation time
(which XPT headers carry too)."""

from __future__ import annotations

import datetime as dt
import os

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
DATA_NS = "http://www.cdisc.org/ns/Dataset-XML/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
METADATA_VERSION = "MDV.FHIRBRIDGE.1"


def study_oid(study_id: str) -> str:
    return f"STUDY.{study_id}"


def item_group_oid(dataset: str) -> str:
    return f"IG.{dataset}"


def item_oid(dataset: str, variable: str) -> str:
    return f"IT.{dataset}.{variable}"


def creation_moment() -> dt.datetime:
    """The time written into ODM, Dataset-JSON and XPT headers.

    ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) fixes it, so that the same input gives
    byte-identical files; otherwise it is now, in UTC.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch and epoch.isdigit() else dt.datetime.now(dt.UTC)


def creation_time() -> str:
    """The creation time as ODM and Dataset-JSON write it."""
    return creation_moment().strftime("%Y-%m-%dT%H:%M:%S")
