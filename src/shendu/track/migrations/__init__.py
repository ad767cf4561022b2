"""Alembic revisions of the run database (`runs`, `metrics`, `artifacts`); applied by `shendu.track._migrate`.

A package (not a bare folder) so that a wheel ships it. After changing `_schema.py`, write the next revision:

    cd src/shendu/track/migrations
    alembic -x url=sqlite:////tmp/scratch.db upgrade head
    alembic -x url=sqlite:////tmp/scratch.db revision --autogenerate -m "what changed"
    # review it, write values out (no imports from _schema), then bump HEAD in _migrate.py
"""
