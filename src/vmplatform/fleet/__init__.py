"""The fleet: every host's report in one store, and the questions asked of it.

Layers, each in its own module (only :mod:`.profile` and :mod:`.questions`
are free of the ``fleet`` extra; the rest import SQLAlchemy, Starlette, ...
lazily, so ``import vmplatform`` never pays for them)::

    profile    a host's equivalence class: its feature statuses (pure)
    schema     the tables (SQLAlchemy Core); migrations/ holds Alembic's history
    store      the inventory: SQLite file or PostgreSQL URL, same code
    ingest     reading reports and manifests from files, directories, stdin
    questions  platforms, place, admit, domains, merge, history, plan, upgrade-impact
    server     the HTTP endpoint hosts POST their reports to (Starlette)
    client     ``fleet report --to URL``: probe and post
    synth      synthetic fleets seeded from real reports
    export_*   node labels, Placement traits, Nova provider config, the HTML report

Every question is answered per equivalence class (hosts whose reports give
the same status for every feature answer every question the same way), by
the same functions ``check`` and ``query-platforms`` use on one host.
"""
