"""Hot reads compiled once: the ORM writes the SQL, and a process reuses it.

Django compiles a queryset to SQL on every evaluation, and for the API's hot
reads (one payment by its id, its refunds) that compilation cost about three
times the query itself (docs/bench/README.md). A PreparedQuery asks the ORM
once, per database alias, for the SQL of a queryset built with sentinel values
(placeholders of the right type), then runs that SQL with each call's values,
and turns rows into model instances through the same converters and
`Model.from_db` the ORM uses.

Only plain model querysets (no select_related, annotations or deferred
fields); each sentinel must appear in the compiled parameters exactly once,
which `_prepare` checks. Values are passed as the database takes them (an id,
not a model). payments/tests/test_prepared.py checks that the
instances equal the ORM's, field by field, on MariaDB.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet


class PreparedQuery:
    def __init__(self, build: Callable[..., QuerySet], **sentinels: Any):
        """build(**sentinels) gives the queryset; a sentinel is a value of the
        parameter's type that no real call uses (the ORM converts what it is
        given, so it must survive that: an int for an id, a str for a str)."""
        self._build = build
        self._sentinels = sentinels
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def _prepare(self, using: str) -> tuple:
        queryset = self._build(**self._sentinels)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        order = []
        for param in params:
            names = [name for name, sentinel in self._sentinels.items() if param == sentinel]
            order.append(names[0] if len(names) == 1 else ("constant", param))
        if sorted(name for name in order if isinstance(name, str)) != sorted(self._sentinels):
            raise ValueError(f"each sentinel must be a parameter exactly once: {order}")
        select, klass_info = compiler.select, compiler.klass_info
        if klass_info.get("related_klass_infos") or compiler.annotation_col_map:
            raise ValueError("only plain model querysets can be prepared")
        columns = [column for column, _, _ in select]
        connection = connections[using]
        converters = []
        for index, column in enumerate(columns):
            funcs = connection.ops.get_db_converters(column) + column.output_field.get_db_converters(
                connection
            )
            if funcs:
                converters.append((index, funcs, column))
        init_list = [column.target.attname for column in columns]
        return sql, order, converters, init_list, queryset.model

    def fetch(self, using: str = "default", **values: Any) -> list[Model]:
        compiled = self._compiled.get(using)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(using) or self._prepare(using)
                self._compiled[using] = compiled
        sql, order, converters, init_list, model = compiled
        params = [values[name] if isinstance(name, str) else name[1] for name in order]
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        objects = []
        for row in rows:
            if converters:
                row = list(row)
                for index, funcs, column in converters:
                    value = row[index]
                    for func in funcs:
                        value = func(value, column, connection)
                    row[index] = value
            objects.append(model.from_db(using, init_list, row))
        return objects
