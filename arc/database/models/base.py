"""Declarative base shared by every model.

The naming convention gives every constraint the name PostgreSQL itself would choose
(`<table>_pkey`, `<table>_<cols>_fkey`, `<table>_<cols>_key`) and CHECK constraints the
form `<table>_<rule>_check`, so migrations can drop them and error messages can name the rule.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import REAL, DateTime, Integer, MetaData, Text
from sqlalchemy.dialects.postgresql import ARRAY, INTERVAL, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase

EMBEDDING_DIMENSIONS = 1536

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        uuid.UUID: UUID(as_uuid=True),
        str: Text(),
        int: Integer(),
        float: REAL(),
        datetime: DateTime(timezone=True),
        timedelta: INTERVAL(),
        dict[str, Any]: JSONB(),
        list[Any]: JSONB(),
        list[str]: ARRAY(Text()),
    }
